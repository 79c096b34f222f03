import { afterAll, describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import type { BudgetStore, Counter, SettleRequest } from "./interface.js";
import { MemoryBudgetStore } from "./memory.js";
import { RedisBudgetStore } from "./redis.js";
import type { UsageRecord } from "../usage/record.js";

/** One contract, run against every BudgetStore implementation. */

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const DAY_END = Date.UTC(2026, 10, 27);
const prefixes: string[] = [];
const stores: BudgetStore[] = [];

afterAll(async () => {
  for (const s of stores) await s.close();
  for (const p of prefixes) await cleanPrefix(p);
});

const implementations: Array<[string, (clock: ManualClock) => BudgetStore]> = [
  ["memory", (clock) => new MemoryBudgetStore(clock)],
  [
    "redis",
    () => {
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      return new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix });
    },
  ],
];

function counters(limits: Array<number | null>): Counter[] {
  return limits.map((limit, i) => ({ id: `c:test:${i}:d:2026-11-26`, limit, windowEnd: DAY_END }));
}

function record(id: string, cost: number): UsageRecord {
  return {
    time: new Date(T0).toISOString(), request_id: id, key_id: "k", team: null, request_type: "chat", tier: "economy",
    requested_model: "auto", routed_model: "m", route: "default", fallback_from: [], stream: false, status: 200,
    input_tokens: 1, cached_tokens: 0, output_tokens: 1, usage_source: "upstream", estimated_cost_nano: cost,
    cost_nano: cost, requested_model_cost_nano: cost * 2, cache_hit: false, optimizer_saved_tokens: 0, optimizer_saved_nano: 0,
    context_dropped_messages: 0, context_dropped_tokens: 0, context_saved_nano: 0, output_limit: null, output_capped: null, latency_ms: 1,
    endpoint: "chat.completions", priced: true, compressed_tokens: 0, compress_saved_nano: 0,
  };
}

function settleRequest(id: string, actual: number, cs: Counter[], extra: Partial<SettleRequest> = {}): SettleRequest {
  return { requestId: id, actual, counters: cs, thresholds: [0.8, 1], record: null, day: "2026-11-26", aggregates: [], now: T0, ...extra };
}

