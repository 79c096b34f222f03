import { describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { testConfig } from "../../test/support/proxy.js";
import { MemoryLogger } from "../log.js";
import { Attempts } from "../plan/attempts.js";
import type { Prepared, RequestPlan } from "../plan/index.js";
import { tierModels } from "../routing/tiers.js";
import { usageRecordOf, type RecordHeader } from "../usage/record.js";
import { AlertNotifier } from "./alerts.js";
import { BudgetHold, type HoldServices } from "./hold.js";
import { Leases } from "./leases.js";
import { MemoryBudgetStore } from "./memory.js";
import { countersFor, scopesFor } from "./scopes.js";
import { Settler } from "./settle.js";
import { WindowCache } from "./window.js";

/** A hold's life on the memory store, and the attempts a request makes under one. */

const CALLER = { keyId: "app", team: null };

function world(daily = 1) {
  const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
  const config = testConfig("http://upstream.test/v1", { budgets: { global: { daily } } });
  const logger = new MemoryLogger();
  const store = new MemoryBudgetStore(clock, 1000);
  const settler = new Settler(store, new AlertNotifier(logger, ""), logger, clock, [0.8, 1]);
  const services: HoldServices = { config, clock, store, settler, leases: new Leases(store, settler, config, clock, logger), windows: new WindowCache("UTC"), logger };
  const spent = async () => {
    const [global] = await store.spent(countersFor(scopesFor(config.budgets, CALLER.keyId, null), services.windows.at(clock.now())).map((c) => c.id));
    return global!;
  };
  return { services, store, spent, tierModels: tierModels(config) };
}

/** A model priced at a fixed worst case (nano-USD), never capped. */
const priced = (model: string, holdAmount: number) => ({ model, holdAmount, capped: () => undefined });
const header = (model: string): RecordHeader => ({ time: "2026-06-15T12:00:00.000Z", request_id: "r1", endpoint: "chat.completions", key_id: "app", team: null, request_type: "chat", tier: "economy", requested_model: model, routed_model: model, route: "test", stream: false });

function take(w: ReturnType<typeof world>, amounts: Record<string, number>, candidates = Object.keys(amounts), extra: { leaseMs?: number; requestId?: string } = {}) {
  return BudgetHold.take(w.services, { requestId: "r1", caller: CALLER, candidates, price: async (m) => priced(m, amounts[m]!), header, ...extra });
}

describe("BudgetHold", () => {
  it("reserves the first candidate that fits, under a renewed lease", async () => {
    const w = world(0.001);
    const hold = await take(w, { "gpt-4o": 2_000_000, "gpt-4o-mini": 500_000 });
    expect(hold.model).toBe("gpt-4o-mini");
    expect(await w.spent()).toBe(500_000);
    expect(w.services.leases.held).toBe(1);
  });

  it("settles once with the real cost, and never twice", async () => {
    const w = world();
    const hold = await take(w, { "gpt-4o-mini": 500_000 });
    await hold.settle(120_000, usageRecordOf(header("gpt-4o-mini"), { status: 200, cost_nano: 120_000 }));
    expect(await w.spent()).toBe(120_000);
    expect(w.services.leases.held).toBe(0);
    await expect(hold.settle(1, null)).rejects.toThrow(/settled twice/);
    expect((await w.store.usageRecords(10)).map((r) => r.cost_nano)).toEqual([120_000]);
  });

  it("gives the hold back when its closer settles nothing, and runs no closer after a settle", async () => {
    const w = world();
    const released = await take(w, { "gpt-4o-mini": 500_000 });
    await released.close(async () => {});
    expect(await w.spent()).toBe(0);
    // Settles are idempotent by request id: another request, another id.
    const settled = await take(w, { "gpt-4o-mini": 500_000 }, undefined, { requestId: "r2" });
    await settled.settle(7, null);
    let ran = false;
    await settled.close(async () => void (ran = true));
    expect(ran).toBe(false);
    expect(await w.spent()).toBe(7);
  });

  it("moves to another model on fallback, giving the failed one's hold back", async () => {
    const w = world();
    const hold = await take(w, { "gpt-4o": 2_000_000, "claude-3-sonnet": 3_000_000 }, ["gpt-4o"]);
    expect(await hold.moveTo(["claude-3-sonnet"])).toBe(true);
    expect(hold.model).toBe("claude-3-sonnet");
    expect(hold.fallbackFrom).toEqual(["gpt-4o"]);
    expect(hold.holdId).toBe("r1#1");
    expect(await w.spent()).toBe(3_000_000);
  });

  it("ends holding nothing when no other model fits", async () => {
    const w = world(0.0025);
    const hold = await take(w, { "gpt-4o": 2_000_000, "claude-3-sonnet": 3_000_000 }, ["gpt-4o"]);
    expect(await hold.moveTo(["claude-3-sonnet"])).toBe(false);
    expect(await w.spent()).toBe(0);
  });

  it("keeps a hold handed over to a later settle (a submitted batch's), with its own lease", async () => {
    const w = world();
    const hold = await take(w, { "gpt-4o-mini": 500_000 }, undefined, { leaseMs: 25 * 3600 * 1000 });
    expect(w.services.leases.held).toBe(0);
    hold.handOver();
    await hold.close(async () => {});
    expect(await w.spent()).toBe(500_000);
    expect(await w.store.expiredHolds(Date.UTC(2026, 5, 16, 12), 10)).toEqual([]);
    expect(await w.store.expiredHolds(Date.UTC(2026, 5, 16, 14), 10)).toHaveLength(1);
  });
});

describe("Attempts", () => {
  /** A plan whose every model is priced from `amounts`; the routed model is the first candidate. */
  function plan(amounts: Record<string, number>, candidates: string[], route = "heuristic"): RequestPlan {
    return {
      decision: { tier: "standard", model: candidates[0]!, route, candidates },
      prepare: async (m: string) => ({ ...priced(m, amounts[m]!), config: testConfig("http://upstream.test/v1").models[m]! }) as unknown as Prepared,
      outputLimit: undefined,
      optimizerSavedTokens: 0,
    };
  }
  const request = { id: "r1", caller: CALLER } as Parameters<typeof Attempts.start>[1];

  it("says why the request went where it went", async () => {
    const w = world(0.001);
    const downgraded = await Attempts.start({ ...w.services, tierModels: w.tierModels }, request, plan({ "gpt-4o": 2_000_000, "gpt-4o-mini": 500_000 }, ["gpt-4o", "gpt-4o-mini"]), header);
    expect(downgraded.current).toMatchObject({ route: "budget-downgrade", capped: false, fallbackFrom: [] });
    expect(downgraded.current.prepared.model).toBe("gpt-4o-mini");
  });

  it("falls back to the tier's next untried model, and stops when the tier has none left or fallback is off", async () => {
    const w = world();
    const amounts = { "gpt-4o": 2_000_000, "claude-3-sonnet": 3_000_000 };
    const attempts = await Attempts.start({ ...w.services, tierModels: w.tierModels }, request, plan(amounts, ["gpt-4o"]), header);
    const first = attempts.current.prepared;
    const second = await attempts.next(first);
    expect(second?.model).toBe("claude-3-sonnet");
    expect(attempts.current).toMatchObject({ route: "fallback", fallbackFrom: ["gpt-4o"] });
    expect(await attempts.next(second!)).toBeUndefined();

    const off = world();
    off.services.config.routing.fallback = { standard: false };
    const noFallback = await Attempts.start({ ...off.services, tierModels: off.tierModels }, request, plan(amounts, ["gpt-4o"]), header);
    expect(await noFallback.next(noFallback.current.prepared)).toBeUndefined();
    expect(await off.spent()).toBe(2_000_000);
  });
});
