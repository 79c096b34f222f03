import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { windowsAt } from "../../src/budget/window.js";
import { ManualClock } from "../../src/clock.js";
import { countTextTokens } from "../../src/tokens/count.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, startTestProxy, testConfig, testConfigInput, writeConfigFile, type ProxyProcess, type TestProxy } from "../support/proxy.js";
import { freePort } from "../support/ports.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** Fallbacks, cut-off streams, overload and the request log. */

const KEY = "sk-resilience-key";
const prefix = uniquePrefix();
let upstream: FakeUpstream;
let proxy: TestProxy;
let client: OpenAI;
const hi = [{ role: "user" as const, content: "hi" }];
const modelsAsked = (from: number) => upstream.requests.slice(from).map((r) => r.body.model);
/** The in-process proxies' clock: a fixed instant, so budget days do not depend on when the suite runs. */
const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
const today = windowsAt(clock.now(), "UTC").day;

/**
 * An upstream that holds every request until the test lets it answer: what is in flight at the
 * upstream, and what has been answered, is decided by the test, not by timing.
 */
async function startGatedUpstream() {
  const held: ServerResponse[] = [];
  let received = 0;
  let open = false;
  const answer = (res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        id: "chatcmpl-gated",
        object: "chat.completion",
        created: 1_700_000_000,
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "let through" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 10, completion_tokens: 5 },
      }),
    );
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      if (open) answer(res);
      else held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    /** Requests that reached this upstream so far. */
    get received() {
      return received;
    },
    /** Requests waiting for an answer. */
    get waiting() {
      return held.length;
    },
    /** Answers every request held, and from now on every request at once. */
    openGate() {
      open = true;
      for (const res of held.splice(0)) answer(res);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startTestProxy(
    testConfig(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "app", key: KEY }],
    }),
    { clock },
  );
  client = proxy.client(KEY);
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

beforeEach(() => {
  upstream.behave = () => ({ kind: "json" });
});

