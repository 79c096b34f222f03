import { describe, expect, it } from "vitest";
import { testConfig } from "../../test/support/proxy.js";
import { ManualClock } from "../clock.js";
import { ProxyError } from "../errors.js";
import { usdToNano, type Nano } from "../money.js";
import { MemoryBudgetStore } from "./memory.js";
import { cooldownKey, reserveWorstCase, type Priced, type WalkInput } from "./reserve.js";
import { countersFor, scopesFor } from "./scopes.js";
import { windowsAt } from "./window.js";

// Noon UTC: the daily window has exactly 12 hours left, the monthly one until 1 December.
const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const usd = usdToNano;

/** A request priced on `model`; capped to `room`, it holds all of it, unless that is below `smallest`. */
function priced(model: string, holdAmount: Nano, smallest = 1): Priced {
  return { model, holdAmount, capped: (room) => (room >= smallest && room < holdAmount ? priced(model, room, smallest) : undefined) };
}

/** A ledger, the counters of key k1 of team research, and a walk over `prices` in their order. */
function setup(budgets: Record<string, unknown>) {
  const config = testConfig("http://upstream.test/v1", { budgets, keys: [{ id: "k1", key: "sk-k1", team: "research" }] });
  const clock = new ManualClock(T0);
  const store = new MemoryBudgetStore(clock);
  const scopes = scopesFor(config.budgets, "k1", "research");
  const counters = countersFor(scopes, windowsAt(T0, config.budgets.timezone));
  const ids = counters.map((c) => c.id);
  const priceCalls: string[] = [];
  const walk = (prices: Priced[], extra: Partial<WalkInput<Priced>> = {}): WalkInput<Priced> => ({
    requestId: "r1",
    candidates: prices.map((p) => p.model),
    price: async (model) => {
      priceCalls.push(model);
      return prices.find((p) => p.model === model)!;
    },
    scopes,
    counters,
    now: T0,
    leaseEnd: T0 + 30_000,
    meta: (model) => JSON.stringify({ routed_model: model }),
    downgrade: true,
    ...extra,
  });
  // Another request's hold: what this one's budget has already lost.
  const spend = (amount: Nano) => store.reserve({ requestId: "earlier", amount, counters, expiresAt: T0 + 30_000, now: T0, meta: "{}" });
  return { config, store, counters, ids, walk, spend, priceCalls };
}

/** The ProxyError a walk rejects with. */
async function refusal(promise: Promise<unknown>): Promise<ProxyError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProxyError);
  return err as ProxyError;
}

const turbo = (amount: Nano, smallest?: number) => priced("gpt-4-turbo", amount, smallest);
const fourO = (amount: Nano, smallest?: number) => priced("gpt-4o", amount, smallest);
const mini = (amount: Nano) => priced("gpt-4o-mini", amount);

