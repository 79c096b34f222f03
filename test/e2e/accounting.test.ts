import { request as httpRequest } from "node:http";
import OpenAI from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import type { Config } from "../../src/config/schema.js";
import type { UsageRecord } from "../../src/usage/record.js";
import { startUpstream, type Behavior, type FakeUpstream, type Received } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Every dollar accounted: fields the estimate once ignored, exits that once never settled, slow
 * readers, tenants sharing a cache, secrets in upstream errors. One proxy in this process on real
 * Redis, its clock fixed, the upstream a fake on loopback.
 */

const KEY_A = "sk-tollgate-key-a";
const KEY_B = "sk-tollgate-key-b";
const prefixes: string[] = [];
const proxies: TestProxy[] = [];
let upstream: FakeUpstream;
let behave: (req: Received) => Behavior = () => ({ kind: "json" });

beforeAll(async () => {
  upstream = await startUpstream((req) => behave(req));
});

afterAll(async () => {
  for (const p of proxies) await p.shutdown();
  await upstream?.close();
  for (const p of prefixes) await cleanPrefix(p);
});

/** A proxy of this test's own: its own key prefix, a fixed clock, two keys in two teams. */
async function proxyWith(overrides: Record<string, unknown> = {}): Promise<TestProxy> {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const config = testConfig(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [
      { id: "a", key: KEY_A, team: "red" },
      { id: "b", key: KEY_B, team: "blue" },
    ],
    admin_key: "admin",
    budgets: { downgrade: false, global: { daily: 0.05, per_request: 1 } },
    ...overrides,
  });
  const proxy = await startTestProxy(config, { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) });
  proxies.push(proxy);
  return proxy;
}

async function state(proxy: TestProxy, keyId = "a", team = "red") {
  const { config, clock, store } = proxy.services;
  const counters = countersFor(scopesFor(config.budgets, keyId, team), proxy.services.windows.at(clock.now()));
  return { spent: await store.spent(counters.map((c) => c.id)), records: (await store.usageRecords(1000)).length };
}

const post = (proxy: TestProxy, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY_A}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal,
  });

const holdsLeft = async (proxy: TestProxy) => {
  const redis = new Redis(redisUrl());
  try {
    return await redis.zcard(`${proxy.services.config.store.key_prefix}{tg}:holds`);
  } finally {
    redis.disconnect();
  }
};

/** About 100,000 tokens of text. */
const BIG = "word ".repeat(100_000);
const hi = [{ role: "user" as const, content: "hi" }];

