import OpenAI from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { windowsAt } from "../../src/budget/window.js";
import type { UsageRecord } from "../../src/usage/record.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Three proxy processes on one Redis, several hundred concurrent requests, a small daily
 * budget: the budget holds. The upstream reports at most what the proxy estimated (a prompt
 * no longer than counted, exactly max_tokens of output), so the only slack the spec allows —
 * a real cost above its estimate — cannot occur here, and recorded spend must stay within the limit.
 */

const REQUESTS = 360;
const KEY = "sk-replica-test";
const prefix = uniquePrefix();
let upstream: FakeUpstream;
let replicas: ProxyProcess[] = [];

const nano = (usd: string | null) => Math.round(Number(usd) * 1e9);

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 8, completion_tokens: 40 } }));
  const file = writeConfigFile(
    testConfigInput(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "app", key: KEY, team: "research" }],
      // gpt-4o-mini: at most 8 × $0.15/M + 40 × $0.60/M = $0.0000252 a request; the key's budget fits about 100.
      budgets: { global: { daily: 1 }, teams: { research: { daily: 0.5 } }, keys: { app: { daily: 0.0025 } } },
    }),
  );
  replicas = await Promise.all([0, 1, 2].map(() => spawnProxy(file)));
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await upstream?.close();
  await cleanPrefix(prefix);
});

describe("budgets across replicas", () => {
  it("never spends past the daily budget under concurrent load on three replicas", async () => {
    const clients = replicas.map((r) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEY, maxRetries: 0 }));
    const results = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const client = clients[i % clients.length]!;
        try {
          const { response } = await client.chat.completions
            .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `request number ${i}` }], max_tokens: 40 })
            .withResponse();
          return { status: 200, id: response.headers.get("x-request-id")!, cost: nano(response.headers.get("x-tollgate-cost")) };
        } catch (err) {
          return { status: (err as InstanceType<typeof OpenAI.APIError>).status ?? 0, error: err as InstanceType<typeof OpenAI.APIError> };
        }
      }),
    );

    const ok = results.filter((r) => r.status === 200) as Array<{ id: string; cost: number }>;
    const refused = results.filter((r) => r.status === 429) as Array<{ error: InstanceType<typeof OpenAI.APIError> }>;
    const others = results.filter((r) => r.status !== 200 && r.status !== 429);
    expect(others.map((r) => (r as { error?: Error }).error?.message)).toEqual([]);
    expect(ok.length + refused.length).toBe(REQUESTS);
    expect(ok.length).toBeGreaterThan(50);
    expect(refused.length).toBeGreaterThan(100);

    for (const { error } of refused) {
      expect(error.error).toMatchObject({ type: "insufficient_quota", code: "budget_exceeded", param: null });
      expect(error.message).toMatch(/^429 daily budget of key app: \$0\.00\d+ spent of \$0\.0025 /);
      expect(error.headers?.get("x-should-retry")).toBe("false");
      expect(Number(error.headers?.get("retry-after"))).toBeGreaterThan(0);
    }

    const redis = new Redis(redisUrl());
    try {
      // An answer leaves before its settle lands: wait until no hold is left, then read.
      await expect.poll(() => redis.zcard(`${prefix}{tg}:holds`), { timeout: 10_000 }).toBe(0);
      const entries = await redis.xrange(`${prefix}{tg}:usage`, "-", "+");
      const records = entries.map(([, fields]) => JSON.parse(fields[1]!) as UsageRecord);
      const byId = new Map(records.map((r) => [r.request_id, r]));
      for (const r of ok) expect(byId.get(r.id)).toMatchObject({ status: 200, cost_nano: r.cost });
      expect(records.length).toBe(ok.length);

      // The replicas run on the system clock: each request was counted on the day it started (its
      // record's time), or on the next if midnight fell between its start and its hold. Every such
      // day's counter stays within the daily budget; together they hold exactly what was recorded.
      const days = [...new Set(records.flatMap((r) => [Date.parse(r.time), Date.parse(r.time) + 60_000]).map((t) => windowsAt(t, "UTC").day))];
      const limit = 0.0025e9;
      const perDay = await Promise.all(days.map(async (day) => Number(await redis.get(`${prefix}{tg}:c:key:app:d:${day}`))));
      for (const spend of perDay) expect(spend).toBeLessThanOrEqual(limit);
      const recordedSpend = perDay.reduce((a, b) => a + b, 0);
      // Nothing is left reserved: every request settled.
      expect(await redis.zcard(`${prefix}{tg}:holds`)).toBe(0);

      const sumOfResponses = ok.reduce((s, r) => s + r.cost, 0);
      expect(sumOfResponses).toBe(recordedSpend);
      expect(records.reduce((s, r) => s + r.cost_nano, 0)).toBe(recordedSpend);
      const overspend = Math.max(0, ...perDay.map((spend) => spend - limit));
      console.info(`replicas: ${ok.length} answered, ${refused.length} refused, spend ${recordedSpend} of ${limit} nano-USD a day over ${days.length} day(s) (overspend ${overspend})`);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
