import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { startUpstream, type Behavior, type FakeUpstream, type Received } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * The headers the OpenAI API reads besides the body reach the upstream, and an Idempotency-Key seen
 * again from the same key gets the first answer back: no upstream call, no second charge, on any
 * replica.
 */

const KEY = "sk-idem-app";
const OTHER_KEY = "sk-idem-other";
const prefix = uniquePrefix();
const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
let upstream: FakeUpstream;
let behave: (req: Received) => Behavior = (req) => ({ kind: req.body.stream ? "stream" : "json" });
let proxy: TestProxy;
let replica: TestProxy;
let dropper: Server;

const config = (overrides: Record<string, unknown> = {}) =>
  testConfig(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [
      { id: "app", key: KEY, team: "research" },
      { id: "other", key: OTHER_KEY },
    ],
    ...overrides,
  });

beforeAll(async () => {
  upstream = await startUpstream((req) => behave(req));
  proxy = await startTestProxy(config(), { clock });
  replica = await startTestProxy(config(), { clock });
});

afterAll(async () => {
  await new Promise((resolve) => (dropper ? dropper.close(resolve) : resolve(undefined)));
  await proxy?.shutdown();
  await replica?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

const chatCalls = () => upstream.requests.filter((r) => r.path === "/v1/chat/completions").length;

/** What the key "app" has spent today (nano-USD) and how many records it has. */
async function appSpend(): Promise<{ spent: number; records: number }> {
  const { config: c, store, windows } = proxy.services;
  const [counter] = countersFor(scopesFor(c.budgets, "app", "research"), windows.at(clock.now())).filter((x) => x.id.startsWith("c:key:app:d:"));
  const records = (await store.usageRecords(10_000)).filter((r) => r.key_id === "app").length;
  return { spent: (await store.spent([counter!.id]))[0]!, records };
}

const hi = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "hi" }] };

describe("headers the upstream reads", () => {
  it("passes OpenAI-Beta, OpenAI-Organization, OpenAI-Project and Idempotency-Key on priced and pass-through calls", async () => {
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, organization: "org-1", project: "proj-1", defaultHeaders: { "OpenAI-Beta": "assistants=v2" }, maxRetries: 0 });
    await client.chat.completions.create(hi, { headers: { "Idempotency-Key": "headers-1" } });
    await client.files.list();
    for (const received of upstream.requests.slice(-2)) {
      expect(received.headers).toMatchObject({ "openai-beta": "assistants=v2", "openai-organization": "org-1", "openai-project": "proj-1", authorization: "Bearer sk-upstream-openai" });
    }
    expect(upstream.requests.at(-2)!.headers["idempotency-key"]).toBe("headers-1");
  });

  it("passes only what upstreams.X.forward_headers lists", async () => {
    const input = config();
    const narrow = await startTestProxy({ ...input, upstreams: { ...input.upstreams, openai: { ...input.upstreams.openai!, forward_headers: ["openai-beta"] } } }, { clock });
    try {
      await new OpenAI({ baseURL: `${narrow.url}/v1`, apiKey: KEY, organization: "org-1", maxRetries: 0 }).chat.completions.create(hi, { headers: { "OpenAI-Beta": "x" } });
      const received = upstream.requests.at(-1)!.headers;
      expect(received["openai-beta"]).toBe("x");
      expect(received["openai-organization"]).toBeUndefined();
      expect(received["idempotency-key"]).toBeUndefined();
    } finally {
      await narrow.shutdown();
    }
  });
});

