import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type Behavior, type FakeUpstream, type Received } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";

/** The wire, exact: what reaches the upstream and what comes back, byte for byte where it matters. */

let upstream: FakeUpstream;
let behave: (req: Received) => Behavior = () => ({ kind: "json" });
const proxies: TestProxy[] = [];
const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));

beforeAll(async () => {
  upstream = await startUpstream((req) => behave(req));
});

afterAll(async () => {
  for (const p of proxies) await p.shutdown();
  await upstream?.close();
});

async function proxyWith(overrides: Record<string, unknown> = {}): Promise<TestProxy> {
  const proxy = await startTestProxy(testConfig(upstream.baseUrl, overrides), { clock });
  proxies.push(proxy);
  return proxy;
}

describe("what reaches the upstream", () => {
  it("keeps integers beyond 2^53 as the client wrote them", async () => {
    behave = () => ({ kind: "json" });
    const proxy = await proxyWith();
    await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"model":"auto","messages":[{"role":"user","content":"hi"}],"seed":9007199254740993}',
    });
    expect(upstream.requests.at(-1)!.text).toContain('"seed":9007199254740993');
  });

  it("passes reasoning_effort to a model not marked reasoning", async () => {
    const proxy = await proxyWith();
    await proxy.client().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], reasoning_effort: "low" });
    expect(upstream.requests.at(-1)!.body.reasoning_effort).toBe("low");
  });

  it("keeps the exact model asked for when x-tollgate-tier is its own tier", async () => {
    const proxy = await proxyWith();
    const { response } = await proxy.client().chat.completions.create({ model: "o3-mini", messages: [{ role: "user", content: "hi" }] }, { headers: { "x-tollgate-tier": "premium" } }).withResponse();
    expect(response.headers.get("x-tollgate-model")).toBe("o3-mini");
  });
});

describe("what comes back", () => {
  it("passes the upstream's rate-limit headers on success", async () => {
    behave = () => ({ kind: "json", headers: { "x-ratelimit-remaining-requests": "42", "x-request-id": "req_up" } });
    const proxy = await proxyWith();
    const { response } = await proxy.client().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("42");
    expect(response.headers.get("x-upstream-request-id")).toBe("req_up");
    expect(response.headers.get("x-request-id")).toMatch(/^chatcmpl-tg-/);
  });

  it("answers a body over the limit with a 413 the SDK sees, every time", async () => {
    const proxy = await proxyWith({ server: { host: "127.0.0.1", port: 0, body_limit_mb: 0.5 } });
    const client = proxy.client();
    for (let i = 0; i < 5; i++) {
      const err = await client.chat.completions.create({ model: "auto", messages: [{ role: "user", content: "x".repeat(4 * 1024 * 1024) }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    }
  });

  it("drops an event cut in the middle before the error event, so the SDK raises an API error", async () => {
    // An upstream that stops in the middle of its second event.
    const cutter: Server = createServer((_, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"whole"}}]}\n\n');
      res.write('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"trunc');
      setImmediate(() => res.destroy());
    });
    await new Promise<void>((resolve) => cutter.listen(0, "127.0.0.1", resolve));
    try {
      const proxy = await startTestProxy(testConfig(`http://127.0.0.1:${(cutter.address() as AddressInfo).port}/v1`, { routing: { fallback: false } }), { clock });
      proxies.push(proxy);
      const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true }) });
      const text = await res.text();
      expect(text).not.toContain("trunc");
      expect(text).toMatch(/\n\ndata: \{"error":\{"message":"the upstream/);
      const stream = await proxy.client().chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true });
      await expect(async () => {
        for await (const _ of stream) void _;
      }).rejects.toBeInstanceOf(OpenAI.APIError);
    } finally {
      cutter.closeAllConnections();
      await new Promise((r) => cutter.close(r));
    }
  });
});

describe("one plan per candidate", () => {
  it("fits and prices the body again for the model a fallback moves to", async () => {
    // The tier's first model has a large window and fails; the second has a small one.
    behave = (req) => (req.body.model === "big" ? { kind: "error", status: 503 } : { kind: "json" });
    const proxy = await proxyWith({
      models: {
        big: { upstream: "openai", tier: "economy", price: { input: 0.1, output: 0.1 }, context_window: 100_000, max_output_tokens: 1000 },
        tiny: { upstream: "openai", tier: "economy", price: { input: 0.1, output: 0.1 }, context_window: 6_000, max_output_tokens: 1000 },
      },
      tiers: { economy: ["big", "tiny"] },
    });
    const messages = Array.from({ length: 21 }, (_, i) => ({ role: i % 2 === 0 ? ("user" as const) : ("assistant" as const), content: `turn ${i} `.repeat(180) }));
    const { response } = await proxy.client().chat.completions.create({ model: "auto", messages, max_tokens: 500 }).withResponse();
    expect(response.headers.get("x-tollgate-model")).toBe("tiny");
    expect(response.headers.get("x-tollgate-route")).toBe("fallback");
    const sentToTiny = upstream.requests.at(-1)!;
    expect(sentToTiny.body.model).toBe("tiny");
    expect(sentToTiny.body.messages.length).toBeLessThan(21);
    expect(Number(response.headers.get("x-tollgate-context-dropped"))).toBe(21 - sentToTiny.body.messages.length);
    const sentToBig = upstream.requests.at(-2)!;
    expect(sentToBig.body.messages).toHaveLength(21);
  });
});

describe("the seed's POST /v1/chat", () => {
  it("answers through the same pipeline in the seed's shape", async () => {
    behave = () => ({ kind: "json", content: "Paris.", usage: { prompt_tokens: 20, completion_tokens: 2 } });
    const proxy = await proxyWith();
    const res = await fetch(`${proxy.url}/v1/chat`, { method: "POST", body: JSON.stringify({ prompt: "Could you please name the capital of France?", system_prompt: "Be brief.", optimize_prompt: true, max_tier: "economy" }) });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ response: "Paris.", model: "gpt-4o-mini", tier: "economy", tokens: { input: 20, output: 2 } });
    expect(body.cost).toBeCloseTo((20 * 0.15 + 2 * 0.6) / 1e6, 12);
    const sent = upstream.requests.at(-1)!.body;
    expect(sent.messages[0]).toEqual({ role: "system", content: "Be brief." });
    expect(sent.messages[1].content).not.toMatch(/Could you please/);
    const records = await proxy.services.store.usageRecords(1);
    expect(records[0]).toMatchObject({ endpoint: "chat.completions", output_tokens: 2 });
  });

  it("refuses a body without a prompt, in the OpenAI format", async () => {
    const proxy = await proxyWith();
    const res = await fetch(`${proxy.url}/v1/chat`, { method: "POST", body: JSON.stringify({ system_prompt: "x" }) });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: "invalid_request", param: "prompt" });
  });
});
