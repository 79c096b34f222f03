import { afterEach, describe, expect, it, vi } from "vitest";
import { testConfig } from "../../test/support/proxy.js";
import { ManualClock } from "../clock.js";
import { MemoryLogger } from "../log.js";
import { usdToNano, type Nano } from "../money.js";
import { usageRecordOf, type UsageRecord } from "../usage/record.js";
import { AlertNotifier } from "./alerts.js";
import { StoreUnavailableError, type BudgetLedger } from "./interface.js";
import { MemoryBudgetStore } from "./memory.js";
import { countersFor, scopesFor } from "./scopes.js";
import { Settler } from "./settle.js";
import { windowsAt } from "./window.js";

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const DAY = "2026-11-26";
const usd = usdToNano;

afterEach(() => {
  vi.useRealTimers();
});

/** A ledger whose settle is refused as unreachable `failures` times, then reaches `store`; counts the settles that land. */
function flaky(store: MemoryBudgetStore, failures: number) {
  let left = failures;
  const landed: string[] = [];
  const ledger: BudgetLedger = {
    reserve: (r) => store.reserve(r),
    renew: (ids, until) => store.renew(ids, until),
    keep: (id, until) => store.keep(id, until),
    expiredHolds: (now, limit) => store.expiredHolds(now, limit),
    spent: (ids) => store.spent(ids),
    settle: async (r) => {
      if (left-- > 0) throw new StoreUnavailableError(new Error("connect ECONNREFUSED"));
      const result = await store.settle(r);
      if (result.applied) landed.push(r.requestId);
      return result;
    },
  };
  return { ledger, landed };
}

/** A settler over a memory store (or a ledger wrapping it), with key k1 of team research's counters. */
function setup(wrap?: (store: MemoryBudgetStore) => BudgetLedger) {
  const config = testConfig("http://upstream.test/v1", { budgets: { global: { daily: 1 }, alert_thresholds: [0.5, 1] } });
  const clock = new ManualClock(T0);
  const store = new MemoryBudgetStore(clock);
  const logger = new MemoryLogger();
  const ledger = wrap ? wrap(store) : store;
  const settler = new Settler(ledger, new AlertNotifier(logger, ""), logger, clock, config.budgets.alert_thresholds);
  const counters = countersFor(scopesFor(config.budgets, "k1", "research"), windowsAt(T0, "UTC"));
  const globalDaily = counters[0]!.id;
  const hold = (requestId: string, amount: Nano) => store.reserve({ requestId, amount, counters, expiresAt: T0 + 30_000, now: T0, meta: "{}" });
  const settle = (requestId: string, actual: Nano, record: UsageRecord | null = recordOf(requestId, actual)) =>
    settler.settle({ requestId, counters, actual, record, day: DAY });
  const alerts = () => logger.lines.filter((l) => l.event === "budget_alert");
  return { store, logger, settler, counters, globalDaily, hold, settle, alerts };
}

function recordOf(requestId: string, cost: Nano): UsageRecord {
  const header = {
    time: new Date(T0).toISOString(), request_id: requestId, endpoint: "chat.completions", key_id: "k1", team: "research",
    request_type: "chat", tier: "standard" as const, requested_model: "gpt-4o", routed_model: "gpt-4o", route: "client-model", stream: false,
  };
  return usageRecordOf(header, { status: 200, input_tokens: 100, output_tokens: 20, cost_nano: cost, requested_model_cost_nano: cost });
}

