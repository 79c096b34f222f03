import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import type { HistogramStore } from "../budget/interface.js";
import { MemoryBudgetStore } from "../budget/memory.js";
import { RedisBudgetStore } from "../budget/redis.js";
import { ManualClock } from "../clock.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import { BUCKETS, bucketOf, priorHistogram, scoreAtTopShare, ShareTracker, thresholdsFor, tierForScore, type ShareWindow } from "./share.js";

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const MINUTE = 60_000;
/** The default window: 10 minutes in 10 slots, a sync every 5 s, 200 scores before the window stands alone. */
const WINDOW: ShareWindow = { windowMs: 10 * MINUTE, slots: 10, syncMs: 5000, minSamples: 200 };
const TARGET = { premium: 0.2, standard: 0.3 };
/** A model whose training scores were spread evenly over [0, 1]. */
const UNIFORM = Array.from({ length: 101 }, (_, i) => i / 100);

const prefixes: string[] = [];
const redisStores: RedisBudgetStore[] = [];
afterAll(async () => {
  for (const s of redisStores) await s.close();
  for (const p of prefixes) await cleanPrefix(p);
});

async function redisStore(prefix = uniquePrefix()): Promise<RedisBudgetStore> {
  if (!prefixes.includes(prefix)) prefixes.push(prefix);
  const store = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix });
  redisStores.push(store);
  expect(await store.waitUntilReady(5000)).toBe(true);
  return store;
}

/** n scores evenly spread over [lo, hi): their quantiles are known exactly. */
const spread = (n: number, lo: number, hi: number) => Array.from({ length: n }, (_, i) => lo + ((i + 0.5) * (hi - lo)) / n);

describe("thresholds from a histogram", () => {
  it("finds the score above which a share of the mass lies, reading each bucket as evenly filled", () => {
    const h = new Float64Array(BUCKETS);
    h[bucketOf(0.8)] = 10; // bucket [0.8, 0.8001)
    h[bucketOf(0.5)] = 30;
    h[bucketOf(0.1)] = 60;
    expect(scoreAtTopShare(h, 0.1)).toBeCloseTo(0.8, 12);
    // 5 of the 10 in the top bucket: half-way down it.
    expect(scoreAtTopShare(h, 0.05)).toBeCloseTo(0.8 + 0.5 / BUCKETS, 12);
    // 10 + 15 of 30: half-way down the middle bucket.
    expect(scoreAtTopShare(h, 0.25)).toBeCloseTo(0.5 + 0.5 / BUCKETS, 12);
    expect(scoreAtTopShare(h, 0)).toBe(Infinity);
    expect(scoreAtTopShare(h, 1)).toBe(0);
    expect(scoreAtTopShare(new Float64Array(BUCKETS), 0.2)).toBe(0);
  });

  it("gives the premium threshold at the premium share, the standard one at premium + standard", () => {
    const h = new Float64Array(BUCKETS);
    for (const s of spread(10_000, 0, 1)) h[bucketOf(s)]! += 1;
    const t = thresholdsFor(h, TARGET);
    expect(t.premium).toBeCloseTo(0.8, 4);
    expect(t.standard).toBeCloseTo(0.5, 4);
    expect([0.81, 0.8, 0.79, 0.5, 0.49].map((s) => tierForScore(s, t))).toEqual(["premium", "premium", "standard", "standard", "economy"]);
  });

  it("spreads a prior over the model's training quantiles", () => {
    const prior = priorHistogram(UNIFORM, 200);
    expect(prior.reduce((a, b) => a + b, 0)).toBeCloseTo(200, 9);
    expect(thresholdsFor(prior, TARGET).premium).toBeCloseTo(0.8, 2);
  });
});

