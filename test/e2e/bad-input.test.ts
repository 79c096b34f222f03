import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

const KEY = "sk-tollgate-test-key";
let upstream: FakeUpstream;
let proxy: TestProxy;
const prefix = uniquePrefix();

beforeAll(async () => {
  upstream = await startUpstream();
  const config = testConfig(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    server: { host: "127.0.0.1", port: 0, body_limit_mb: 0.01, max_parts: 40 },
    keys: [{ id: "app", key: KEY, team: "research" }],
    routing: { unknown_models: "reject" },
    budgets: { downgrade: false, global: { daily: 10, monthly: 100, per_request: 0.2 }, teams: { research: { daily: 5 } }, keys: { app: { daily: 1 } } },
  });
  proxy = await startTestProxy(config);
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

/** Every counter the key's requests touch, plus the usage log and the upstream's request count. */
async function budgetState() {
  const { config, clock, store } = proxy.services;
  const counters = countersFor(scopesFor(config.budgets, "app", "research"), proxy.services.windows.at(clock.now()));
  return {
    spent: await store.spent(counters.map((c) => c.id)),
    records: (await store.usageRecords(100)).length,
    upstreamCalls: upstream.requests.length,
  };
}

async function post(body: string, headers: Record<string, string> = {}) {
  return fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers },
    body,
  });
}

const valid = { model: "auto", messages: [{ role: "user", content: "hi" }] };

const cases: Array<{ name: string; body: string; headers?: Record<string, string>; status: number; code: string; param?: string | null; message: RegExp }> = [
  { name: "invalid JSON", body: "{not json", status: 400, code: "invalid_json", param: null, message: /not valid JSON/ },
  { name: "a body that is not an object", body: "[1,2]", status: 400, code: "invalid_request", param: null, message: /JSON object/ },
  { name: "missing messages", body: JSON.stringify({ model: "auto" }), status: 400, code: "invalid_request", param: "messages", message: /'messages' is required/ },
  { name: "empty messages", body: JSON.stringify({ model: "auto", messages: [] }), status: 400, code: "invalid_request", param: "messages", message: /at least one/ },
  { name: "messages of the wrong type", body: JSON.stringify({ model: "auto", messages: "hi" }), status: 400, code: "invalid_request", param: "messages", message: /must be an array/ },
  { name: "a message without a role", body: JSON.stringify({ model: "auto", messages: [{ content: "hi" }] }), status: 400, code: "invalid_request", param: "messages[0].role", message: /role/ },
  { name: "content of the wrong type", body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: 42 }] }), status: 400, code: "invalid_request", param: "messages[0].content", message: /string or an array/ },
  { name: "a missing model", body: JSON.stringify({ messages: valid.messages }), status: 400, code: "invalid_request", param: "model", message: /'model' is required/ },
  { name: "a model that is not a string", body: JSON.stringify({ ...valid, model: 5 }), status: 400, code: "invalid_request", param: "model", message: /non-empty string/ },
  { name: "temperature as a string", body: JSON.stringify({ ...valid, temperature: "hot" }), status: 400, code: "invalid_request", param: "temperature", message: /must be a number/ },
  { name: "a negative max_tokens", body: JSON.stringify({ ...valid, max_tokens: -5 }), status: 400, code: "invalid_request", param: "max_tokens", message: /between 1 and/ },
  { name: "stream as a string", body: JSON.stringify({ ...valid, stream: "yes" }), status: 400, code: "invalid_request", param: "stream", message: /boolean/ },
  { name: "an enormous n", body: JSON.stringify({ ...valid, n: 1e9 }), status: 400, code: "invalid_request", param: "n", message: /between 1 and 128/ },
  { name: "an unknown model", body: JSON.stringify({ ...valid, model: "gpt-9-ultra" }), status: 404, code: "model_not_found", param: "model", message: /gpt-9-ultra.*gpt-4o-mini/ },
  {
    name: "more messages and parts than server.max_parts",
    body: JSON.stringify({ ...valid, messages: [{ role: "user", content: Array.from({ length: 40 }, () => ({ type: "text", text: "a" })) }] }),
    status: 400,
    code: "invalid_request",
    param: "messages",
    message: /41 messages and content parts.*at most 40 \(server.max_parts\)/,
  },
  {
    // 40 parts allow 1,160 objects (4 each and 1,000 more): these are refused before the body is parsed.
    name: "more JSON objects than server.max_parts can need",
    body: JSON.stringify({ ...valid, metadata_list: Array.from({ length: 1_200 }, () => ({})) }),
    status: 400,
    code: "invalid_request",
    param: null,
    message: /more than 1160 JSON objects.*at most 40 messages and content parts \(server.max_parts\)/,
  },
  { name: "a body over the limit", body: JSON.stringify({ ...valid, messages: [{ role: "user", content: "x".repeat(20_000) }] }), status: 413, code: "request_too_large", message: /larger than the limit/ },
  { name: "a wrong key", body: JSON.stringify(valid), headers: { authorization: "Bearer sk-wrong" }, status: 401, code: "invalid_api_key", message: /Incorrect API key/ },
  { name: "no key", body: JSON.stringify(valid), headers: { authorization: "" }, status: 401, code: "invalid_api_key", message: /Missing API key/ },
  { name: "a bad tier header", body: JSON.stringify(valid), headers: { "x-tollgate-tier": "platinum" }, status: 400, code: "invalid_request", param: "x-tollgate-tier", message: /economy, standard or premium/ },
  { name: "a bad request type", body: JSON.stringify(valid), headers: { "x-tollgate-request-type": "bad type!" }, status: 400, code: "invalid_request", param: "x-tollgate-request-type", message: /request-type/ },
  {
    // 128 answers of even the smallest capped length (64 tokens at $30/M) cost more than the $0.20 cap.
    name: "a request over the per-request cap that no output cap can bring under it",
    body: JSON.stringify({ model: "gpt-4-turbo", messages: valid.messages, n: 128, max_tokens: 100 }),
    headers: { "x-tollgate-tier": "premium" },
    status: 429,
    code: "request_cost_limit_exceeded",
    message: /per-request cost limit of global/,
  },
];

describe("bad input gets a clear OpenAI-format error and moves no budget", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const before = await budgetState();
      const res = await post(c.body, c.headers);
      expect(res.status).toBe(c.status);
      const body = await res.json();
      expect(Object.keys(body)).toEqual(["error"]);
      expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
      expect(body.error.code).toBe(c.code);
      expect(body.error.message).toMatch(c.message);
      if (c.param !== undefined) expect(body.error.param).toBe(c.param);
      expect(await budgetState()).toEqual(before);
    });
  }

  it("leaves the counters at zero after all of them", async () => {
    const state = await budgetState();
    expect(state.spent.every((v) => v === 0)).toBe(true);
    expect(state.records).toBe(0);
    expect(state.upstreamCalls).toBe(0);
  });

  it("still serves a valid request afterwards, which does move the budget", async () => {
    const res = await post(JSON.stringify(valid));
    expect(res.status).toBe(200);
    const state = await budgetState();
    expect(state.spent.every((v) => v > 0)).toBe(true);
    expect(state.records).toBe(1);
  });
});
