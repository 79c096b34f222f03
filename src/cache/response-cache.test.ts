import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryBudgetStore } from "../budget/memory.js";
import { ManualClock } from "../clock.js";
import { ProxyError } from "../errors.js";
import type { ChatBody } from "../request/parse.js";
import { cacheApplies, readCacheHeader, ResponseCache, type CacheTicket } from "./response-cache.js";

const TTL_MS = 60_000;
/** Long enough that no test reaches a lock's deadline unless it means to. */
const LOCK_MS = 10_000;

/** A fixed instant: the store's expiries run on this manual clock, never on the wall clock. */
const T0 = Date.UTC(2026, 5, 15, 12);

/**
 * The cache waits between polls with setTimeout: only that is faked, so polls happen when the
 * test moves fake time, and a test's timing depends on nothing but the steps it takes.
 */
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Moves fake time on by `ms`, running every poll that falls due (and what each one awaits). */
const elapse = (ms: number) => vi.advanceTimersByTimeAsync(ms);

function setup(lockMs = LOCK_MS) {
  const clock = new ManualClock(T0);
  const store = new MemoryBudgetStore(clock);
  return { clock, store, cache: new ResponseCache(store, TTL_MS, lockMs) };
}

const signal = () => new AbortController().signal;

/** A promise whose state can be read without waiting for it. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise, settled: () => settled };
}

function body(extra: Partial<ChatBody> = {}): ChatBody {
  return { model: "auto", messages: [{ role: "user", content: "hi" }], ...extra };
}

describe("readCacheHeader", () => {
  it("reads on and off, in any case and with spaces around", () => {
    expect(readCacheHeader("on")).toBe("on");
    expect(readCacheHeader("off")).toBe("off");
    expect(readCacheHeader(" ON ")).toBe("on");
    expect(readCacheHeader("Off")).toBe("off");
  });

  it("gives undefined for a missing or empty header", () => {
    expect(readCacheHeader(undefined)).toBeUndefined();
    expect(readCacheHeader("")).toBeUndefined();
  });

  it.each(["yes", "true", "1", "hit", "on,off", "   "])("rejects %j as a 400 about x-tollgate-cache", (value) => {
    let error: unknown;
    try {
      readCacheHeader(value);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProxyError);
    expect(error).toMatchObject({ code: "invalid_request", status: 400, param: "x-tollgate-cache" });
  });
});

describe("cacheApplies", () => {
  it("applies to deterministic requests (temperature 0) without a header", () => {
    expect(cacheApplies(undefined, body({ temperature: 0 }))).toBe(true);
  });

  it("does not apply to other temperatures, or none, without a header", () => {
    expect(cacheApplies(undefined, body({ temperature: 0.7 }))).toBe(false);
    expect(cacheApplies(undefined, body())).toBe(false);
    expect(cacheApplies(undefined, body({ temperature: null }))).toBe(false);
  });

  it("applies whatever the temperature with the header on", () => {
    expect(cacheApplies("on", body({ temperature: 1.2 }))).toBe(true);
    expect(cacheApplies("on", body())).toBe(true);
  });

  it("never applies with the header off", () => {
    expect(cacheApplies("off", body({ temperature: 0 }))).toBe(false);
  });
});

describe("ResponseCache get and put", () => {
  it("misses, then returns what was put", async () => {
    const { cache } = setup();
    expect(await cache.get("k")).toBeNull();
    await cache.put("k", '{"id":"a"}');
    expect(await cache.get("k")).toBe('{"id":"a"}');
    expect(await cache.get("other")).toBeNull();
  });

  it("replaces an answer put again", async () => {
    const { cache } = setup();
    await cache.put("k", "first");
    await cache.put("k", "second");
    expect(await cache.get("k")).toBe("second");
  });

  it("forgets an answer after its time to live", async () => {
    const { cache, clock } = setup();
    await cache.put("k", "answer");
    clock.advance(TTL_MS - 1);
    expect(await cache.get("k")).toBe("answer");
    clock.advance(1);
    expect(await cache.get("k")).toBeNull();
  });

  it("shares answers with another replica over the same store", async () => {
    const { cache, store } = setup();
    const replica = new ResponseCache(store, TTL_MS, LOCK_MS);
    await cache.put("k", "answer");
    expect(await replica.get("k")).toBe("answer");
  });

  it("does not mistake the lock for an answer", async () => {
    const { cache } = setup();
    const ticket = await cache.acquire("k", signal());
    expect(await cache.get("k")).toBeNull();
    ticket.release();
  });
});

describe("ResponseCache acquire within one process", () => {
  it("makes the first caller the leader", async () => {
    const { cache } = setup();
    const ticket = await cache.acquire("k", signal());
    expect(ticket.leader).toBe(true);
    ticket.release();
  });

  it("makes concurrent callers for the same key wait for the leader's release, then not lead", async () => {
    const { cache } = setup();
    const leading = cache.acquire("k", signal());
    const followers = [track(cache.acquire("k", signal())), track(cache.acquire("k", signal()))];
    const leader = await leading;
    expect(leader.leader).toBe(true);
    // However long the leader takes, its followers wait for it.
    await elapse(LOCK_MS * 2);
    expect(followers.map((f) => f.settled())).toEqual([false, false]);
    await cache.put("k", "answer");
    leader.release();
    const tickets = await Promise.all(followers.map((f) => f.promise));
    expect(tickets.map((t) => t.leader)).toEqual([false, false]);
    expect(await cache.get("k")).toBe("answer");
  });

  it("does not make different keys wait for each other", async () => {
    const { cache } = setup();
    const a = await cache.acquire("a", signal());
    const b = await cache.acquire("b", signal());
    expect([a.leader, b.leader]).toEqual([true, true]);
    a.release();
    b.release();
  });

  it("lets a caller lead again once the released lock has lapsed", async () => {
    const { cache, clock } = setup();
    (await cache.acquire("k", signal())).release();
    clock.advance(1000);
    const again = await cache.acquire("k", signal());
    expect(again.leader).toBe(true);
    again.release();
  });

  it("does not leave followers waiting when the store fails", async () => {
    const { store } = setup();
    let fail = true;
    const flaky = Object.create(store) as MemoryBudgetStore;
    flaky.setValue = async (...args) => {
      if (fail) throw new Error("store down");
      return store.setValue(...args);
    };
    const cache = new ResponseCache(flaky, TTL_MS, LOCK_MS);
    const first = cache.acquire("k", signal());
    const follower = cache.acquire("k", signal());
    await expect(first).rejects.toThrow("store down");
    expect((await follower).leader).toBe(false);
    fail = false;
    const next = await cache.acquire("k", signal());
    expect(next.leader).toBe(true);
    next.release();
  });
});

describe("ResponseCache acquire across replicas", () => {
  async function leaderAndReplica(lockMs = LOCK_MS) {
    const { store, clock } = setup();
    const one = new ResponseCache(store, TTL_MS, lockMs);
    const two = new ResponseCache(store, TTL_MS, lockMs);
    const leader = await one.acquire("k", signal());
    expect(leader.leader).toBe(true);
    return { one, two, leader, clock, store };
  }

  /** Fake time well short of the lock's deadline: a few polls, no more. */
  const FEW_POLLS_MS = 200;

  it("polls while the other replica holds the lock and stops when it is released", async () => {
    const { two, leader } = await leaderAndReplica();
    const waiting = track(two.acquire("k", signal()));
    await elapse(LOCK_MS / 2);
    expect(waiting.settled()).toBe(false);
    leader.release();
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(true);
    const ticket: CacheTicket = await waiting.promise;
    expect(ticket.leader).toBe(false);
  });

  it("stops polling as soon as the other replica's answer is in the store", async () => {
    const { one, two, leader } = await leaderAndReplica();
    const waiting = track(two.acquire("k", signal()));
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(false);
    await one.put("k", "answer");
    // The lock is still held: only the answer can end the wait this early.
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(true);
    expect((await waiting.promise).leader).toBe(false);
    expect(await two.get("k")).toBe("answer");
    leader.release();
  });

  it("stops polling when the lock lapses", async () => {
    const { two, clock, leader } = await leaderAndReplica();
    const waiting = track(two.acquire("k", signal()));
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(false);
    // The store's clock passes the lock's expiry; the poller's own budget is far from spent.
    clock.advance(LOCK_MS);
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(true);
    expect((await waiting.promise).leader).toBe(false);
    leader.release();
  });

  it("stops polling at its deadline when the lock is never released", async () => {
    const lockMs = 1000;
    const { two, leader } = await leaderAndReplica(lockMs);
    const waiting = track(two.acquire("k", signal()));
    await elapse(lockMs / 2);
    expect(waiting.settled()).toBe(false);
    await elapse(lockMs / 2);
    expect(waiting.settled()).toBe(true);
    expect((await waiting.promise).leader).toBe(false);
    leader.release();
  });

  it("stops polling when the client goes away", async () => {
    const { two, leader } = await leaderAndReplica();
    const controller = new AbortController();
    const waiting = track(two.acquire("k", controller.signal));
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(false);
    controller.abort();
    await elapse(FEW_POLLS_MS);
    expect(waiting.settled()).toBe(true);
    expect((await waiting.promise).leader).toBe(false);
    leader.release();
  });

  it("makes the replica's own concurrent callers wait on its poll, not poll again", async () => {
    const { two, leader, store } = await leaderAndReplica();
    const lockAttempts: string[] = [];
    const setValue = store.setValue.bind(store);
    store.setValue = async (key, value, ttlMs, onlyIfAbsent) => {
      if (onlyIfAbsent) lockAttempts.push(key);
      return setValue(key, value, ttlMs, onlyIfAbsent);
    };
    const polling = track(two.acquire("k", signal()));
    const local = track(two.acquire("k", signal()));
    await elapse(FEW_POLLS_MS);
    expect([polling.settled(), local.settled()]).toEqual([false, false]);
    leader.release();
    await elapse(FEW_POLLS_MS);
    expect([polling.settled(), local.settled()]).toEqual([true, true]);
    const tickets = await Promise.all([polling.promise, local.promise]);
    expect(tickets.map((t) => t.leader)).toEqual([false, false]);
    // Only the first caller went to the store for the lock (and polled); the second waited on it.
    expect(lockAttempts).toEqual(["cachelock:k"]);
  });
});