describe("fallback within the tier", () => {
  it("tries the tier's next model after an upstream 503, reserving the budget once", async () => {
    upstream.behave = (req) => (req.body.model === "gpt-4o-mini" ? { kind: "error", status: 503 } : { kind: "json", usage: { prompt_tokens: 10, completion_tokens: 5 } });
    const keyDaily = [`c:key:app:d:${today}`];
    const [spentBefore] = await proxy.services.store.spent(keyDaily);
    const from = upstream.requests.length;
    const { data, response } = await client.chat.completions.create({ model: "auto", messages: hi }).withResponse();
    expect(modelsAsked(from)).toEqual(["gpt-4o-mini", "claude-3-haiku-20240307"]);
    expect(data.model).toBe("claude-3-haiku-20240307");
    expect(response.headers.get("x-tollgate-route")).toBe("fallback");
    expect(response.headers.get("x-tollgate-fallback")).toBe("gpt-4o-mini,claude-3-haiku");
    const cost = Math.round(Number(response.headers.get("x-tollgate-cost")) * 1e9);
    expect(cost).toBe(10 * 250 + 5 * 1250);
    // Charged once, at the model that answered: the key's day grew by exactly the cost.
    const [spent] = await proxy.services.store.spent(keyDaily);
    expect(spent! - spentBefore!).toBe(cost);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record).toMatchObject({ routed_model: "claude-3-haiku", fallback_from: ["gpt-4o-mini"], route: "fallback", status: 200 });
  });

  it("does not retry a 4xx other than 429: that is the client's problem", async () => {
    upstream.behave = () => ({ kind: "error", status: 422 });
    const from = upstream.requests.length;
    const error = await client.chat.completions.create({ model: "auto", messages: hi }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect(modelsAsked(from)).toEqual(["gpt-4o-mini"]);
  });

  it("passes the last upstream error on when every model of the tier failed", async () => {
    upstream.behave = () => ({ kind: "error", status: 500, body: { error: { message: "all down", type: "server_error", param: null, code: null } } });
    const globalDaily = [`c:global::d:${today}`];
    const spentBefore = await proxy.services.store.spent(globalDaily);
    const from = upstream.requests.length;
    const error = await client.chat.completions.create({ model: "auto", messages: hi }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.message).toContain("all down");
    expect(modelsAsked(from)).toEqual(["gpt-4o-mini", "claude-3-haiku-20240307"]);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record).toMatchObject({ status: 500, cost_nano: 0 });
    // Both reservations were released: a failed request costs nothing.
    expect(await proxy.services.store.spent(globalDaily)).toEqual(spentBefore);
  });

  it("falls back after a refused connection and after a headers timeout", async () => {
    const refused = await freePort();
    const input = testConfigInput(upstream.baseUrl);
    input.upstreams.openai = { base_url: `http://127.0.0.1:${refused}/v1`, timeout_ms: 5000 };
    // Only the headers timeout can end the wait for gpt-4o: the total timeout is longer than the test's.
    input.upstreams.slow = { base_url: upstream.baseUrl, timeout_ms: 600_000, headers_timeout_ms: 300 };
    input.models["gpt-4o"].upstream = "slow";
    const other = await startTestProxy(testConfig(upstream.baseUrl, { upstreams: input.upstreams, models: input.models }), { clock });
    try {
      const from = upstream.requests.length;
      const first = await other.client().chat.completions.create({ model: "gpt-4o-mini", messages: hi }).withResponse();
      expect(first.response.headers.get("x-tollgate-fallback")).toBe("gpt-4o-mini,claude-3-haiku");
      expect(modelsAsked(from)).toEqual(["claude-3-haiku-20240307"]);

      upstream.behave = (req) => (req.body.model === "gpt-4o" ? { kind: "hang" } : { kind: "json" });
      const hangingFrom = upstream.requests.length;
      const second = await other.client().chat.completions.create({ model: "gpt-4o", messages: hi }, { headers: { "x-tollgate-tier": "standard" } }).withResponse();
      expect(second.response.headers.get("x-tollgate-fallback")).toBe("gpt-4o,claude-3-sonnet");
      expect(modelsAsked(hangingFrom)).toEqual(["gpt-4o", "claude-3-5-sonnet-20241022"]);
      // The proxy gave up on the request that never answered and closed it.
      const hanging = upstream.requests[hangingFrom]!;
      await expect.poll(() => hanging.aborted, { timeout: 10_000 }).toBe(true);
      expect(hanging.finished).toBe(false);
    } finally {
      await other.shutdown();
    }
  });
});

describe("cool-downs shared across replicas", () => {
  let replicas: ProxyProcess[] = [];
  const sharedPrefix = uniquePrefix();

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await cleanPrefix(sharedPrefix);
  });

  it("skips a model whose upstream said retry-after, on another replica too", async () => {
    upstream.behave = (req) =>
      req.body.model === "gpt-4o-mini" ? { kind: "error", status: 429, headers: { "retry-after": "30" } } : { kind: "json" };
    const file = writeConfigFile(testConfigInput(upstream.baseUrl, { store: { redis_url: redisUrl(), key_prefix: sharedPrefix } }));
    replicas = await Promise.all([spawnProxy(file), spawnProxy(file)]);
    const [a, b] = replicas.map((r) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: "x", maxRetries: 0 }));
    let from = upstream.requests.length;
    const first = await a!.chat.completions.create({ model: "auto", messages: hi }).withResponse();
    expect(modelsAsked(from)).toEqual(["gpt-4o-mini", "claude-3-haiku-20240307"]);
    expect(first.response.headers.get("x-tollgate-route")).toBe("fallback");

    from = upstream.requests.length;
    const second = await b!.chat.completions.create({ model: "auto", messages: hi }).withResponse();
    expect(modelsAsked(from)).toEqual(["claude-3-haiku-20240307"]);
    expect(second.response.headers.get("x-tollgate-route")).toBe("fallback");
    expect(second.response.headers.get("x-tollgate-fallback")).toBe("gpt-4o-mini,claude-3-haiku");
  }, 60_000);
});