describe("reserveWorstCase", () => {
  it("reserves the routed model whole when it fits, in every counter, with its lease and meta", async () => {
    const { config, store, ids, walk } = setup({ global: { daily: 1 } });
    const reserved = await reserveWorstCase(store, config, walk([turbo(usd(0.5)), fourO(usd(0.1))]));
    expect(reserved).toMatchObject({ priced: { model: "gpt-4-turbo", holdAmount: usd(0.5) }, capped: false, cooling: [] });
    // Unlimited counters count too: a limit added later starts from the real figure.
    expect(await store.spent(ids)).toEqual(ids.map(() => usd(0.5)));
    expect(await store.expiredHolds(T0 + 30_000, 10)).toEqual([{ requestId: "r1", amount: usd(0.5), meta: '{"routed_model":"gpt-4-turbo"}' }]);
  });

  it("downgrades to the next candidate that fits whole", async () => {
    const { config, store, ids, walk, spend } = setup({ global: { daily: 1 } });
    await spend(usd(0.8));
    const reserved = await reserveWorstCase(store, config, walk([turbo(usd(0.5)), fourO(usd(0.1)), mini(usd(0.01))]));
    expect(reserved).toMatchObject({ priced: { model: "gpt-4o" }, capped: false });
    expect(await store.spent([ids[0]!])).toEqual([usd(0.9)]);
  });

  it("without downgrade keeps the routed model and caps its output instead of trying cheaper ones", async () => {
    const { config, store, walk, spend, priceCalls } = setup({ global: { daily: 1 } });
    await spend(usd(0.8));
    const reserved = await reserveWorstCase(store, config, walk([turbo(usd(0.5)), fourO(usd(0.1))], { downgrade: false }));
    expect(reserved).toMatchObject({ priced: { model: "gpt-4-turbo", holdAmount: usd(0.2) }, capped: true });
    expect(priceCalls).toEqual(["gpt-4-turbo"]);
  });

  it("caps the most capable candidate to what the tightest scope has left when none fits whole", async () => {
    const { config, store, ids, walk, spend } = setup({ global: { daily: 10 }, teams: { research: { daily: 1 } } });
    await spend(usd(0.7));
    const rooms: Nano[] = [];
    const routed = turbo(usd(2));
    const watched: Priced = { ...routed, capped: (room) => (rooms.push(room), routed.capped(room)) };
    const reserved = await reserveWorstCase(store, config, walk([watched, fourO(usd(0.5))]));
    // The team's $0.30 left, not the global $9.30.
    expect(rooms).toEqual([usd(0.3)]);
    expect(reserved).toMatchObject({ priced: { model: "gpt-4-turbo", holdAmount: usd(0.3) }, capped: true });
    expect(await store.spent([ids[2]!])).toEqual([usd(1)]);
  });

  it("refuses with a 429 naming the scope and window when not even a capped answer fits", async () => {
    const { config, store, ids, walk, spend } = setup({ global: { daily: 10 }, teams: { research: { daily: 1 } } });
    await spend(usd(0.7));
    const err = await refusal(reserveWorstCase(store, config, walk([turbo(usd(2), usd(0.4)), fourO(usd(0.5), usd(0.4))])));
    expect(err.code).toBe("budget_exceeded");
    expect(err.status).toBe(429);
    expect(err.message).toMatch(/^daily budget of team research: \$0\.70 spent of \$1\.00 \(this request needs an estimated \$0\.50\)$/);
    // Twelve hours to the end of the day, then the window starts from zero.
    expect(err.headers).toEqual({ "x-should-retry": "false", "retry-after": String(12 * 3600) });
    expect(await store.spent(ids)).toEqual(ids.map(() => usd(0.7)));
  });

  it("says when the monthly window of a key ends when that is the one exceeded", async () => {
    const { config, store, walk, spend } = setup({ keys: { k1: { monthly: 1 } } });
    await spend(usd(0.9));
    const err = await refusal(reserveWorstCase(store, config, walk([turbo(usd(0.5), usd(0.2))], { downgrade: false })));
    expect(err.message).toMatch(/^monthly budget of key k1: \$0\.90 spent of \$1\.00/);
    expect(err.headers["retry-after"]).toBe(String((Date.UTC(2026, 11, 1) - T0) / 1000));
  });

  it("takes a cheaper candidate under the per-request cap without reserving the one above it", async () => {
    const { config, store, ids, walk } = setup({ keys: { k1: { per_request: 0.1 } } });
    const reserved = await reserveWorstCase(store, config, walk([turbo(usd(0.5), usd(0.2)), fourO(usd(0.05))]));
    expect(reserved.priced.model).toBe("gpt-4o");
    expect(await store.spent([ids[0]!])).toEqual([usd(0.05)]);
  });

  it("refuses with request_cost_limit_exceeded, and no retry-after, when nothing fits under the per-request cap", async () => {
    const { config, store, ids, walk } = setup({ global: { daily: 100 }, keys: { k1: { per_request: 0.1 } } });
    const err = await refusal(reserveWorstCase(store, config, walk([turbo(usd(0.5), usd(0.2)), fourO(usd(0.3), usd(0.2))])));
    expect(err.code).toBe("request_cost_limit_exceeded");
    expect(err.status).toBe(429);
    expect(err.message).toBe("per-request cost limit of key k1: estimated $0.50 exceeds $0.10");
    // Waiting does not make a request cheaper.
    expect(err.headers).toEqual({ "x-should-retry": "false" });
    expect(await store.spent(ids)).toEqual(ids.map(() => 0));
  });

  it("passes over a cooling model for another of its tier, even without downgrade", async () => {
    const { config, store, walk } = setup({});
    await store.setValue(cooldownKey("gpt-4-turbo"), "1", 60_000);
    const candidates = [turbo(usd(0.5)), priced("o3-mini", usd(0.2)), fourO(usd(0.1))];
    const reserved = await reserveWorstCase(store, config, walk(candidates, { downgrade: false }));
    expect(reserved).toMatchObject({ priced: { model: "o3-mini" }, capped: false, cooling: ["gpt-4-turbo"] });
  });

  it("uses the routed model anyway when every candidate is cooling", async () => {
    const { config, store, ids, walk } = setup({});
    await store.setValue(cooldownKey("gpt-4-turbo"), "1", 60_000);
    await store.setValue(cooldownKey("o3-mini"), "1", 60_000);
    const reserved = await reserveWorstCase(store, config, walk([turbo(usd(0.5)), priced("o3-mini", usd(0.2))]));
    expect(reserved).toMatchObject({ priced: { model: "gpt-4-turbo" }, capped: false, cooling: [] });
    expect(await store.spent([ids[0]!])).toEqual([usd(0.5)]);
  });
});
