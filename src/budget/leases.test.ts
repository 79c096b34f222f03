import { afterEach, describe, expect, it, vi } from "vitest";
import { testConfig } from "../../test/support/proxy.js";
import { ManualClock } from "../clock.js";
import { MemoryLogger } from "../log.js";
import { usdToNano, type Nano } from "../money.js";
import type { RecordHeader } from "../usage/record.js";
import { AlertNotifier } from "./alerts.js";
import type { BudgetLedger } from "./interface.js";
import { LEASE_MS, Leases, RENEW_EVERY_MS } from "./leases.js";
import { MemoryBudgetStore } from "./memory.js";
import { countersFor, scopesFor } from "./scopes.js";
import { Settler } from "./settle.js";
import { windowsAt } from "./window.js";

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const usd = usdToNano;

afterEach(() => {
  vi.useRealTimers();
});

function header(requestId: string, startedAt: number): RecordHeader {
  return {
    time: new Date(startedAt).toISOString(), request_id: requestId, endpoint: "chat.completions", key_id: "k1", team: "research",
    request_type: "chat", tier: "standard", requested_model: "auto", routed_model: "gpt-4o", route: "default", stream: true,
  };
}

/** One shared ledger and a clock; `replica()` is a proxy process with its own Leases and Settler over them. */
function setup(start = T0) {
  const config = testConfig("http://upstream.test/v1");
  const clock = new ManualClock(start);
  const store = new MemoryBudgetStore(clock);
  const counters = countersFor(scopesFor(config.budgets, "k1", "research"), windowsAt(start, "UTC"));
  const replica = (ledger: BudgetLedger = store) => {
    const logger = new MemoryLogger();
    const settler = new Settler(ledger, new AlertNotifier(logger, ""), logger, clock, []);
    return { leases: new Leases(ledger, settler, config, clock, logger), logger };
  };
  /** A hold taken now by `leases`, as BudgetHold takes one: leased, its record header as meta. */
  const hold = async (leases: Leases, requestId: string, amount: Nano) => {
    await store.reserve({ requestId, amount, counters, expiresAt: leases.leaseEnd(), now: clock.now(), meta: JSON.stringify(header(requestId, clock.now())) });
    leases.add(requestId);
  };
  // The ManualClock is what the ledger reads, the fake timers fire the rounds: they move together, a second at a time.
  const pass = async (ms: number) => {
    for (let t = 0; t < ms; t += 1000) {
      clock.advance(1000);
      await vi.advanceTimersByTimeAsync(1000);
    }
  };
  const expiring = async (at: number) => (await store.expiredHolds(at, 10)).map((h) => h.requestId);
  return { store, clock, counters, replica, hold, pass, expiring };
}

