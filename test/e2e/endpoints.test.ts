import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, testConfigInput, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * The rest of the OpenAI surface through the official SDK: the Responses API, embeddings and
 * legacy completions priced and budgeted like chat; everything else passed through unpriced.
 * Two fake upstreams on loopback: `openai` and `anthropic`.
 */

const KEY = "sk-endpoints-test";
const prefix = uniquePrefix();
let openaiUp: FakeUpstream;
let anthropicUp: FakeUpstream;
let proxy: TestProxy;
let client: OpenAI;
let input: () => Record<string, any>;

beforeAll(async () => {
  openaiUp = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json", usage: { prompt_tokens: 40, completion_tokens: 12 } }));
  anthropicUp = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json", usage: { prompt_tokens: 40, completion_tokens: 12 } }));
  input = () => {
    const i = testConfigInput(openaiUp.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [{ id: "app", key: KEY }],
    admin_key: "admin",
      budgets: { global: { daily: 10 } },
    });
    i.upstreams.anthropic.base_url = anthropicUp.baseUrl;
    i.models["text-embedding-3-small"] = { upstream: "openai", tier: "economy", kind: "embedding", price: { input: 0.02, output: 0 }, context_window: 8191 };
    i.models["gpt-3.5-turbo-instruct"] = { upstream: "openai", tier: "economy", price: { input: 1.5, output: 2 }, context_window: 4096, max_output_tokens: 4096 };
    i.tiers.economy.push("gpt-3.5-turbo-instruct");
    return i;
  };
  proxy = await startTestProxy(testConfig(openaiUp.baseUrl, input()), { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) });
  client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await proxy?.shutdown();
  await openaiUp?.close();
  await anthropicUp?.close();
  await cleanPrefix(prefix);
});

async function spent(): Promise<number> {
  const { config, clock, store, windows } = proxy.services;
  const [global] = await store.spent(countersFor(scopesFor(config.budgets, "app", null), windows.at(clock.now())).map((c) => c.id));
  return global!;
}

const records = () => proxy.services.store.usageRecords(1000);

describe("POST /v1/responses", () => {
  it("answers, routes, and costs a plain request from its usage", async () => {
    const before = await spent();
    const { data, response } = await client.responses.create({ model: "auto", input: "Say hello.", max_output_tokens: 50 }).withResponse();
    expect(data.output_text).toBe("Hello from the fake upstream.");
    expect(response.headers.get("x-tollgate-model")).toBe("gpt-4o-mini");
    expect(openaiUp.requests.at(-1)!.path).toBe("/v1/responses");
    // 40 × $0.15/M + 12 × $0.60/M.
    expect((await spent()) - before).toBe(13_200);
    expect((await records())[0]).toMatchObject({ endpoint: "responses", input_tokens: 40, output_tokens: 12, usage_source: "upstream" });
  });

  it("streams named events and costs the stream from response.completed", async () => {
    const before = await spent();
    const stream = await client.responses.create({ model: "auto", input: "Stream it.", stream: true });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    expect(types.at(0)).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(text).toBe("Hello there.");
    await expect.poll(async () => (await spent()) - before).toBe(13_200);
  });

  it("raises an error the SDK throws when the upstream cuts the stream", async () => {
    openaiUp.behave = () => ({ kind: "stream", pieces: ["a", "b", "c"], cutAfter: 1, delayMs: 20 });
    try {
      const stream = await client.responses.create({ model: "auto", input: "Cut it.", stream: true });
      await expect(async () => {
        for await (const _ of stream) void _;
      }).rejects.toThrow(/upstream/);
    } finally {
      openaiUp.behave = (req) => ({ kind: req.body.stream ? "stream" : "json", usage: { prompt_tokens: 40, completion_tokens: 12 } });
    }
  });

  it("sends a follow-up to the upstream that holds the previous response, and passes its retrieval there too", async () => {
    const first = await client.responses.create({ model: "claude-3-haiku", input: "Remember this.", max_output_tokens: 20 });
    const asked = anthropicUp.requests.length;
    const openaiAsked = openaiUp.requests.length;
    const { response } = await client.responses.create({ model: "auto", input: "And then?", previous_response_id: first.id, max_output_tokens: 20 }).withResponse();
    expect(response.headers.get("x-tollgate-model")).toBe("claude-3-haiku-20240307");
    expect(anthropicUp.requests.length).toBe(asked + 1);
    expect(openaiUp.requests.length).toBe(openaiAsked);
    // Its stored context (the first exchange's 52 tokens) is part of the estimate.
    const alone = await client.responses.create({ model: "claude-3-haiku", input: "And then?", max_output_tokens: 20 }).withResponse();
    expect(Number(response.headers.get("x-tollgate-estimated-cost"))).toBeGreaterThan(Number(alone.response.headers.get("x-tollgate-estimated-cost")));

    await client.responses.retrieve(first.id);
    expect(anthropicUp.requests.at(-1)).toMatchObject({ method: "GET", path: `/v1/responses/${first.id}` });
    expect(anthropicUp.requests.at(-1)!.headers.authorization).toBe("Bearer sk-upstream-anthropic");
  });
});