describe("fields the estimate must count", () => {
  const smuggled: Array<[string, Record<string, unknown>]> = [
    ["a function description", { functions: [{ name: "f", description: BIG, parameters: { type: "object", properties: {} } }] }],
    ["a tool's description", { tools: [{ type: "function", function: { name: "f", description: BIG } }] }],
    ["a response_format schema", { response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "object", description: BIG } } } }],
    ["a prediction", { prediction: { type: "content", content: BIG } }],
    ["a field nobody knows yet", { x_future_field: { text: BIG } }],
    ["an unknown content part type", { messages: [{ role: "user", content: [{ type: "input_future", data: BIG }] }] }],
  ];
  for (const [name, fields] of smuggled) {
    it(`counts ${name}: refused by the budget, nothing sent, no budget moved`, async () => {
      // 100,000 tokens cost $0.015 even on the cheapest model.
      const proxy = await proxyWith({ budgets: { downgrade: false, global: { daily: 0.01 } } });
      const before = await state(proxy);
      const calls = upstream.requests.length;
      const res = await post(proxy, { model: "gpt-4o", messages: hi, max_tokens: 10, ...fields });
      expect(res.status).toBe(429);
      expect((await res.json()).error.code).toBe("budget_exceeded");
      expect(upstream.requests.length).toBe(calls);
      expect(await state(proxy)).toEqual(before);
    });
  }

  it("checks the context window with every counted field", async () => {
    const proxy = await proxyWith();
    const res = await post(proxy, { model: "gpt-4o", messages: hi, max_tokens: 10, functions: [{ name: "f", description: BIG.repeat(2) }] });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("context_length_exceeded");
  });

  it("shows the counted fields in /v1/estimate", async () => {
    const proxy = await proxyWith();
    const res = await fetch(`${proxy.url}/v1/estimate`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY_A}` },
      body: JSON.stringify({ model: "gpt-4o", messages: hi, max_tokens: 10, response_format: { type: "json_schema", json_schema: { name: "s", schema: { description: BIG } } } }),
    });
    const estimate = await res.json();
    expect(estimate.input_tokens).toBeGreaterThan(100_000);
    expect(estimate.max_cost).toBeGreaterThan(0.015);
  });
});

describe("hard limits", () => {
  it("caps the output of a request whose worst case does not fit, and says so", async () => {
    behave = (req) => ({ kind: "json", usage: { prompt_tokens: 8, completion_tokens: req.body.max_tokens ?? 100 } });
    // gpt-4o without an output limit: at worst its context window of output, $1.28; $0.05 affords about 5,000 tokens.
    const proxy = await proxyWith();
    const { data, response } = await proxy
      .client(KEY_A)
      .chat.completions.create({ model: "gpt-4o", messages: hi }, { headers: { "x-tollgate-tier": "standard" } })
      .withResponse();
    const capped = Number(response.headers.get("x-tollgate-output-capped"));
    expect(capped).toBeGreaterThan(4000);
    expect(capped).toBeLessThan(5000);
    expect(upstream.requests.at(-1)!.body.max_tokens).toBe(capped);
    expect(data.usage?.completion_tokens).toBe(capped);
    const [globalDaily] = (await state(proxy)).spent;
    expect(globalDaily).toBeLessThanOrEqual(0.05e9);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record.output_capped).toBe(capped);
  });

  it("refuses only when not even a small answer fits", async () => {
    behave = () => ({ kind: "json" });
    const proxy = await proxyWith({ budgets: { downgrade: false, global: { daily: 0.0005 } } });
    // 500 tokens of prompt at $10/M leave no room for 64 tokens of output at $30/M in $0.0005.
    const res = await post(proxy, { model: "gpt-4-turbo", messages: [{ role: "user", content: "word ".repeat(45) }] }, { "x-tollgate-tier": "premium" });
    expect(res.status).toBe(429);
    expect((await state(proxy)).spent.every((v) => v === 0)).toBe(true);
  });
});

describe("every exit settles once", () => {
  it("records the real usage of a non-streamed answer whose client left after the upstream's headers", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    behave = () => ({ kind: "json", usage: { prompt_tokens: 20, completion_tokens: 30 }, bodyAfter: gate });
    const proxy = await proxyWith();
    const controller = new AbortController();
    const asked = upstream.requests.length;
    const pending = post(proxy, { model: "gpt-4o-mini", messages: hi, max_tokens: 50 }, {}, controller.signal).catch((e: Error) => e);
    await expect.poll(() => upstream.requests.length).toBe(asked + 1);
    controller.abort();
    await pending;
    release();
    await expect.poll(async () => (await state(proxy)).records).toBe(1);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    // The answer was whole and billed: its real usage is recorded (499 when the proxy saw the client leave first).
    expect(record).toMatchObject({ usage_source: "upstream", input_tokens: 20, output_tokens: 30 });
    expect([200, 499]).toContain(record.status);
    expect((await state(proxy)).spent[0]).toBe(record.cost_nano);
    expect(await holdsLeft(proxy)).toBe(0);
    expect(proxy.logger.lines.filter((l) => l.level === "error")).toEqual([]);
  });

  it("reads on to the usage of an answer that comes after its client left, within the drain period", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    behave = () => ({ kind: "json", usage: { prompt_tokens: 20, completion_tokens: 700 }, answerAfter: gate });
    const proxy = await proxyWith();
    const controller = new AbortController();
    const asked = upstream.requests.length;
    const pending = post(proxy, { model: "gpt-4o-mini", messages: hi, max_tokens: 1000 }, {}, controller.signal).catch((e: Error) => e);
    await expect.poll(() => upstream.requests.length).toBe(asked + 1);
    controller.abort();
    await pending;
    // The client is gone before the upstream said anything; the upstream goes on and bills.
    await expect.poll(() => proxy.services.upstream.draining).toBe(1);
    expect(upstream.requests.at(-1)!.aborted).toBe(false);
    release();
    await expect.poll(async () => (await state(proxy)).records).toBe(1);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record).toMatchObject({ status: 499, usage_source: "upstream", input_tokens: 20, output_tokens: 700 });
    expect((await state(proxy)).spent[0]).toBe(record.cost_nano);
    expect(await holdsLeft(proxy)).toBe(0);
  });

  it("with no drain period, logs a client that left before any answer at info, as 499, and charges its prompt", async () => {
    behave = () => ({ kind: "hang" });
    const proxy = await proxyWith({ accounting: { drain_seconds: 0 } });
    const controller = new AbortController();
    const asked = upstream.requests.length;
    const pending = post(proxy, { model: "gpt-4o-mini", messages: hi, max_tokens: 50 }, {}, controller.signal).catch((e: Error) => e);
    await expect.poll(() => upstream.requests.length).toBe(asked + 1);
    controller.abort();
    await pending;
    await expect.poll(async () => (await state(proxy)).records).toBe(1);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record).toMatchObject({ status: 499, usage_source: "estimated", output_tokens: 0 });
    expect(record.cost_nano).toBeGreaterThan(0);
    expect((await state(proxy)).spent[0]).toBe(record.cost_nano);
    expect(await holdsLeft(proxy)).toBe(0);
    expect(proxy.logger.lines.filter((l) => l.level === "error")).toEqual([]);
    await expect.poll(() => proxy.logger.lines.find((l) => l.event === "client_closed_request")).toMatchObject({ level: "info", status: 499 });
    expect(proxy.logger.lines.filter((l) => l.level === "error")).toEqual([]);
  });

  it("counts what the upstream sent to a client that stopped reading and then left", async () => {
    // About 900 KB of answer, sent as fast as the upstream can; the client reads none of it.
    const pieces = Array.from({ length: 3000 }, (_, i) => `${i} `.padEnd(300, "x"));
    behave = () => ({ kind: "stream", pieces, usage: { prompt_tokens: 9, completion_tokens: 3000 } });
    const proxy = await proxyWith({ budgets: { global: { daily: 10 } } });
    const asked = upstream.requests.length;
    const url = new URL(`${proxy.url}/v1/chat/completions`);
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { authorization: `Bearer ${KEY_A}`, "content-type": "application/json" } });
    const response = new Promise<import("node:http").IncomingMessage>((resolve) => req.on("response", resolve));
    req.on("error", () => {});
    req.end(JSON.stringify({ model: "gpt-4o-mini", messages: hi, stream: true }));
    const res = await response;
    res.pause();
    // The proxy reads ahead of the client, so the whole answer, its usage included, is counted while the client reads nothing.
    await expect.poll(async () => (await state(proxy)).records, { timeout: 10_000 }).toBe(1);
    expect(upstream.requests[asked]?.finished).toBe(true);
    res.destroy();
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record).toMatchObject({ usage_source: "upstream", input_tokens: 9, output_tokens: 3000 });
    expect((await state(proxy)).spent[0]).toBe(record.cost_nano);
  });
});

describe("the response cache", () => {
  it("never serves one tenant's answer to another, and shares within a team when told to", async () => {
    behave = () => ({ kind: "json", content: "cached?" });
    const ask = (proxy: TestProxy, key: string) =>
      proxy.client(key).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "the same question" }], temperature: 0 }).withResponse();
    const perKey = await proxyWith({ cache: { enabled: true } });
    expect((await ask(perKey, KEY_A)).response.headers.get("x-tollgate-cache")).toBe("miss");
    expect((await ask(perKey, KEY_A)).response.headers.get("x-tollgate-cache")).toBe("hit");
    expect((await ask(perKey, KEY_B)).response.headers.get("x-tollgate-cache")).toBe("miss");

    const perTeam = await proxyWith({ cache: { enabled: true, scope: "team" }, keys: [{ id: "a", key: KEY_A, team: "red" }, { id: "b", key: KEY_B, team: "red" }] });
    expect((await ask(perTeam, KEY_A)).response.headers.get("x-tollgate-cache")).toBe("miss");
    expect((await ask(perTeam, KEY_B)).response.headers.get("x-tollgate-cache")).toBe("hit");
  });
});

describe("what comes back from the upstream", () => {
  it("masks the upstream's key in an error body and keeps tollgate's request id", async () => {
    behave = (req) => ({
      kind: "error",
      status: 401,
      headers: { "x-request-id": "req_upstream_1" },
      body: { error: { message: `Incorrect API key provided: ${String(req.headers.authorization)} and sk-proj-abcdefghijklmnopqrstu`, type: "invalid_request_error", code: "invalid_api_key" } },
    });
    const proxy = await proxyWith();
    const res = await post(proxy, { model: "gpt-4o-mini", messages: hi });
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(text).not.toContain("sk-upstream-openai");
    expect(text).not.toContain("abcdefghijklmnopqrstu");
    expect(text).toContain("***");
    expect(res.headers.get("x-request-id")).toMatch(/^chatcmpl-tg-/);
    expect(res.headers.get("x-upstream-request-id")).toBe("req_upstream_1");
  });
});

export type { Config, UsageRecord };
