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