describe("ShareTracker", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("starts from the model's own score distribution", () => {
    const tracker = new ShareTracker(new MemoryBudgetStore(new ManualClock(T0)), new ManualClock(T0), TARGET, UNIFORM, WINDOW);
    expect(tracker.thresholds().premium).toBeCloseTo(0.8, 2);
    expect(tracker.thresholds().standard).toBeCloseTo(0.5, 2);
  });

  it("follows the scores it routes, once they outnumber the prior", async () => {
    const clock = new ManualClock(T0);
    const tracker = new ShareTracker(new MemoryBudgetStore(clock), clock, TARGET, UNIFORM, WINDOW);
    // Traffic scores between 0.1 and 0.3: a fifth of it above 0.26, half above 0.2.
    for (const s of spread(1000, 0.1, 0.3)) tracker.observe(s);
    await tracker.sync();
    expect(tracker.windowCount).toBe(1000);
    expect(tracker.thresholds().premium).toBeCloseTo(0.26, 3);
    expect(tracker.thresholds().standard).toBeCloseTo(0.2, 3);
  });

  it("blends the prior in while the window holds fewer than min_samples scores", async () => {
    const clock = new ManualClock(T0);
    const tracker = new ShareTracker(new MemoryBudgetStore(clock), clock, TARGET, UNIFORM, WINDOW);
    for (const s of spread(100, 0.1, 0.3)) tracker.observe(s);
    await tracker.sync();
    // 100 real scores in [0.1, 0.3) and 100 prior ones over [0, 1]: the top fifth (40) all come from the prior.
    expect(tracker.thresholds().premium).toBeCloseTo(0.6, 1);
  });

  it("forgets scores older than the window: the thresholds follow a change in traffic", async () => {
    const clock = new ManualClock(T0);
    const tracker = new ShareTracker(new MemoryBudgetStore(clock), clock, TARGET, UNIFORM, WINDOW);
    for (const s of spread(1000, 0.1, 0.3)) tracker.observe(s);
    await tracker.sync();
    expect(tracker.thresholds().premium).toBeCloseTo(0.26, 3);

    // Traffic moves up to [0.5, 0.7). Half a window later both are in the window.
    clock.advance(5 * MINUTE);
    for (const s of spread(1000, 0.5, 0.7)) tracker.observe(s);
    await tracker.sync();
    expect(tracker.windowCount).toBe(2000);
    expect(tracker.thresholds().premium).toBeCloseTo(0.62, 3);
    expect(tracker.thresholds().standard).toBeCloseTo(0.5, 3);

    // A whole window after the first scores, only the new ones count.
    clock.advance(5 * MINUTE);
    await tracker.sync();
    expect(tracker.windowCount).toBe(1000);
    expect(tracker.thresholds().premium).toBeCloseTo(0.66, 3);
  });

  it("keeps the counts a failed sync could not store, and sends them with the next one", async () => {
    const clock = new ManualClock(T0);
    const memory = new MemoryBudgetStore(clock);
    let down = true;
    const errors: unknown[] = [];
    const flaky: HistogramStore = {
      addToHistogram: (key, counts, ttl) => (down ? Promise.reject(new Error("store down")) : memory.addToHistogram(key, counts, ttl)),
      histograms: (keys) => memory.histograms(keys),
    };
    const tracker = new ShareTracker(flaky, clock, TARGET, UNIFORM, WINDOW, (err) => errors.push(err));
    for (const s of spread(500, 0.1, 0.3)) tracker.observe(s);
    await tracker.sync();
    await tracker.sync();
    // Reported once per outage, not at every sync.
    expect(errors).toHaveLength(1);
    expect(tracker.thresholds().premium).toBeCloseTo(0.8, 2);
    down = false;
    await tracker.sync();
    expect(tracker.windowCount).toBe(500);
    expect(tracker.thresholds().premium).toBeCloseTo(0.26, 3);
  });

  it("syncs at start and then every sync_ms, off the request path", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const clock = new ManualClock(T0);
    const memory = new MemoryBudgetStore(clock);
    const tracker = new ShareTracker(memory, clock, TARGET, UNIFORM, WINDOW);
    tracker.start();
    for (const s of spread(1000, 0.1, 0.3)) tracker.observe(s);
    expect(tracker.thresholds().premium).toBeCloseTo(0.8, 2);
    await vi.advanceTimersByTimeAsync(WINDOW.syncMs);
    expect(tracker.windowCount).toBe(1000);
    expect(tracker.thresholds().premium).toBeCloseTo(0.26, 3);
    tracker.stop();
    for (const s of spread(1000, 0.5, 0.7)) tracker.observe(s);
    await vi.advanceTimersByTimeAsync(10 * WINDOW.syncMs);
    expect(tracker.windowCount).toBe(1000);
  });
});

