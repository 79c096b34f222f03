import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { testConfig } from "../../test/support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import { MemoryLogger } from "../log.js";
import type { Counter, ReserveRequest, SettleRequest } from "./interface.js";
import { LEASE_FRACTION } from "./lease-slices.js";
import { Leases } from "./leases.js";
import { RedisBudgetStore } from "./redis.js";
import { Settler } from "./settle.js";
import { AlertNotifier } from "./alerts.js";

/**
 * Budget leases on real Redis: reserves made in memory against a slice taken in one script, settles
 * that move each cost out of the slice, slices that go back, the exact path when too little is left,
 * and a dead replica's slices charged whole.
 */

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const DAY_END = Date.UTC(2026, 10, 27);
const prefixes: string[] = [];
const stores: RedisBudgetStore[] = [];
const redis = new Redis(redisUrl());

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  redis.disconnect();
  for (const p of prefixes) await cleanPrefix(p);
});

function setup(limit = 1_000_000) {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const clock = new ManualClock(T0);
  const store = async (replica: string) => {
    const s = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix, leases: { replica, now: () => clock.now() } });
    stores.push(s);
    await s.waitUntilReady(5000);
    return s;
  };
  const counter: Counter = { id: "c:key:k:d:2026-11-26", limit, windowEnd: DAY_END };
  const key = (id: string) => `${prefix}{tg}:${id}`;
  const reserve = (s: RedisBudgetStore, id: string, amount: number): Promise<unknown> =>
    s.reserve({ requestId: id, amount, counters: [counter], expiresAt: clock.now() + 30_000, now: clock.now(), meta: `{"request_id":"${id}"}` } satisfies ReserveRequest);
  const settle = (s: RedisBudgetStore, id: string, actual: number) =>
    s.settle({ requestId: id, actual, counters: [counter], thresholds: [], record: null, day: "2026-11-26", aggregates: [], now: clock.now() } satisfies SettleRequest);
  const value = async () => Number((await redis.get(key(counter.id))) ?? 0);
  const holds = () => redis.hgetall(key("hold-data"));
  return { clock, store, counter, reserve, settle, value, holds, key };
}

describe("budget leases", () => {
  it("reserves in memory against one slice, and settles move each cost out of it", async () => {
    const { store, reserve, settle, value, holds } = setup();
    const s = await store("a");
    for (let i = 0; i < 10; i++) expect(await reserve(s, `r${i}`, 1000)).toEqual({ ok: true });
    // One slice for all ten: four times the first request, never a hold per request.
    const leased = Object.entries(await holds());
    expect(leased.map(([id]) => id)).toEqual(["lease:a:1", "lease:a:2", "lease:a:3"]);
    const slices = leased.map(([, v]) => Number(v.split(" ")[0]));
    expect(await value()).toBe(slices.reduce((a, b) => a + b, 0));
    for (let i = 0; i < 10; i++) await settle(s, `r${i}`, 300);
    await s.close();
    stores.pop();
    // Every slice went back: the counter is what the requests cost, exactly.
    expect(await value()).toBe(10 * 300);
    expect(await holds()).toEqual({});
  });

  it("counts a settle once when it comes again after its first, made under the lease", async () => {
    const { store, reserve, settle, value } = setup();
    const s = await store("a");
    await reserve(s, "once", 1000);
    const leased = await value();
    expect((await settle(s, "once", 300)).applied).toBe(true);
    // The repeat no longer finds the hold on the slice: it is looked for over every bucket and refused.
    expect((await settle(s, "once", 300)).applied).toBe(false);
    await s.close();
    stores.pop();
    expect(await value()).toBe(300);
    expect(leased).toBeGreaterThan(300);
  });

  it("never takes more than its fraction of what is left, and reserves in Redis when that is too little", async () => {
    const { store, reserve, value, holds } = setup(100_000);
    const s = await store("a");
    await reserve(s, "big", 3000);
    // Wanted 12,000; a tenth of the 100,000 left is 10,000.
    expect(await value()).toBe(100_000 * LEASE_FRACTION);
    const tight = setup(20_000);
    const t = await tight.store("b");
    // A tenth of 20,000 is less than two requests of 1,500: the request holds in Redis, under its own id.
    expect(await tight.reserve(t, "exact", 1500)).toEqual({ ok: true });
    expect(Object.keys(await tight.holds())).toEqual(["exact"]);
    expect(await tight.value()).toBe(1500);
    expect(Object.keys(await holds())).toEqual(["lease:a:1"]);
  });

  it("keeps a request past its slice as a hold of its own (a background response's)", async () => {
    const { clock, store, reserve, holds, value } = setup();
    const s = await store("a");
    await reserve(s, "bg", 1000);
    const before = await value();
    await s.keep("bg", clock.now() + 3600_000);
    const after = await holds();
    expect(after.bg).toBe(`1000 {"request_id":"bg"}`);
    expect(Number(after["lease:a:1"]!.split(" ")[0])).toBe(4000 - 1000);
    expect(await value()).toBe(before);
  });

  it("charges a dead replica's slice whole, with no record, when its lease runs out", async () => {
    const { clock, store, reserve, value, holds } = setup();
    const dead = await store("dead");
    await reserve(dead, "lost", 1000);
    const charged = await value();
    // The replica dies: nothing goes back, nothing renews its lease.
    dead.redis.disconnect();
    stores.splice(stores.indexOf(dead), 1);
    const live = await store("live");
    const logger = new MemoryLogger();
    const settler = new Settler(live, new AlertNotifier(logger, ""), logger, clock, []);
    const leases = new Leases(live, settler, testConfig("http://upstream.test/v1"), clock, logger);
    clock.advance(31_000);
    expect(await leases.chargeExpired()).toBe(1);
    expect(await holds()).toEqual({});
    expect(await value()).toBe(charged);
    expect(await live.usageRecords(10)).toEqual([]);
    expect(logger.lines.find((l) => l.event === "budget_slice_charged")).toMatchObject({ lease: "lease:dead:1", amount_nano: 4000 });
  });
});
