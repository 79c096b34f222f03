import { randomUUID } from "node:crypto";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { MemoryBudgetStore } from "../../src/budget/memory.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Calendar windows in a non-UTC zone with a fake clock. Each request costs exactly 25,200 nano-USD
 * (8 prompt tokens × $0.15/M + 40 output × $0.60/M) and is estimated at the same, so the key's
 * budgets admit exactly 3 requests a day and 4 a month.
 */

const ZONE = "America/Los_Angeles";
const KEY = "sk-window-test";
/** Milliseconds of a wall-clock time in Los Angeles (UTC-8 in winter, UTC-7 in summer). */
const la = (iso: string, offsetHours: number) => Date.parse(`${iso}Z`) + offsetHours * 3600_000;

let upstream: FakeUpstream;
const prefix = uniquePrefix();

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 8, completion_tokens: 40 } }));
});

afterAll(async () => {
  await upstream?.close();
  await cleanPrefix(prefix);
});

for (const storeKind of ["memory", "redis"] as const) {
  describe(`budget windows in ${ZONE} (${storeKind} store)`, () => {
    /**
     * A proxy of the test's own (its own clock, store and key prefix), stopped when the test ends:
     * each test spends what it needs itself, whatever ran before it.
     */
    async function freshProxy(start: number) {
      const clock = new ManualClock(start);
      const config = testConfig(upstream.baseUrl, {
        store: storeKind === "redis" ? { redis_url: redisUrl(), key_prefix: `${prefix}${storeKind}:${randomUUID().slice(0, 8)}:` } : {},
        keys: [{ id: "app", key: KEY }],
        admin_key: "sk-window-admin",
        budgets: { timezone: ZONE, keys: { app: { daily: 0.000078, monthly: 0.00011 } } },
      });
      const proxy = await startTestProxy(config, { clock, store: storeKind === "memory" ? new MemoryBudgetStore(clock) : undefined });
      onTestFinished(() => proxy.shutdown());
      const client = proxy.client(KEY);
      const ask = () =>
        client.chat.completions
          .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 40 })
          .then(() => 200)
          .catch((e: InstanceType<typeof OpenAI.APIError>) => e);
      return { clock, proxy, ask };
    }

    /** Spends the day's whole budget on January 30 (three requests) and one more request on the 31st: four in January. */
    async function spendJanuary({ clock, ask }: Awaited<ReturnType<typeof freshProxy>>) {
      clock.set(la("2026-01-30T10:00:00", 8));
      expect([await ask(), await ask(), await ask()]).toEqual([200, 200, 200]);
      clock.set(la("2026-01-31T00:00:01", 8));
      expect(await ask()).toBe(200);
    }

    it("closes the day at the local midnight, not at UTC's", async () => {
      const { clock, ask } = await freshProxy(la("2026-01-30T10:00:00", 8));
      expect([await ask(), await ask(), await ask()]).toEqual([200, 200, 200]);
      const refused = await ask();
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      const err = refused as InstanceType<typeof OpenAI.APIError>;
      expect(err.message).toContain("daily budget of key app");
      // 10:00 to local midnight is 14 hours.
      expect(Number(err.headers?.get("retry-after"))).toBe(14 * 3600);

      // 17:00 in Los Angeles is 01:00 UTC on the next day: still the same local day.
      clock.set(la("2026-01-30T17:00:00", 8));
      expect(await ask()).toBeInstanceOf(OpenAI.RateLimitError);
    });

    it("opens a new day after the local midnight and stops at the month's limit", async () => {
      const { clock, ask } = await freshProxy(la("2026-01-30T10:00:00", 8));
      // January 30: the day's budget, three requests, spent.
      expect([await ask(), await ask(), await ask()]).toEqual([200, 200, 200]);
      clock.set(la("2026-01-31T00:00:01", 8));
      expect(await ask()).toBe(200);
      const refused = (await ask()) as InstanceType<typeof OpenAI.APIError>;
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      expect(refused.message).toContain("monthly budget of key app");
      // From 00:00:01 on January 31 to February 1, local time.
      expect(Number(refused.headers?.get("retry-after"))).toBe(24 * 3600 - 1);
    });

    it("starts a new month at the local month's end", async () => {
      const fresh = await freshProxy(la("2026-01-30T10:00:00", 8));
      await spendJanuary(fresh);
      const { clock, ask } = fresh;
      clock.set(la("2026-01-31T23:59:59", 8));
      expect(await ask()).toBeInstanceOf(OpenAI.RateLimitError);
      clock.set(la("2026-02-01T00:00:00", 8));
      expect(await ask()).toBe(200);
    });

    it("reports the spend of the current windows", async () => {
      const fresh = await freshProxy(la("2026-01-30T10:00:00", 8));
      await spendJanuary(fresh);
      const { clock, ask, proxy } = fresh;
      clock.set(la("2026-02-01T00:00:00", 8));
      expect(await ask()).toBe(200);
      const res = await fetch(`${proxy.url}/v1/costs/alerts`, { headers: { authorization: "Bearer sk-window-admin" } });
      const body = await res.json();
      const key = body.scopes.find((s: { scope: string; id: string }) => s.scope === "key" && s.id === "app");
      // January's spend is in January's windows, not in February's.
      expect(key.windows.daily).toMatchObject({ window: "2026-02-01", spent: 0.0000252 });
      expect(key.windows.monthly).toMatchObject({ window: "2026-02", spent: 0.0000252 });
    });
  });
}