describe("HistogramStore", () => {
  for (const [name, make] of [
    ["memory", async (clock: ManualClock) => new MemoryBudgetStore(clock)],
    ["redis", async () => redisStore()],
  ] as const) {
    it(`${name}: adds counts bucket by bucket and reads several histograms at once`, async () => {
      const clock = new ManualClock(T0);
      const store = await make(clock);
      await store.addToHistogram("h1", new Map([[1, 2], [7, 1]]), MINUTE);
      await store.addToHistogram("h1", new Map([[7, 3], [9999, 1]]), MINUTE);
      await store.addToHistogram("h2", new Map([[0, 5]]), MINUTE);
      expect(await store.histograms(["h1", "missing", "h2"])).toEqual([new Map([[1, 2], [7, 4], [9999, 1]]), new Map(), new Map([[0, 5]])]);
    });
  }

  it("memory: a histogram expires ttl after its last addition", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryBudgetStore(clock);
    await store.addToHistogram("h", new Map([[1, 1]]), MINUTE);
    clock.advance(MINUTE - 1);
    await store.addToHistogram("h", new Map([[1, 1]]), MINUTE);
    clock.advance(MINUTE - 1);
    expect(await store.histograms(["h"])).toEqual([new Map([[1, 2]])]);
    clock.advance(1);
    expect(await store.histograms(["h"])).toEqual([new Map()]);
  });

  it("redis: a histogram carries the ttl of its last addition", async () => {
    const prefix = uniquePrefix();
    const store = await redisStore(prefix);
    await store.addToHistogram("h", new Map([[1, 1]]), 10 * MINUTE);
    const redis = new Redis(redisUrl());
    try {
      const ttl = await redis.pttl(`${prefix}{tg}:h:h`);
      expect(ttl).toBeGreaterThan(9 * MINUTE);
      expect(ttl).toBeLessThanOrEqual(10 * MINUTE);
    } finally {
      redis.disconnect();
    }
  });
});

describe("replicas sharing one window through Redis", () => {
  it("agree on the thresholds of everyone's traffic, though each sees a different part of it", async () => {
    const prefix = uniquePrefix();
    const clock = new ManualClock(T0);
    const replicas = await Promise.all([0, 1, 2].map(async () => new ShareTracker(await redisStore(prefix), clock, TARGET, UNIFORM, WINDOW)));
    // Replica i routes the scores in [i/3, (i+1)/3): alone, each would put its own top fifth in premium.
    replicas.forEach((r, i) => {
      for (const s of spread(1000, i / 3, (i + 1) / 3)) r.observe(s);
    });
    for (const r of replicas) await r.sync();
    // The first replicas to sync saw only part of the traffic; one more round and all see all of it.
    for (const r of replicas) await r.sync();
    for (const r of replicas) {
      expect(r.windowCount).toBe(3000);
      expect(r.thresholds().premium).toBeCloseTo(0.8, 3);
      expect(r.thresholds().standard).toBeCloseTo(0.5, 3);
    }
    // Together the three route 20 % to premium and 30 % to standard; the highest replica alone 60 % to premium.
    const all = [0, 1, 2].flatMap((i) => spread(1000, i / 3, (i + 1) / 3));
    const tiers = all.map((s) => tierForScore(s, replicas[0]!.thresholds()));
    expect(tiers.filter((t) => t === "premium").length / all.length).toBeCloseTo(0.2, 2);
    expect(tiers.filter((t) => t === "standard").length / all.length).toBeCloseTo(0.3, 2);
    expect(spread(1000, 2 / 3, 1).filter((s) => tierForScore(s, replicas[2]!.thresholds()) === "premium").length).toBe(600);
  });
});
