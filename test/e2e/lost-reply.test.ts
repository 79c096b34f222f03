import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisBudgetStore } from "../../src/budget/redis.js";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import { startOwnRedis, type OwnRedis } from "../support/own-redis.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";

/**
 * A reserve whose reply is lost (Redis busy past the command timeout) may still run in Redis.
 * The proxy answers 503 and gives the hold back by id once Redis answers: no orphan hold.
 */

let redis: OwnRedis;
let upstream: FakeUpstream;
let proxy: TestProxy;
let store: RedisBudgetStore;

beforeAll(async () => {
  redis = await startOwnRedis();
  upstream = await startUpstream();
  const config = testConfig(upstream.baseUrl, { store: { redis_url: redis.url, key_prefix: "lost:" }, budgets: { global: { daily: 10 } } });
  store = new RedisBudgetStore({ url: redis.url, keyPrefix: "lost:", commandTimeoutMs: 100 });
  expect(await store.waitUntilReady(5000)).toBe(true);
  proxy = await startTestProxy(config, { store, clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) });
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await redis?.stop();
});

/** Keeps Redis busy for `ms` (one script runs at a time, so every other command waits). */
const BUSY = `local t = redis.call('TIME') local start = t[1] * 1000000 + t[2]
repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) * 1000 return 1`;

describe("a reserve whose reply was lost", () => {
  it("answers 503 and releases the hold by id once Redis answers", async () => {
    const blocker = new Redis(redis.url);
    try {
      // On the store's own connection, so Redis runs it before the reserve that follows (it times out
      // at the client like the reserve will, and runs on in Redis all the same).
      const busy = store.redis.eval(BUSY, 0, "800").catch(() => "gave up waiting");
      const res = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(res.status).toBe(503);
      expect((await res.json()).error.code).toBe("budget_store_unavailable");
      await busy;
      await expect.poll(() => proxy.services.settler.backlog, { timeout: 10_000 }).toBe(0);
      const { config, clock, windows } = proxy.services;
      const counters = countersFor(scopesFor(config.budgets, null, null), windows.at(clock.now()));
      // The reserve ran in Redis after its reply was given up on; the release undid it.
      expect(await blocker.keys("lost:{tg}:settled:*")).toHaveLength(1);
      expect(await store.spent(counters.map((c) => c.id))).toEqual(counters.map(() => 0));
      expect(await blocker.zcard("lost:{tg}:holds")).toBe(0);
      expect(upstream.requests.length).toBe(0);
    } finally {
      blocker.disconnect();
    }
  }, 30_000);
});
