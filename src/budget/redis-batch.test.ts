import { createHash } from "node:crypto";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../clock.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import type { UsageRecord } from "../usage/record.js";
import { COUNTER_GRACE_MS, SETTLED_BUCKET_MS, SETTLED_MEMORY_MS, type Counter, type SettleRequest } from "./interface.js";
import { MemoryBudgetStore } from "./memory.js";
import { Batcher, MAX_BATCH, reserveCall, settleCall } from "./redis-batch.js";
import { RedisBudgetStore } from "./redis.js";

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const DAY_END = Date.UTC(2026, 10, 27);
const key = (id: string) => `p{tg}:${id}`;

const shared: Counter = { id: "c:global::d:2026-11-26", limit: 10_000, windowEnd: DAY_END };
const teamA: Counter = { id: "c:team:a:d:2026-11-26", limit: 3_000, windowEnd: DAY_END };
const teamB: Counter = { id: "c:team:b:d:2026-11-26", limit: null, windowEnd: DAY_END };

describe("Batcher with a delay", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A batcher whose script calls are recorded and answered at once. */
  function recording(delayMs: number) {
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>(async (requests) => {
      calls.push(requests);
      return requests.map((r) => r * 2);
    }, undefined, delayMs);
    return { calls, batcher };
  }

  it("sends the calls of several turns in one batch once the delay is over", async () => {
    vi.useFakeTimers();
    const { calls, batcher } = recording(10);
    const first = batcher.add(1);
    await vi.advanceTimersByTimeAsync(4);
    const second = batcher.add(2);
    await vi.advanceTimersByTimeAsync(4);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(calls).toEqual([[1, 2]]);
    expect(await Promise.all([first, second])).toEqual([2, 4]);
  });

  it("sends at once what waits when asked to be idle, and a full batch without waiting", async () => {
    vi.useFakeTimers();
    const { calls, batcher } = recording(10);
    const waiting = batcher.add(7);
    await batcher.idle();
    expect(calls).toEqual([[7]]);
    expect(await waiting).toBe(14);
    const full = Array.from({ length: MAX_BATCH }, (_, i) => batcher.add(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.length).toBe(2);
    expect(calls[1]!.length).toBe(MAX_BATCH);
    await Promise.all(full);
  });
});

describe("batch layout", () => {
  it("lists each counter once and gives each request its indexes", () => {
    const call = reserveCall(
      [
        { requestId: "a", amount: 5, counters: [shared, teamA], expiresAt: T0 + 60_000, now: T0, meta: '{"a":1}' },
        { requestId: "b", amount: 7, counters: [shared, teamB], expiresAt: T0 + 60_000, now: T0, meta: "{}", cooldownKey: "cool:m" },
      ],
      key,
    );
    expect(call.keys).toEqual([key("holds"), key("hold-data"), key(shared.id), key(teamA.id), key(teamB.id), key("v:cool:m")]);
    const ttl = String(DAY_END + COUNTER_GRACE_MS - T0);
    expect(call.args).toEqual([
      "3", "1", "2", "2",
      "10000", ttl, "3000", ttl, "-1", ttl,
      "1,2", "1,3",
      `5 ${T0 + 60_000} 1 0 a`, '{"a":1}',
      `7 ${T0 + 60_000} 2 1 b`, "{}",
    ]);
  });

  it("gives each day its aggregate hash and the sums of the batch's rounded deltas", () => {
    const base: SettleRequest = { requestId: "a", actual: 3, counters: [shared], thresholds: [0.8, 1], record: null, day: "2026-11-26", aggregates: [["cost", 2.6], ["requests", 1]], now: T0 };
    const call = settleCall(
      [base, { ...base, requestId: "b", day: "2026-11-27", aggregates: [] }, { ...base, requestId: "c", counters: [shared, teamA], aggregates: [["cost", 4]], lease: "lease:r:1", heldAt: 6 * 40 + 5 }],
      key,
      { maxRecords: 10, aggregateTtlMs: 5, settled: { bucketMs: 6, buckets: 7 } },
    );
    expect(call.keys).toEqual([key("holds"), key("hold-data"), key("usage"), key(shared.id), key(teamA.id), key("agg:2026-11-26"), key("agg:2026-11-27")]);
    const ttl = String(DAY_END + COUNTER_GRACE_MS - T0);
    expect(call.args.slice(0, 15)).toEqual(["0.8,1", "10", "5", "6 7", key("settled:"), "2", "2", "2", "3", "10000", ttl, "3000", ttl, "1", "1,2"]);
    // Per day: its field count, then (field, sum) pairs.
    expect(call.args.slice(15, 21)).toEqual(["2", "cost", "7", "requests", "1", "0"]);
    // Per request: cost, list, lease, the first marker bucket to look in (0: all; the one before its hold's), id.
    expect(call.args.slice(21)).toEqual(["3 1 - 0 a", "", "3 1 - 0 b", "", "3 2 lease:r:1 39 c", ""]);
  });
});

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