describe("POST /v1/embeddings and /v1/completions", () => {
  it("prices embeddings at the input price from usage.prompt_tokens", async () => {
    const before = await spent();
    const { data } = await client.embeddings.create({ model: "text-embedding-3-small", input: ["one", "two"] }).withResponse();
    expect(data.data).toHaveLength(2);
    expect((await spent()) - before).toBe(Math.round(40 * 0.02 * 1000));
    expect((await records())[0]).toMatchObject({ endpoint: "embeddings", routed_model: "text-embedding-3-small", input_tokens: 40, output_tokens: 0 });
  });

  it("serves a repeated embedding from the cache when the cache is on, at no cost", async () => {
    const cached = await startTestProxy(testConfig(openaiUp.baseUrl, { ...input(), cache: { enabled: true } }), { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) });
    try {
      const c = new OpenAI({ baseURL: `${cached.url}/v1`, apiKey: KEY, maxRetries: 0 });
      const asked = openaiUp.requests.length;
      const first = await c.embeddings.create({ model: "text-embedding-3-small", input: "the same text" }).withResponse();
      const second = await c.embeddings.create({ model: "text-embedding-3-small", input: "the same text" }).withResponse();
      expect(first.response.headers.get("x-tollgate-cache")).toBe("miss");
      expect(second.response.headers.get("x-tollgate-cache")).toBe("hit");
      expect(second.response.headers.get("x-tollgate-cost")).toBe("0");
      expect(second.data.data).toEqual(first.data.data);
      expect(openaiUp.requests.length).toBe(asked + 1);
    } finally {
      await cached.shutdown();
    }
  });

  it("refuses a chat model for embeddings, moving no budget", async () => {
    const before = await spent();
    await expect(client.embeddings.create({ model: "gpt-4o-mini", input: "x" })).rejects.toMatchObject({ status: 404, code: "model_not_found" });
    expect(await spent()).toBe(before);
  });

  it("costs and budgets legacy completions, plain and streamed", async () => {
    const before = await spent();
    const plain = await client.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say", max_tokens: 20 });
    expect(plain.choices[0]!.text).toBe(" world");
    let text = "";
    for await (const chunk of await client.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say", stream: true })) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(" hello world");
    const cost = Math.round(40 * 1.5 * 1000) + Math.round(12 * 2 * 1000);
    await expect.poll(async () => (await spent()) - before).toBe(2 * cost);
    expect(openaiUp.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
  });
});

describe("everything else under /v1/ passes through", () => {
  it("serves the key's own stored chat completions unpriced and counted, and keeps batches off unless configured", async () => {
    const stored = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Keep this." }], store: true, max_tokens: 5 });
    const before = await spent();
    const storedCalls = async () => (await records()).filter((r) => !r.priced && r.endpoint === "stored").length;
    const storedBefore = await storedCalls();
    await client.chat.completions.retrieve(stored.id);
    expect(openaiUp.requests.at(-1)).toMatchObject({ method: "GET", path: `/v1/chat/completions/${stored.id}` });
    await client.chat.completions.list({ limit: 2 });
    expect(openaiUp.requests.at(-1)).toMatchObject({ method: "GET", path: "/v1/chat/completions?limit=2" });
    await client.chat.completions.delete(stored.id);
    expect(openaiUp.requests.at(-1)).toMatchObject({ method: "DELETE" });
    expect(openaiUp.requests.at(-1)!.headers.authorization).toBe("Bearer sk-upstream-openai");

    const asked = openaiUp.requests.length;
    // Made elsewhere, so nobody's but the admin's; and batches are off by default.
    await expect(client.chat.completions.retrieve("chatcmpl-made-elsewhere")).rejects.toMatchObject({ status: 404, code: "not_found" });
    await expect(client.batches.create({ input_file_id: "file-1", endpoint: "/v1/chat/completions", completion_window: "24h" })).rejects.toMatchObject({
      status: 403,
      code: "endpoint_not_allowed",
    });
    expect(openaiUp.requests.length).toBe(asked);
    expect(await spent()).toBe(before);
    await expect.poll(storedCalls).toBe(storedBefore + 3);
    const costs = await (await fetch(`${proxy.url}/v1/costs`, { headers: { authorization: "Bearer admin" } })).json();
    expect(costs.unpriced_requests).toBeGreaterThanOrEqual(3);
  });

  it("streams a multi-megabyte upload through, past the chat body limit", async () => {
    const size = 24 * 1024 * 1024;
    const file = await client.files.create({ file: await toFile(Buffer.alloc(size, 7), "big.jsonl"), purpose: "batch" });
    expect(file.id).toMatch(/^file-/);
    const received = openaiUp.requests.at(-1)!;
    expect(received.path).toBe("/v1/files");
    expect(received.bytes).toBeGreaterThan(size);
  });

  it("needs a key like every other endpoint", async () => {
    const res = await fetch(`${proxy.url}/v1/files`, { headers: { authorization: "Bearer wrong" } });
    expect(res.status).toBe(401);
  });

  it("answers 404 when turned off", async () => {
    const off = await startTestProxy(testConfig(openaiUp.baseUrl, { passthrough: false }), { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) });
    try {
      const res = await fetch(`${off.url}/v1/files`);
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe("not_found");
    } finally {
      await off.shutdown();
    }
  });
});