describe("cut-off streams", () => {
  it("raises an error in the SDK when the upstream connection breaks, and bills the partial answer", async () => {
    upstream.behave = () => ({ kind: "stream", pieces: ["one ", "two ", "three ", "four "], cutAfter: 2, delayMs: 30 });
    const { data: stream, response } = await client.chat.completions.create({ model: "auto", messages: hi, stream: true }).withResponse();
    let text = "";
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    })().catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.message).toMatch(/upstream (connection broke|stream ended)/);
    expect(text).toBe("one two ");
    const id = response.headers.get("x-request-id");
    // The SDK raises on the error event; the settle follows it.
    await expect.poll(async () => (await proxy.services.store.usageRecords(5)).some((r) => r.request_id === id)).toBe(true);
    const record = (await proxy.services.store.usageRecords(5)).find((r) => r.request_id === id)!;
    // Billed: the prompt and the text that reached the client, counted locally.
    expect(record).toMatchObject({ status: 502, usage_source: "estimated", output_tokens: await countTextTokens("one two ", "o200k_base") });
    expect(record.cost_nano).toBeGreaterThan(0);
  });

  it("treats a stream that ends without [DONE] as cut off", async () => {
    upstream.behave = () => ({ kind: "stream", noDone: true, usage: null });
    const stream = await client.chat.completions.create({ model: "auto", messages: hi, stream: true });
    const error = await (async () => {
      for await (const _ of stream);
    })().catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.message).toContain("ended before it was complete");
  });
});

describe("overload", () => {
  it("answers a fast 503 with retry-after past the in-flight and queue caps", async () => {
    const gated = await startGatedUpstream();
    const input = testConfigInput(gated.baseUrl);
    input.upstreams.openai = { ...input.upstreams.openai, max_in_flight: 2, max_queued: 2 };
    const small = await startTestProxy(testConfig(gated.baseUrl, { upstreams: input.upstreams, routing: { fallback: false } }), { clock });
    try {
      const results: Array<{ status: number; retryAfter: string | null; body: any }> = [];
      const all = Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${small.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "gpt-4o-mini", messages: hi }) }).then(async (res) => {
            results.push({ status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() });
          }),
        ),
      );
      // The upstream answers nothing yet: two requests in flight there, two queued in the proxy,
      // and the other sixteen turned away without waiting for any of them.
      await expect.poll(() => results.length, { timeout: 10_000 }).toBe(16);
      await expect.poll(() => gated.waiting, { timeout: 10_000 }).toBe(2);
      for (const r of results) {
        expect(r.status).toBe(503);
        expect(r.body.error.code).toBe("overloaded");
        expect(r.retryAfter).toBe("1");
      }
      expect(gated.received).toBe(2);

      // Once the upstream answers, the two in flight and the two queued are served.
      gated.openGate();
      await all;
      const served = results.slice(16);
      expect(served.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(results.filter((r) => r.status === 503)).toHaveLength(16);
      expect(gated.received).toBe(4);
    } finally {
      await small.shutdown();
      await gated.close();
    }
  });
});

describe("request log", () => {
  it("writes one JSON line per request with ids, never the key or the content", async () => {
    const secret = "the secret question about zebras";
    const before = proxy.logger.lines.length;
    const { response } = await client.chat.completions.create({ model: "auto", messages: [{ role: "user", content: secret }] }).withResponse();
    const lines = proxy.logger.lines.slice(before).filter((l) => l.event === "request");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ request_id: response.headers.get("x-request-id"), key_id: "app", tier: "economy", model: "gpt-4o-mini", status: 200, fallback_from: [] });
    expect(typeof lines[0]!.latency_ms).toBe("number");
    expect(typeof lines[0]!.cost_usd).toBe("number");
    const all = JSON.stringify(proxy.logger.lines);
    expect(all).not.toContain(KEY);
    expect(all).not.toContain("zebras");
  });
});