describe("Redis batches behave as the same calls one by one", () => {
  const prefix = uniquePrefix();
  const redis = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix });
  const memory = new MemoryBudgetStore(new ManualClock(T0));
  afterAll(async () => {
    await redis.close();
    await cleanPrefix(prefix);
  });

  /** Many calls at once (one batch in Redis, one after another in memory); both stores must agree on every answer. */
  async function both<T>(run: (store: RedisBudgetStore | MemoryBudgetStore) => Promise<T>): Promise<T> {
    const [fromRedis, fromMemory] = await Promise.all([run(redis), run(memory)]);
    expect(fromRedis).toEqual(fromMemory);
    return fromRedis;
  }

  it("reserves, refuses, settles, alerts and records alike", async () => {
    expect(await redis.waitUntilReady(5000)).toBe(true);
    const sets = [[shared, teamA], [shared, teamB], [shared]];
    const reserved = await both((store) =>
      Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          store.reserve({ requestId: `r${i}`, amount: 100 + 37 * i, counters: sets[i % 3]!, expiresAt: T0 + 60_000, now: T0, meta: `{"i":${i}}` }),
        ),
      ),
    );
    expect(reserved.some((r) => r.ok)).toBe(true);
    expect(reserved.some((r) => !r.ok)).toBe(true);
    const ids = [shared, teamA, teamB].map((c) => c.id);
    await both((store) => store.spent(ids));

    // Settles in one batch: real costs above and below the estimates, a duplicate, one never reserved, one release.
    const settles: SettleRequest[] = reserved.map((_, i) => ({
      requestId: `r${i}`,
      actual: i % 4 === 0 ? 0 : 60 + 53 * i,
      counters: sets[i % 3]!,
      thresholds: [0.5, 0.8, 1],
      record: i % 4 === 0 ? null : record(`r${i}`, 60 + 53 * i),
      day: i % 5 === 0 ? "2026-11-25" : "2026-11-26",
      aggregates: i % 4 === 0 ? [] : [["requests", 1], ["cost", 60 + 53 * i], [`team:${i % 3}:cost`, 60 + 53 * i]],
      now: T0,
    }));
    // The first half in one batch with nothing settled before (the batch's sums are used as they are)...
    const firstHalf = await both((store) => Promise.all(settles.slice(0, 20).map((s) => store.settle(s))));
    expect(firstHalf.every((s) => s.applied)).toBe(true);
    await both((store) => store.aggregates(["2026-11-25", "2026-11-26"]));
    // ...the rest with repeats of settled ones and one never reserved (the sums are redone without the repeats).
    const rest = [...settles.slice(20), { ...settles[1]! }, { ...settles[25]! }, { ...settles[2]!, requestId: "never-reserved" }];
    const settled = await both((store) => Promise.all(rest.map((s) => store.settle(s))));
    expect(settled.filter((s) => !s.applied)).toHaveLength(2);
    expect([...firstHalf, ...settled].flatMap((s) => s.crossed).length).toBeGreaterThan(0);
    await both((store) => store.spent(ids));
    await both((store) => store.aggregates(["2026-11-25", "2026-11-26"]));
    await both((store) => store.usageRecords(100));
    await both((store) => store.expiredHolds(T0 + 120_000, 100));
  });

  it("gives counters, reservations, markers and aggregates their times to live", async () => {
    const counter: Counter = { id: "c:ttl:d:2026-11-26", limit: 1000, windowEnd: DAY_END };
    // TTLs are relative to the request's `now`, so the fixture's own instant gives the same TTLs on any date.
    const now = T0;
    await redis.reserve({ requestId: "t", amount: 10, counters: [counter], expiresAt: now + 60_000, now, meta: "{}" });
    const ttl = (id: string) => redis.redis.pttl(`${prefix}{tg}:${id}`);
    const near = (ms: number, expected: number) => expect(Math.abs(ms - expected)).toBeLessThan(10_000);
    near(await ttl(counter.id), DAY_END + COUNTER_GRACE_MS - now);
    // A hold has no time to live of its own: it leaves when settled or charged, never silently.
    expect(await ttl("hold-data")).toBe(-1);
    await redis.settle({ requestId: "t", actual: 5, counters: [counter], thresholds: [], record: null, day: "2026-11-26", aggregates: [["requests", 1]], now });
    near(await ttl(counter.id), DAY_END + COUNTER_GRACE_MS - now);
    // The request's settled marker is in the current bucket's set, which outlives the bucket by the memory.
    const shard = createHash("sha1").update("t").digest("hex").slice(0, 4);
    const markers = await redis.redis.keys(`${prefix}{tg}:settled:*:${shard}`);
    expect(markers).toHaveLength(1);
    const markerTtl = await redis.redis.pttl(markers[0]!);
    expect(markerTtl).toBeGreaterThan(SETTLED_MEMORY_MS);
    expect(markerTtl).toBeLessThanOrEqual(SETTLED_MEMORY_MS + SETTLED_BUCKET_MS);
    expect(await ttl("agg:2026-11-26")).toBeGreaterThan(300 * 24 * 3600 * 1000);
  });
});
