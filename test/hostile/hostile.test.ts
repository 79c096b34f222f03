import { APIError } from "openai";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { parseChatBody } from "../../src/request/parse.js";
import { adaptParams } from "../../src/routing/adapt.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";
import { BODY_LIMIT_MB, corpus, HOSTILE_ADMIN_KEY, HOSTILE_KEY, pollution, VALID, type Expected, type HostileCase } from "./corpus.js";
import { rawRequest } from "./raw-http.js";

/**
 * Runs the hostile corpus through a proxy in this process (so a polluted prototype would show
 * here), on a Redis store of its own prefix. Rejected requests must move no budget.
 */

// Own keys of the objects a prototype-pollution bug would write to, before any request.
const WATCHED = { "Object.prototype": Object.prototype, Object, "Array.prototype": Array.prototype, "Function.prototype": Function.prototype };
const ownKeys = () => Object.fromEntries(Object.entries(WATCHED).map(([name, o]) => [name, Reflect.ownKeys(o).map(String).sort()]));
const pristine = ownKeys();

let upstream: FakeUpstream;
let proxy: TestProxy;
const prefix = uniquePrefix();

beforeAll(async () => {
  upstream = await startUpstream(({ body }) => (body.stream === true ? { kind: "stream" } : { kind: "json" }));
  const config = testConfig(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    server: { host: "127.0.0.1", port: 0, body_limit_mb: BODY_LIMIT_MB },
    keys: [{ id: "hostile", key: HOSTILE_KEY, team: "red" }],
    admin_key: HOSTILE_ADMIN_KEY,
    // Names nobody configured are refused here, so prototype names and huge names show the 404 path.
    routing: { unknown_models: "reject" },
    budgets: { downgrade: false, global: { daily: 100, monthly: 1000 }, teams: { red: { daily: 50 } }, keys: { hostile: { daily: 20 } } },
  });
  proxy = await startTestProxy(config);
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

/** Every counter the key's requests touch, the usage log's length and the upstream's request count. */
async function budgetState() {
  const { config, clock, store, windows } = proxy.services;
  const counters = countersFor(scopesFor(config.budgets, "hostile", "red"), windows.at(clock.now()));
  return {
    spent: await store.spent(counters.map((c) => c.id)),
    records: (await store.usageRecords(10_000)).length,
    upstreamCalls: upstream.requests.length,
  };
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

async function viaSdk(body: string): Promise<Answer> {
  try {
    const answer = await proxy.client(HOSTILE_KEY).chat.completions.create(JSON.parse(body));
    return { status: 200, contentType: "application/json", body: JSON.stringify(answer) };
  } catch (err) {
    if (err instanceof APIError && err.status !== undefined) return { status: err.status, contentType: "application/json", body: JSON.stringify({ error: err.error }) };
    throw err;
  }
}

function chunkedStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream({
    pull(controller) {
      if (pos >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(pos, (pos += 64 * 1024)));
    },
  });
}

async function send(c: HostileCase): Promise<Answer> {
  const raw = c.body();
  const body = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
  if (c.sdk) return viaSdk(Buffer.from(body).toString("utf8"));
  if (c.rawHeaders !== undefined) {
    const res = await rawRequest(proxy.port, "/v1/chat/completions", c.rawHeaders, body);
    return { status: res.status, contentType: res.headers["content-type"] ?? "", body: res.body };
  }
  const headers: Record<string, string> = { authorization: `Bearer ${HOSTILE_KEY}`, "content-type": "application/json" };
  for (const [name, value] of Object.entries(c.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  // A connection of its own: after an early 413, @hono/node-server drains the unread body for at
  // most 500 ms and then closes the connection, breaking whatever case was sent next on it.
  const dispatcher = new Agent();
  try {
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers, body: c.chunked ? chunkedStream(body) : body, duplex: "half", dispatcher });
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", body: await res.text() };
  } finally {
    await dispatcher.destroy();
  }
}

function expectAnswer(answer: Answer): void {
  if (answer.contentType.startsWith("text/event-stream")) {
    expect(answer.body.trimEnd().endsWith("data: [DONE]")).toBe(true);
    // No corpus stream asks for usage (one hides include_usage behind __proto__).
    expect(answer.body).not.toContain('"usage"');
    return;
  }
  const body = JSON.parse(answer.body);
  expect(body.object).toBe("chat.completion");
  expect(body.choices[0].message.content).toBe("Hello from the fake upstream.");
}

function expectRejection(answer: Answer, expected: Exclude<Expected, { status: 200 }>): void {
  expect(answer.contentType).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body);
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error.code).toBe(expected.code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe("string");
  if (expected.param !== undefined) expect(body.error.param).toBe(expected.param);
}

