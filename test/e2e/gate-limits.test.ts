import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, testConfigInput, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * A key's limits on every class that names a model or an endpoint: `keys[].endpoints`,
 * `keys[].models`, `max_tier`; the classes that are off by default; unknown paths. Each refusal
 * is an OpenAI-format error that reaches nobody and moves no budget.
 */

const prefix = uniquePrefix();
const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
let upstream: FakeUpstream;
let proxy: TestProxy;
let input: Record<string, any>;

beforeAll(async () => {
  upstream = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json" }));
  input = testConfigInput(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [
      { id: "embedder", key: "sk-key-embedder", endpoints: ["embeddings", "files"] },
      { id: "mini", key: "sk-key-mini", models: ["gpt-4o-mini", "gpt-image-mini"] },
      { id: "cheap", key: "sk-key-cheap", max_tier: "economy" },
    ],
    budgets: { global: { daily: 100 } },
  });
  input.models["text-embedding-3-small"] = { upstream: "openai", tier: "economy", kind: "embedding", price: { input: 0.02, output: 0 } };
  input.models["gpt-image-mini"] = { upstream: "openai", tier: "economy", price: { input: 2, output: 8, per_image: 0.01 } };
  input.models["gpt-image-1"] = { upstream: "openai", tier: "standard", price: { input: 5, output: 40, per_image: 0.04 } };
  proxy = await startTestProxy(testConfig(upstream.baseUrl, input), { clock });
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

const client = (key: string, url = proxy.url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });

async function globalSpent(p: TestProxy = proxy): Promise<number> {
  const { config, store, windows } = p.services;
  const [global] = await store.spent(countersFor(scopesFor(config.budgets, null, null), windows.at(clock.now())).map((c) => c.id));
  return global!;
}

/** Expects `call` to fail with `status` and `code`, with nothing sent upstream and no budget moved. */
async function refused(call: () => Promise<unknown>, status: number, code: string): Promise<void> {
  const asked = upstream.requests.length;
  const before = await globalSpent();
  await expect(call()).rejects.toMatchObject({ status, code, error: { code, message: expect.any(String), type: "invalid_request_error" } });
  expect(upstream.requests.length).toBe(asked);
  expect(await globalSpent()).toBe(before);
}

describe("a key's endpoint classes", () => {
  it("lets a key call only the classes it lists, priced or not", async () => {
    const embedder = client("sk-key-embedder");
    await expect(embedder.embeddings.create({ model: "text-embedding-3-small", input: "x" })).resolves.toBeDefined();
    await expect(embedder.files.list()).resolves.toBeDefined();
    await refused(() => embedder.chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi" }] }), 403, "endpoint_not_allowed");
    await refused(() => embedder.responses.create({ model: "auto", input: "hi" }), 403, "endpoint_not_allowed");
    await refused(() => embedder.images.generate({ model: "gpt-image-mini", prompt: "x" }), 403, "endpoint_not_allowed");
    await refused(() => embedder.moderations.create({ input: "x" }), 403, "endpoint_not_allowed");
  });

  it("keeps batches, fine-tuning and realtime secrets off unless configured, and refuses unknown paths", async () => {
    const key = client("sk-key-cheap");
    await refused(() => key.realtime.clientSecrets.create({}), 403, "endpoint_not_allowed");
    await refused(() => key.fineTuning.jobs.create({ model: "gpt-4o-mini", training_file: "file-1" }), 403, "endpoint_not_allowed");
    await refused(() => key.batches.create({ input_file_id: "file-1", endpoint: "/v1/chat/completions", completion_window: "24h" }), 403, "endpoint_not_allowed");
    const asked = upstream.requests.length;
    for (const path of ["/v1/organization/admin_api_keys", "/v1/evals"]) {
      const res = await fetch(`${proxy.url}${path}`, { headers: { authorization: "Bearer sk-key-cheap" } });
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("not_found");
    }
    expect(upstream.requests.length).toBe(asked);
  });

  it("passes unknown paths on, free and labelled `unknown`, only when told to", async () => {
    const open = await startTestProxy(testConfig(upstream.baseUrl, { ...input, store: { redis_url: redisUrl(), key_prefix: `${prefix}open:` }, passthrough: { unknown: "allow" } }), { clock });
    try {
      const res = await fetch(`${open.url}/v1/evals?limit=1`, { headers: { authorization: "Bearer sk-key-cheap" } });
      expect(res.status).toBe(200);
      expect(upstream.requests.at(-1)).toMatchObject({ method: "GET", path: "/v1/evals?limit=1" });
      expect((await open.services.store.usageRecords(1))[0]).toMatchObject({ endpoint: "unknown", priced: false, key_id: "cheap" });
    } finally {
      await open.shutdown();
      await cleanPrefix(`${prefix}open:`);
    }
  });
});

describe("a key's models and tier cap", () => {
  it("refuses a model the key may not use, and routes auto within its models", async () => {
    const mini = client("sk-key-mini");
    await refused(() => mini.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }), 403, "model_not_allowed");
    await refused(() => mini.images.generate({ model: "gpt-image-1", prompt: "x" }), 403, "model_not_allowed");
    await refused(() => mini.embeddings.create({ model: "text-embedding-3-small", input: "x" }), 403, "model_not_allowed");
    const { response } = await mini.chat.completions
      .create({ model: "auto", messages: [{ role: "user", content: "hi" }], max_tokens: 5 }, { headers: { "x-tollgate-tier": "premium" } })
      .withResponse();
    expect(response.headers.get("x-tollgate-model")).toBe("gpt-4o-mini");
    expect(response.headers.get("x-tollgate-route")).toBe("key-models");
    expect(upstream.requests.at(-1)!.body.model).toBe("gpt-4o-mini");
  });

  it("holds a metered call naming a model above the key's tier to the cap", async () => {
    const cheap = client("sk-key-cheap");
    await refused(() => cheap.images.generate({ model: "gpt-image-1", prompt: "x" }), 403, "tier_not_allowed");
    const before = await globalSpent();
    await cheap.images.generate({ model: "gpt-image-mini", prompt: "x", n: 3 });
    // The fake's answer has no usage: three images at $0.01.
    await expect.poll(async () => (await globalSpent()) - before).toBe(30_000_000);
  });
});