for (const [name, make] of implementations) {
  describe(`BudgetStore contract: ${name}`, () => {
    const setup = async () => {
      const clock = new ManualClock(T0);
      const store = make(clock);
      stores.push(store);
      if (store instanceof RedisBudgetStore) expect(await store.waitUntilReady(5000)).toBe(true);
      return { clock, store };
    };

    it("adds rate windows together or not at all, and takes corrections unchecked", async () => {
      const { store } = await setup();
      const w = (key: string, amount: number, limit?: number) => ({ key, amount, ttlMs: 60_000, ...(limit === undefined ? {} : { limit }) });
      expect(await store.takeRate([w("r", 1, 2), w("t", 500, 1000)])).toEqual({ ok: true, counts: [1, 500] });
      // The tokens window would go over: the request window is not counted either.
      expect(await store.takeRate([w("r", 1, 2), w("t", 600, 1000)])).toEqual({ ok: false, index: 1, count: 500 });
      expect(await store.takeRate([w("t", -400)])).toEqual({ ok: true, counts: [100] });
      expect(await store.takeRate([w("r", 1, 2), w("t", 600, 1000)])).toEqual({ ok: true, counts: [2, 700] });
      expect(await store.takeRate([w("r", 1, 2)])).toEqual({ ok: false, index: 0, count: 2 });
    });

    it("reserves when every counter fits and refuses, changing nothing, when one does not", async () => {
      const { store } = await setup();
      const cs = counters([1000, 500, null]);
      expect(await store.reserve({ requestId: "a", amount: 400, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" })).toEqual({ ok: true });
      expect(await store.spent(cs.map((c) => c.id))).toEqual([400, 400, 400]);
      const refused = await store.reserve({ requestId: "b", amount: 200, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" });
      // The least room any limited counter has left: what a smaller request could still take.
      expect(refused).toEqual({ ok: false, counter: 1, spent: 400, room: 100 });
      expect(await store.spent(cs.map((c) => c.id))).toEqual([400, 400, 400]);
      // Exactly reaching the limit is allowed.
      expect((await store.reserve({ requestId: "c", amount: 100, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" })).ok).toBe(true);
    });

    it("settles by replacing the reservation with the real cost, once", async () => {
      const { store } = await setup();
      const cs = counters([1000]);
      await store.reserve({ requestId: "r", amount: 300, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" });
      const first = await store.settle(settleRequest("r", 120, cs, { record: record("r", 120), aggregates: [["requests", 1], ["cost", 120]] }));
      expect(first.applied).toBe(true);
      expect(await store.spent([cs[0]!.id])).toEqual([120]);
      const again = await store.settle(settleRequest("r", 120, cs, { record: record("r", 120), aggregates: [["requests", 1], ["cost", 120]] }));
      expect(again.applied).toBe(false);
      expect(await store.spent([cs[0]!.id])).toEqual([120]);
      expect((await store.usageRecords(10)).map((r) => r.request_id)).toEqual(["r"]);
      expect((await store.aggregates(["2026-11-26"]))["2026-11-26"]).toEqual({ requests: 1, cost: 120 });
    });

    it("releases a reservation with a zero settle", async () => {
      const { store } = await setup();
      const cs = counters([1000]);
      await store.reserve({ requestId: "r", amount: 300, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" });
      await store.settle(settleRequest("r", 0, cs));
      expect(await store.spent([cs[0]!.id])).toEqual([0]);
    });

    it("keeps a hold whose lease ran out until it is settled, and lists it with its amount and meta", async () => {
      const { store } = await setup();
      const cs = counters([1000]);
      await store.reserve({ requestId: "lost", amount: 900, counters: cs, expiresAt: T0 + 1000, now: T0, meta: '{"who":"lost"}' });
      await store.reserve({ requestId: "live", amount: 50, counters: cs, expiresAt: T0 + 1000, now: T0, meta: "{}" });
      await store.renew(["live", "never-reserved"], T0 + 60_000);
      const later = T0 + 2000;
      // Nothing is given back on its own: the amount stays counted, never dropped.
      expect((await store.reserve({ requestId: "next", amount: 100, counters: cs, expiresAt: later + 1000, now: later, meta: "{}" })).ok).toBe(false);
      expect(await store.spent([cs[0]!.id])).toEqual([950]);
      expect(await store.expiredHolds(later, 10)).toEqual([{ requestId: "lost", amount: 900, meta: '{"who":"lost"}' }]);
      // Charged at its amount: the counter keeps it, the hold leaves, and a second charge changes nothing.
      expect((await store.settle(settleRequest("lost", 900, cs))).applied).toBe(true);
      expect((await store.settle(settleRequest("lost", 900, cs))).applied).toBe(false);
      expect(await store.spent([cs[0]!.id])).toEqual([950]);
      expect(await store.expiredHolds(later, 10)).toEqual([]);
      // A renewal after the settle does not bring the hold back.
      await store.renew(["lost"], later + 60_000);
      expect(await store.expiredHolds(later + 120_000, 10)).toEqual([{ requestId: "live", amount: 50, meta: "{}" }]);
    });

    it("raises each alert threshold once per counter and window", async () => {
      const { store } = await setup();
      const cs = counters([1000, null]);
      await store.reserve({ requestId: "a", amount: 100, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" });
      expect((await store.settle(settleRequest("a", 850, cs))).crossed).toEqual([{ counter: 0, threshold: 0.8, spent: 850 }]);
      await store.reserve({ requestId: "b", amount: 10, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" });
      expect((await store.settle(settleRequest("b", 10, cs))).crossed).toEqual([]);
      await store.reserve({ requestId: "c", amount: 100, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" });
      expect((await store.settle(settleRequest("c", 200, cs))).crossed).toEqual([{ counter: 0, threshold: 1, spent: 1060 }]);
    });

    it("raises an alert at the request that crosses it when settles arrive together", async () => {
      const { store } = await setup();
      const cs = counters([1000, 3000]);
      // Made in one turn: on Redis one script call, whose alerts are checked request by request.
      const results = await Promise.all([1, 2, 3, 4, 5].map((i) => store.settle(settleRequest(`t${i}`, 300, cs))));
      expect(results.map((r) => r.crossed)).toEqual([[], [], [{ counter: 0, threshold: 0.8, spent: 900 }], [{ counter: 0, threshold: 1, spent: 1200 }], []]);
      // Past both thresholds already: nothing is raised again.
      expect((await Promise.all([store.settle(settleRequest("t6", 10, cs)), store.settle(settleRequest("t7", 10, cs))])).map((r) => r.crossed)).toEqual([[], []]);
      expect(await store.spent(cs.map((c) => c.id))).toEqual([1520, 1520]);
    });

    it("never lets concurrent reservations exceed a limit", async () => {
      const { store } = await setup();
      const cs = counters([1000, 5000]);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.reserve({ requestId: `p${i}`, amount: 37, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}" })),
      );
      const granted = results.filter((r) => r.ok).length;
      expect(granted).toBe(Math.floor(1000 / 37));
      expect(await store.spent(cs.map((c) => c.id))).toEqual([granted * 37, granted * 37]);
    });

    it("reserves nothing for a model that is cooling down", async () => {
      const { store } = await setup();
      const cs = counters([1000]);
      await store.setValue("cool:m", "1", 60_000);
      expect(await store.reserve({ requestId: "c", amount: 10, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}", cooldownKey: "cool:m" })).toEqual({ ok: false, cooling: true });
      expect(await store.spent([cs[0]!.id])).toEqual([0]);
      expect((await store.reserve({ requestId: "d", amount: 10, counters: cs, expiresAt: T0 + 60_000, now: T0, meta: "{}", cooldownKey: "cool:other" })).ok).toBe(true);
    });

    it("keeps usage records newest first and shared values with a time to live", async () => {
      const { store, clock } = await setup();
      const cs = counters([null]);
      for (const id of ["one", "two", "three"]) await store.settle(settleRequest(id, 1, cs, { record: record(id, 1) }));
      expect((await store.usageRecords(2)).map((r) => r.request_id)).toEqual(["three", "two"]);
      expect(await store.setValue("k", "v1", 60_000, true)).toBe(true);
      expect(await store.setValue("k", "v2", 60_000, true)).toBe(false);
      expect(await store.getValue("k")).toBe("v1");
      expect(await store.getValue("missing")).toBeNull();
      await store.deleteValue("k");
      expect(await store.getValue("k")).toBeNull();
      expect(await store.setValue("k", "v3", 60_000, true)).toBe(true);
      if (store.kind === "memory") {
        clock.advance(61_000);
        expect(await store.getValue("k")).toBeNull();
      }
      await store.deleteValue("never-set");
    });
  });
}

describe("MemoryBudgetStore's usage records", () => {
  it("lists at most the newest `maxRecords`, trimming in steps rather than at every record", async () => {
    const store = new MemoryBudgetStore(new ManualClock(T0), 8);
    const cs = counters([null]);
    for (let i = 1; i <= 20; i++) await store.settle(settleRequest(`r${i}`, 1, cs, { record: record(`r${i}`, 1) }));
    expect((await store.usageRecords(100)).map((r) => r.request_id)).toEqual(["r20", "r19", "r18", "r17", "r16", "r15", "r14", "r13"]);
    expect((await store.usageRecords(3)).map((r) => r.request_id)).toEqual(["r20", "r19", "r18"]);
    expect(await store.usageRecords(0)).toEqual([]);
  });
});
