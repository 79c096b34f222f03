import OpenAI from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, startTestProxy, testConfig, testConfigInput, writeConfigFile, type ProxyProcess, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Requests and tokens per minute, shared through Redis: the request past `rpm` gets OpenAI's 429
 * with its headers, which the SDK retries once the minute turns; tokens are counted at their worst
 * case and corrected to what was used.
 */

/** 100 ms before a minute ends: a refusal's retry comes 100 ms later. */
const T0 = Date.UTC(2026, 5, 15, 12, 0, 59, 900);

describe("rate limits", () => {
  const prefix = uniquePrefix();
  const clock = new ManualClock(T0);
  let upstream: FakeUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 10, completion_tokens: 5 } }));
    proxy = await startTestProxy(
      testConfig(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix },
        keys: [
          { id: "slow", key: "sk-slow", team: "research" },
          { id: "thrifty", key: "sk-thrifty", team: "research" },
        ],
        routing: { client_model: "pin" },
        budgets: { keys: { slow: { rpm: 5, daily: 10 }, thrifty: { tpm: 1000 } } },
      }),
      { clock },
    );
  });

  afterAll(async () => {
    await proxy?.shutdown();
    await upstream?.close();
    await cleanPrefix(prefix);
  });

  const chat = (key: string, extra: Record<string, unknown> = {}) =>
    fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 50, ...extra }),
    });
  const spent = async (keyId: string) => {
    const counters = countersFor(scopesFor(proxy.services.config.budgets, keyId, "research"), proxy.services.windows.at(clock.now()));
    return proxy.services.store.spent(counters.map((c) => c.id));
  };

  it("refuses the request past rpm with OpenAI's 429 and headers, moving no budget, and the SDK retries it", async () => {
    for (let i = 0; i < 5; i++) expect((await chat("sk-slow")).status).toBe(200);
    const before = await spent("slow");
    const asked = upstream.requests.length;
    const refused = await chat("sk-slow");
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { code: "rate_limit_exceeded", type: "requests", message: expect.stringMatching(/5 requests per minute \(rpm\)/) } });
    expect(refused.headers.get("x-ratelimit-limit-requests")).toBe("5");
    expect(refused.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(refused.headers.get("retry-after-ms")).toBe("100");
    // Not a budget's refusal: the SDKs may retry it.
    expect(refused.headers.get("x-should-retry")).toBeNull();
    expect(upstream.requests.length).toBe(asked);
    expect(await spent("slow")).toEqual(before);

    // The SDK waits as told and asks again; by then the minute has turned (the clock moves with each refusal).
    const statuses: number[] = [];
    const client = new OpenAI({
      baseURL: `${proxy.url}/v1`,
      apiKey: "sk-slow",
      maxRetries: 2,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        statuses.push(res.status);
        if (res.status === 429) clock.advance(60_000);
        return res;
      },
    });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "again" }], max_tokens: 50 });
    expect(statuses).toEqual([429, 200]);
    expect(upstream.requests.length).toBe(asked + 1);
  });

  it("counts tokens at their worst case, then corrects them to what was used", async () => {
    // 600 tokens of output held, plus the prompt: a second such request does not fit in 1,000 while the first runs.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.behave = () => ({ kind: "json", usage: { prompt_tokens: 10, completion_tokens: 5 }, bodyAfter: gate });
    const first = chat("sk-thrifty", { max_tokens: 600 });
    await expect.poll(() => upstream.requests.length > 0 && upstream.requests.at(-1)!.body.max_tokens === 600).toBe(true);
    const second = await chat("sk-thrifty", { max_tokens: 600 });
    expect(second.status).toBe(429);
    expect(second.headers.get("x-ratelimit-limit-tokens")).toBe("1000");
    release();
    expect((await first).status).toBe(200);
    upstream.behave = () => ({ kind: "json", usage: { prompt_tokens: 10, completion_tokens: 5 } });
    // The first used 15 tokens: its count was corrected, so the same request fits now.
    await expect.poll(async () => (await chat("sk-thrifty", { max_tokens: 600 })).status).toBe(200);
  });
});

describe("rate limits across two replicas", () => {
  const prefix = uniquePrefix();
  let upstream: FakeUpstream;
  let replicas: ProxyProcess[] = [];

  beforeAll(async () => {
    upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 10, completion_tokens: 5 } }));
    const file = writeConfigFile(
      testConfigInput(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix, budget_leases: true },
        keys: [{ id: "shared", key: "sk-shared" }],
        routing: { client_model: "pin" },
        budgets: { keys: { shared: { rpm: 5 } } },
      }),
    );
    replicas = await Promise.all([0, 1].map(() => spawnProxy(file)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await upstream?.close();
    await cleanPrefix(prefix);
  });

  it("counts the requests of both replicas in one window", async () => {
    const ask = (i: number) =>
      fetch(`${replicas[i % 2]!.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer sk-shared", "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: `q${i}` }], max_tokens: 20 }),
      });
    const statuses = (await Promise.all(Array.from({ length: 12 }, (_, i) => ask(i)))).map((r) => r.status);
    const answered = statuses.filter((s) => s === 200).length;
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    // Both replicas counted in the same windows in Redis: every window holds at most the limit,
    // and together they hold every answered request, whichever replica took it.
    const redis = new Redis(redisUrl());
    try {
      const keys = await redis.keys(`${prefix}{tg}:rl:r:key:shared:*`);
      const counts = (await redis.mget(keys)).map((v) => Number(v));
      expect(keys.length).toBeGreaterThan(0);
      expect(Math.max(...counts)).toBeLessThanOrEqual(5);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(answered);
    } finally {
      redis.disconnect();
    }
    expect(answered).toBeGreaterThanOrEqual(5);
    expect(upstream.requests.length).toBe(statuses.filter((s) => s === 200).length);
  });
});