describe("bodies as the upstream reads them", () => {
  it("refuses a JSON body that does not parse strictly, whatever its content type says, before it reaches anyone", async () => {
    for (const [type, body] of [
      ["application/json", '{"model":"gpt-image-1","prompt":"x","n":NaN}'],
      ["application/json", '\ufeff{"model":"gpt-image-1","prompt":"x"}'],
      ["Application/JSON", '{"model":"gpt-image-1",'],
      ["text/plain", "model=gpt-image-1"],
    ]) {
      const asked = upstream.requests.length;
      const res = await fetch(`${proxy.url}/v1/images/generations`, { method: "POST", headers: { authorization: "Bearer sk-key-mini", "content-type": type! }, body });
      expect(res.status, body).toBe(400);
      expect((await res.json()).error.code).toBe("invalid_json");
      expect(upstream.requests.length).toBe(asked);
    }
  });

  it("reads a multipart body's fields part by part: a decoy is not the model, a field given twice is refused", async () => {
    const form = (parts: string[]) => `${parts.map((p) => `--XX\r\n${p}\r\n`).join("")}--XX--\r\n`;
    const post = (body: string) => fetch(`${proxy.url}/v1/images/edits`, { method: "POST", headers: { authorization: "Bearer sk-key-mini", "content-type": 'multipart/form-data; x="application/json"; boundary=XX' }, body });
    const asked = upstream.requests.length;
    const decoy = await post(form(['Content-Disposition: form-data; name="user"; fakename="model"\r\n\r\ngpt-image-mini', "Content-Disposition: form-data; name=model\r\n\r\ngpt-image-1"]));
    expect(decoy.status).toBe(403);
    expect((await decoy.json()).error.code).toBe("model_not_allowed");
    const twice = await post(form(['Content-Disposition: form-data; name="model"\r\n\r\ngpt-image-mini', 'Content-Disposition: form-data; name="n"\r\n\r\n1', 'Content-Disposition: form-data; name="n"\r\n\r\n10']));
    expect(twice.status).toBe(400);
    expect(upstream.requests.length).toBe(asked);
  });

  it("charges a metered call whose client left before the answer's headers at its hold", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    upstream.route = async (req, res) => {
      if (!req.path.startsWith("/v1/images/")) return false;
      await held;
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
      return true;
    };
    try {
      const before = await globalSpent();
      const controller = new AbortController();
      const asked = upstream.requests.length;
      const call = client("sk-key-cheap").images.generate({ model: "gpt-image-mini", prompt: "slow" }, { signal: controller.signal });
      await expect.poll(() => upstream.requests.length).toBe(asked + 1);
      controller.abort();
      await expect(call).rejects.toThrow();
      // Sent, so charged: the answer never said what it cost, so the image the request asked for, at $0.01.
      const lost = async () => (await proxy.services.store.usageRecords(5)).find((r) => r.endpoint === "images" && r.status === 499);
      await expect.poll(lost).toMatchObject({ usage_source: "estimated", cost_nano: 10_000_000, estimated_cost_nano: 500_000_000, routed_model: "gpt-image-mini" });
      expect((await globalSpent()) - before).toBe(10_000_000);
    } finally {
      release();
      upstream.route = undefined;
    }
  });

  it("labels reports with models tollgate knows only", async () => {
    await client("sk-key-embedder").files.list();
    const res = await fetch(`${proxy.url}/v1/moderations`, { method: "POST", headers: { authorization: "Bearer sk-key-mini", "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", input: "x" }) });
    expect(res.status).toBe(200);
    const made = await fetch(`${proxy.url}/v1/moderations`, { method: "POST", headers: { authorization: "Bearer sk-key-embedder", "content-type": "application/json" }, body: JSON.stringify({ model: "x".repeat(5000), input: "x" }) });
    expect(made.status).toBe(403);
    const open = await startTestProxy(testConfig(upstream.baseUrl, { ...input, keys: [], store: { redis_url: redisUrl(), key_prefix: `${prefix}labels:` } }), { clock });
    try {
      await fetch(`${open.url}/v1/moderations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "made-up-model-name", input: "x" }) });
      const [record] = await open.services.store.usageRecords(1);
      expect(record).toMatchObject({ endpoint: "moderations", requested_model: "", routed_model: "" });
    } finally {
      await open.shutdown();
      await cleanPrefix(`${prefix}labels:`);
    }
  });
});