describe("hostile requests get a 4xx in the OpenAI format, moving no budget, or a correct answer", () => {
  it("has distinct case names", () => {
    expect(new Set(corpus.map((c) => c.name)).size).toBe(corpus.length);
  });

  for (const c of corpus) {
    it(c.name, async () => {
      const before = await budgetState();
      const answer = await send(c);
      const expected = c.expect.find((e) => e.status === answer.status);
      if (!expected) expect({ status: answer.status, body: answer.body.slice(0, 500) }).toEqual({ status: c.expect[0]!.status, body: "(see the case)" });
      if (expected!.status === 200) {
        expectAnswer(answer);
        // A stream is accounted just after its last byte: wait for its record before the next case.
        await vi.waitFor(async () => expect((await budgetState()).records).toBe(before.records + 1), { timeout: 10_000 });
        expect((await budgetState()).upstreamCalls).toBe(before.upstreamCalls + 1);
      } else {
        expect(answer.status).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        expectRejection(answer, expected as Exclude<Expected, { status: 200 }>);
        expect(await budgetState()).toEqual(before);
      }
    });
  }
});

describe("prototype pollution", () => {
  it("parsing keeps __proto__, constructor and prototype as plain own data", () => {
    for (const c of pollution.filter((p) => p.expect[0]!.status === 200 && !p.headers)) {
      const body = parseChatBody(String(c.body()));
      const upstreamBody = adaptParams(body, proxy.services.config.models["gpt-4o-mini"]!, "gpt-4o-mini");
      for (const value of [body, upstreamBody, body.messages[0], body.stream_options ?? {}]) {
        expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
        expect((value as Record<string, unknown>).polluted).toBeUndefined();
      }
      expect(JSON.parse(JSON.stringify(upstreamBody))).toEqual({ ...JSON.parse(String(c.body())), model: "gpt-4o-mini" });
    }
  });

  it("reports the request type 'constructor' under its own name in /v1/costs", async () => {
    const res = await fetch(`${proxy.url}/v1/costs`, { headers: { authorization: `Bearer ${HOSTILE_ADMIN_KEY}` } });
    expect(res.status).toBe(200);
    const costs = (await res.json()) as { by_type: Record<string, { requests: number }> };
    expect(Object.hasOwn(costs.by_type, "constructor")).toBe(true);
    expect(new Map(Object.entries(costs.by_type)).get("constructor")?.requests).toBe(1);
  });

  it("left no trace on the prototypes of this process", () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(ownKeys()).toEqual(pristine);
  });
});

describe("after the corpus", () => {
  it("still answers a normal request with 200 (SDK), which moves the budget", async () => {
    const before = await budgetState();
    const answer = await proxy.client(HOSTILE_KEY).chat.completions.create({ model: "auto", messages: [{ role: "user", content: "still there?" }] });
    expect(answer.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const after = await budgetState();
    expect(after.records).toBe(before.records + 1);
    expect(after.spent.every((v, i) => v > before.spent[i]!)).toBe(true);
  });

  it("still streams (SDK)", async () => {
    const stream = await proxy.client(HOSTILE_KEY).chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("Hello from the stream.");
  });

  it("answers /health with 200", async () => {
    const res = await fetch(`${proxy.url}/health`);
    expect(res.status).toBe(200);
  });
});