describe("Leases", () => {
  it("renews the holds it runs every round and stops renewing one once removed", async () => {
    vi.useFakeTimers();
    const { replica, hold, pass, expiring } = setup();
    const { leases } = replica();
    await hold(leases, "kept", usd(0.1));
    await hold(leases, "removed", usd(0.1));
    leases.remove("removed");
    leases.start();
    await pass(RENEW_EVERY_MS);
    // "kept" now runs to T0 + 40 s; "removed" still ends at T0 + 30 s.
    expect(await expiring(T0 + LEASE_MS)).toEqual(["removed"]);
    expect(await expiring(T0 + RENEW_EVERY_MS + LEASE_MS - 1)).toEqual(["removed"]);
    expect(await expiring(T0 + RENEW_EVERY_MS + LEASE_MS)).toEqual(["kept", "removed"]);
    leases.stop();
  });

  it("keeps a live hold alive as long as the rounds run, and charges nothing of its own", async () => {
    vi.useFakeTimers();
    const { store, replica, hold, pass, expiring } = setup();
    const { leases } = replica();
    await hold(leases, "long", usd(0.1));
    leases.start();
    for (let i = 0; i < 10; i++) await pass(RENEW_EVERY_MS);
    expect(await expiring(T0 + 10 * RENEW_EVERY_MS)).toEqual([]);
    expect(await store.usageRecords(10)).toEqual([]);
    leases.stop();
  });

  it("charges a hold whose replica died at its reserved amount, with an unreconciled record", async () => {
    vi.useFakeTimers();
    const { store, counters, replica, hold, pass, expiring } = setup();
    const dead = replica();
    await hold(dead.leases, "orphan", usd(0.25));
    const alive = replica();
    alive.leases.start();
    await pass(LEASE_MS - RENEW_EVERY_MS);
    expect(await store.usageRecords(10)).toEqual([]);
    // The survivor's first round once the lease has run out.
    await pass(RENEW_EVERY_MS);
    expect(await expiring(T0 + 3_600_000)).toEqual([]);
    expect(await store.spent(counters.map((c) => c.id))).toEqual(counters.map(() => usd(0.25)));
    const [record, ...more] = await store.usageRecords(10);
    expect(more).toEqual([]);
    expect(record).toMatchObject({ request_id: "orphan", usage_source: "unreconciled", cost_nano: usd(0.25), estimated_cost_nano: usd(0.25), routed_model: "gpt-4o", key_id: "k1" });
    expect((await store.aggregates(["2026-11-26"]))["2026-11-26"]).toMatchObject({ unreconciled: 1, unreconciled_cost: usd(0.25) });
    expect(alive.logger.lines.filter((l) => l.event === "hold_charged_unreconciled")).toHaveLength(1);
    alive.leases.stop();
  });

  it("charges an expired hold exactly once when two replicas find it at the same time", async () => {
    const { store, clock, counters, replica, hold } = setup();
    await hold(replica().leases, "orphan", usd(0.25));
    clock.advance(LEASE_MS);
    const b = replica();
    const c = replica();
    // Both look before either settles: each finds it, only one charge lands.
    expect(await Promise.all([b.leases.chargeExpired(), c.leases.chargeExpired()])).toEqual([1, 1]);
    expect(await store.usageRecords(10)).toHaveLength(1);
    expect(await store.spent([counters[0]!.id])).toEqual([usd(0.25)]);
    const charged = [...b.logger.lines, ...c.logger.lines].filter((l) => l.event === "hold_charged_unreconciled");
    expect(charged).toHaveLength(1);
    expect(await b.leases.chargeExpired()).toBe(0);
  });

  it("charges the day the request started, even when the hold is found after midnight", async () => {
    const { store, clock, replica, hold } = setup(Date.UTC(2026, 10, 26, 23, 59, 50));
    await hold(replica().leases, "late", usd(0.25));
    clock.advance(LEASE_MS + 1000);
    await replica().leases.chargeExpired();
    const days = await store.aggregates(["2026-11-26", "2026-11-27"]);
    expect(days["2026-11-26"]).toMatchObject({ unreconciled: 1, cost: usd(0.25) });
    expect(days["2026-11-27"]).toEqual({});
  });

  it("leaves alone an expired hold this replica still runs: its request will settle it", async () => {
    const { store, clock, replica, hold } = setup();
    const { leases } = replica();
    await hold(leases, "mine", usd(0.25));
    // Its renewals failed, so the lease ran out while the request still runs.
    clock.advance(LEASE_MS);
    expect(await leases.chargeExpired()).toBe(0);
    expect(await store.usageRecords(10)).toEqual([]);
  });

  it("logs a round the store could not answer and tries again on the next", async () => {
    vi.useFakeTimers();
    const { store, replica, hold, pass, expiring } = setup();
    let down = true;
    const ledger: BudgetLedger = {
      reserve: (r) => store.reserve(r),
      settle: (r) => store.settle(r),
      expiredHolds: (now, limit) => store.expiredHolds(now, limit),
      spent: (ids) => store.spent(ids),
      renew: (ids, until) => (down ? Promise.reject(new Error("connect ECONNREFUSED")) : store.renew(ids, until)),
      keep: (id, until) => store.keep(id, until),
    };
    const { leases, logger } = replica(ledger);
    await hold(leases, "r1", usd(0.1));
    leases.start();
    await pass(RENEW_EVERY_MS);
    expect(logger.lines.filter((l) => l.event === "lease_round_failed")).toHaveLength(1);
    down = false;
    await pass(RENEW_EVERY_MS);
    expect(await expiring(T0 + LEASE_MS)).toEqual([]);
    leases.stop();
  });
});