describe("Settler", () => {
  it("replaces the hold by the real cost, once per request id", async () => {
    const { store, globalDaily, hold, settle } = setup();
    await hold("r1", usd(0.5));
    expect(await settle("r1", usd(0.2))).toBe(true);
    expect(await store.spent([globalDaily])).toEqual([usd(0.2)]);
    // A second settle of the same id (a retry, a second replica) changes nothing.
    expect(await settle("r1", usd(0.3))).toBe(false);
    expect(await store.spent([globalDaily])).toEqual([usd(0.2)]);
    expect(await store.usageRecords(10)).toHaveLength(1);
  });

  it("releases a hold with actual 0 and no record: nothing spent, nothing logged", async () => {
    const { store, globalDaily, hold, settle } = setup();
    await hold("r1", usd(0.5));
    expect(await settle("r1", 0, null)).toBe(true);
    expect(await store.spent([globalDaily])).toEqual([0]);
    expect(await store.usageRecords(10)).toEqual([]);
    expect(await store.aggregates([DAY])).toEqual({ [DAY]: {} });
    expect(await store.expiredHolds(T0 + 60_000, 10)).toEqual([]);
  });

  it("appends the usage record and adds its fields to the day's aggregates", async () => {
    const { store, hold, settle } = setup();
    await hold("r1", usd(0.5));
    await settle("r1", usd(0.2));
    expect(await store.usageRecords(10)).toEqual([recordOf("r1", usd(0.2))]);
    const day = (await store.aggregates([DAY]))[DAY]!;
    expect(day).toMatchObject({ requests: 1, cost: usd(0.2), input_tokens: 100, output_tokens: 20, "model:gpt-4o:cost": usd(0.2), "team:research:requests": 1 });
  });

  it("reports each alert threshold once, when the settle that crosses it lands", async () => {
    const { settle, alerts } = setup();
    await settle("r1", usd(0.6));
    expect(alerts()).toHaveLength(1);
    expect(alerts()[0]).toMatchObject({ level: "warn", scope: "global", window: "daily", window_id: DAY, threshold: 0.5, spent_usd: 0.6, limit_usd: 1 });
    expect(alerts()[0]!.text).toBe(`tollgate: daily budget of global (${DAY}) reached 50%: $0.60 of $1.00 used`);
    // Still past 50% but not yet at 100%: nothing new.
    await settle("r2", usd(0.1));
    expect(alerts()).toHaveLength(1);
    await settle("r3", usd(0.3));
    expect(alerts().map((a) => a.threshold)).toEqual([0.5, 1]);
  });

  it("keeps a settle the store could not take and retries it until it lands, exactly once", async () => {
    vi.useFakeTimers();
    let wrapped: ReturnType<typeof flaky> | undefined;
    const { store, logger, settler, globalDaily, hold, settle } = setup((s) => (wrapped = flaky(s, 2)).ledger);
    await hold("r1", usd(0.5));
    // Queued, not failed: the caller's answer need not wait for the store.
    expect(await settle("r1", usd(0.2))).toBe(true);
    expect(settler.backlog).toBe(1);
    expect(logger.lines.filter((l) => l.event === "settle_deferred")).toHaveLength(1);
    expect(await store.spent([globalDaily])).toEqual([usd(0.5)]);
    // First retry after 100 ms: still down, so the next waits twice as long.
    await vi.advanceTimersByTimeAsync(100);
    expect(settler.backlog).toBe(1);
    await vi.advanceTimersByTimeAsync(199);
    expect(wrapped!.landed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(wrapped!.landed).toEqual(["r1"]);
    expect(settler.backlog).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wrapped!.landed).toEqual(["r1"]);
    expect(await store.spent([globalDaily])).toEqual([usd(0.2)]);
    expect(await store.usageRecords(10)).toHaveLength(1);
  });

  it("drain retries the queue at once instead of waiting for the timer", async () => {
    vi.useFakeTimers();
    let wrapped: ReturnType<typeof flaky> | undefined;
    const { settler, settle } = setup((s) => (wrapped = flaky(s, 1)).ledger);
    await settle("r1", usd(0.2));
    expect(settler.backlog).toBe(1);
    expect(await settler.drain(1000)).toBe(true);
    expect(wrapped!.landed).toEqual(["r1"]);
    // The cancelled timer fires nothing later.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(wrapped!.landed).toEqual(["r1"]);
  });

  it("lets any other store failure reach the caller instead of queueing it", async () => {
    const { settler, settle } = setup((s) => ({ ...flaky(s, 0).ledger, settle: async () => Promise.reject(new Error("bad script")) }));
    await expect(settle("r1", usd(0.2))).rejects.toThrow("bad script");
    expect(settler.backlog).toBe(0);
  });
});