describe("Idempotency-Key", () => {
  it("three retries of a request whose replies were lost reach the upstream once and are charged once", async () => {
    // Between the SDK and tollgate: the first two replies are read whole, then the connection is cut.
    let attempts = 0;
    dropper = createServer(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      const answer = await fetch(`${proxy.url}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body: Buffer.concat(parts) });
      const body = Buffer.from(await answer.arrayBuffer());
      if (++attempts <= 2) return void req.socket.destroy();
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(body);
    });
    await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", resolve));
    const before = { calls: chatCalls(), ...(await appSpend()) };
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${(dropper.address() as AddressInfo).port}/v1`, apiKey: KEY, maxRetries: 2 });
    // The SDK sends the same headers on each retry.
    const { data, response } = await client.chat.completions.create(hi, { headers: { "Idempotency-Key": "lost-1" } }).withResponse();
    expect(attempts).toBe(3);
    expect(data.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    expect(chatCalls()).toBe(before.calls + 1);
    const after = await appSpend();
    expect(after.records).toBe(before.records + 1);
    expect(after.spent - before.spent).toBe(Math.round(Number(response.headers.get("x-tollgate-cost")) * 1e9));
  });

  it("answers a retry on another replica from the first answer, streamed ones too", async () => {
    const calls = chatCalls();
    const first = await proxy.client(KEY).chat.completions.create({ ...hi, stream: true }, { headers: { "Idempotency-Key": "stream-1" } }).asResponse();
    const text = await first.text();
    const again = await replica.client(KEY).chat.completions.create({ ...hi, stream: true }, { headers: { "Idempotency-Key": "stream-1" } }).asResponse();
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("content-type")).toContain("text/event-stream");
    expect(await again.text()).toBe(text);
    expect(chatCalls()).toBe(calls + 1);
  });

  it("answers 409 while the first request still runs, then the first answer", async () => {
    let answer!: () => void;
    behave = () => ({ kind: "json", answerAfter: new Promise<void>((resolve) => (answer = resolve)) });
    const client = proxy.client(KEY);
    const first = client.chat.completions.create(hi, { headers: { "Idempotency-Key": "running-1" } });
    await expect.poll(() => upstream.requests.at(-1)?.headers["idempotency-key"]).toBe("running-1");
    await expect(client.chat.completions.create(hi, { headers: { "Idempotency-Key": "running-1" } })).rejects.toMatchObject({ status: 409, code: "idempotency_key_in_use" });
    answer();
    const done = await first;
    behave = (req) => ({ kind: req.body.stream ? "stream" : "json" });
    expect((await client.chat.completions.create(hi, { headers: { "Idempotency-Key": "running-1" } })).id).toBe(done.id);
  });

  it("refuses the key with another body (422), and keeps keys apart per tollgate key", async () => {
    const client = proxy.client(KEY);
    await client.chat.completions.create(hi, { headers: { "Idempotency-Key": "body-1" } });
    const before = { calls: chatCalls(), ...(await appSpend()) };
    await expect(client.chat.completions.create({ ...hi, messages: [{ role: "user", content: "bye" }] }, { headers: { "Idempotency-Key": "body-1" } })).rejects.toMatchObject({ status: 422, code: "idempotency_key_reused" });
    expect({ calls: chatCalls(), ...(await appSpend()) }).toEqual(before);
    const other = await proxy.client(OTHER_KEY).chat.completions.create(hi, { headers: { "Idempotency-Key": "body-1" } }).withResponse();
    expect(other.response.headers.get("idempotent-replayed")).toBeNull();
    expect(chatCalls()).toBe(before.calls + 1);
  });

  it("lets a failed request's key go, so its retry runs", async () => {
    behave = () => ({ kind: "error", status: 500 });
    const client = proxy.client(KEY);
    await expect(client.chat.completions.create(hi, { headers: { "Idempotency-Key": "fail-1" } })).rejects.toMatchObject({ status: 500 });
    behave = (req) => ({ kind: req.body.stream ? "stream" : "json" });
    const calls = chatCalls();
    const { response } = await client.chat.completions.create(hi, { headers: { "Idempotency-Key": "fail-1" } }).withResponse();
    expect(response.headers.get("idempotent-replayed")).toBeNull();
    expect(chatCalls()).toBe(calls + 1);
  });

  it("replays a refusal without moving any budget, and refuses an over-long key", async () => {
    const client = proxy.client(KEY);
    const before = await appSpend();
    const bad = { model: "gpt-4o-mini", messages: [] };
    await expect(client.chat.completions.create(bad, { headers: { "Idempotency-Key": "bad-1" } })).rejects.toMatchObject({ status: 400, param: "messages" });
    const again = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "idempotency-key": "bad-1" }, body: JSON.stringify(bad) });
    expect(again.status).toBe(400);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toMatchObject({ error: { param: "messages", type: "invalid_request_error" } });
    await expect(client.chat.completions.create(hi, { headers: { "Idempotency-Key": "k".repeat(256) } })).rejects.toMatchObject({ status: 400, param: "idempotency-key" });
    expect(await appSpend()).toEqual(before);
  });
});
