import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import { SETTLED_BUCKET_MS, SETTLED_MEMORY_MS, type SettleRequest } from "./interface.js";
import { RedisBudgetStore } from "./redis.js";

/**
 * Settled markers in bounded memory (scripts.ts): sets per time bucket and shard of the id's SHA-1,
 * looked for over the last day's buckets, expiring whole. Buckets follow Redis' own clock, so the
 * test reads it (TIME) and places markers in the buckets it means.
 */

const prefix = uniquePrefix();
const store = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix });
beforeAll(() => store.waitUntilReady(5000));
afterAll(async () => {
  await store.close();
  await cleanPrefix(prefix);
});

const counter = { id: "c:markers:d:2026-11-26", limit: null, windowEnd: Date.UTC(2026, 10, 27) };
const settle = (requestId: string, actual = 10): SettleRequest => ({ requestId, actual, counters: [counter], thresholds: [], record: null, day: "2026-11-26", aggregates: [], now: Date.UTC(2026, 10, 26, 12) });

/** Where the script keeps `id`'s marker: its shard and member. */
function markerOf(id: string): { shard: string; member: string } {
  const sha = createHash("sha1").update(id).digest("hex");
  return { shard: sha.slice(0, 4), member: String(parseInt(sha.slice(4, 17), 16)) };
}

async function currentBucket(): Promise<number> {
  const [seconds, micros] = await store.redis.time();
  return Math.floor((Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)) / SETTLED_BUCKET_MS);
}

const markerKey = (bucket: number, shard: string) => `${prefix}{tg}:settled:${bucket}:${shard}`;

describe("settled markers", () => {
  it("are members of the current bucket's set of the id's shard, kept as an intset, not keys of their own", async () => {
    expect((await store.settle(settle("m-1"))).applied).toBe(true);
    const { shard, member } = markerOf("m-1");
    const key = markerKey(await currentBucket(), shard);
    expect(await store.redis.sismember(key, member)).toBe(1);
    expect(await store.redis.object("ENCODING", key)).toBe("intset");
    expect(await store.redis.exists(`${prefix}{tg}:settled:m-1`)).toBe(0);
    expect((await store.settle(settle("m-1"))).applied).toBe(false);
  });

  it("are found in any bucket of the last day, and forgotten past it", async () => {
    const bucket = await currentBucket();
    const buckets = SETTLED_MEMORY_MS / SETTLED_BUCKET_MS;
    const recent = markerOf("m-recent");
    const old = markerOf("m-old");
    await store.redis.sadd(markerKey(bucket - buckets, recent.shard), recent.member);
    await store.redis.sadd(markerKey(bucket - buckets - 2, old.shard), old.member);
    expect((await store.settle(settle("m-recent"))).applied).toBe(false);
    expect((await store.settle(settle("m-old"))).applied).toBe(true);
    const [spent] = await store.spent([counter.id]);
    expect(spent).toBe(20);
  });

  it("of a batch settled before are taken back with the batch, as the old markers were", async () => {
    await store.settle(settle("m-2"));
    const [again, fresh] = await Promise.all([store.settle(settle("m-2")), store.settle(settle("m-3"))]);
    expect([again.applied, fresh.applied]).toEqual([false, true]);
    const { shard, member } = markerOf("m-3");
    expect(await store.redis.sismember(markerKey(await currentBucket(), shard), member)).toBe(1);
  });

  it("of a first settle under a lease are looked for from the bucket before its hold's, and always in the current one", async () => {
    const bucket = await currentBucket();
    const heldAt = bucket * SETTLED_BUCKET_MS + 1000;
    for (const [id, back] of [["m-held-1", 1], ["m-held-2", 2], ["m-whole-day", 2]] as const) {
      const { shard, member } = markerOf(id);
      await store.redis.sadd(markerKey(bucket - back, shard), member);
    }
    // A settle can only follow its hold: the bucket before the hold's allows for the clocks' difference.
    expect((await store.settle({ ...settle("m-held-1"), heldAt })).applied).toBe(false);
    expect((await store.settle({ ...settle("m-held-2"), heldAt })).applied).toBe(true);
    // Without the hold's time (a retry, a replay), the whole memory is searched.
    expect((await store.settle(settle("m-whole-day"))).applied).toBe(false);
    // A replica whose clock runs ahead of Redis' still finds what the current bucket holds.
    const ahead = (bucket + 10) * SETTLED_BUCKET_MS;
    expect((await store.settle({ ...settle("m-ahead"), heldAt: ahead })).applied).toBe(true);
    expect((await store.settle({ ...settle("m-ahead"), heldAt: ahead })).applied).toBe(false);
  });
});
