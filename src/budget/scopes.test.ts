import { describe, expect, it } from "vitest";
import { budgetsSchema } from "../config/sections.js";
import type { Config } from "../config/schema.js";
import { usdToNano } from "../money.js";
import { countersFor, requestScopes, scopesFor } from "./scopes.js";
import { WindowCache } from "./window.js";

const T0 = Date.UTC(2026, 2, 10, 12);
const DAY_MS = 24 * 3600 * 1000;

function budgets(): Config["budgets"] {
  return budgetsSchema.parse({
    global: { daily: 100 },
    teams: { shop: { monthly: 50 } },
    keys: { "scopes-a": { daily: 5 }, "scopes-b": { daily: 7 } },
    end_users: { default: { daily: 1 } },
  });
}

const limits = (counters: Array<{ id: string; limit: number | null }>) => counters.map((c) => [c.id, c.limit]);

describe("requestScopes", () => {
  it("gives a key's requests the scopes and counters scopesFor and countersFor make, shared while nothing changes", () => {
    const b = budgets();
    const windows = new WindowCache("UTC");
    const first = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0));
    const made = scopesFor(b, "scopes-a", "shop");
    expect(first.scopes).toEqual(made);
    expect(first.counters).toEqual(countersFor(made, windows.at(T0)));
    const again = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0 + 60_000));
    expect(again.counters).toBe(first.counters);
    expect(again.scopes).toBe(first.scopes);
    // Another key, or the same key in another team, has its own.
    const other = requestScopes(b, "scopes-b", "shop", {}, windows.at(T0));
    expect(limits(other.counters)).toContainEqual([expect.stringContaining("c:key:scopes-b:d:"), usdToNano(7)]);
    expect(requestScopes(b, "scopes-a", null, {}, windows.at(T0)).scopes.map((s) => s.kind)).toEqual(["global", "key"]);
    // Ids that would write the same cache key are still told apart.
    const split = requestScopes(b, "x\ny", "z", {}, windows.at(T0));
    const joined = requestScopes(b, "x", "y\nz", {}, windows.at(T0));
    expect(split.scopes.map((s) => s.id)).toEqual(["", "z", "x\ny"]);
    expect(joined.scopes.map((s) => s.id)).toEqual(["", "y\nz", "x"]);
  });

  it("makes them again when the key registry swaps a budget map, and when the day changes", () => {
    const b = budgets();
    const windows = new WindowCache("UTC");
    const before = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0));
    expect(limits(before.counters)).toContainEqual(["c:key:scopes-a:d:2026-03-10", usdToNano(5)]);
    // As KeyRegistry.rebuild does: the map is replaced whole.
    b.keys = { ...b.keys, "scopes-a": { daily: 9 } };
    const changed = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0));
    expect(limits(changed.counters)).toContainEqual(["c:key:scopes-a:d:2026-03-10", usdToNano(9)]);
    b.global = { daily: 200 };
    expect(limits(requestScopes(b, "scopes-a", "shop", {}, windows.at(T0)).counters)).toContainEqual(["c:global::d:2026-03-10", usdToNano(200)]);
    b.teams = {};
    expect(limits(requestScopes(b, "scopes-a", "shop", {}, windows.at(T0)).counters)).toContainEqual(["c:team:shop:m:2026-03", null]);
    const nextDay = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0 + DAY_MS));
    expect(nextDay.counters.map((c) => c.id)).toContain("c:key:scopes-a:d:2026-03-11");
    // Another configuration (another proxy in the process) never gets this one's.
    const fresh = budgets();
    expect(limits(requestScopes(fresh, "scopes-a", "shop", {}, windows.at(T0 + DAY_MS)).counters)).toContainEqual(["c:key:scopes-a:d:2026-03-11", usdToNano(5)]);
  });

  it("gives a request with an end user or tags its own, and leaves the key's shared ones as they were", () => {
    const b = budgets();
    b.tags = { launch: { daily: 3 } };
    const windows = new WindowCache("UTC");
    const plain = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0));
    const user = requestScopes(b, "scopes-a", "shop", { endUser: "u-1" }, windows.at(T0));
    expect(user.scopes.map((s) => `${s.kind}:${s.id}`)).toEqual(["global:", "team:shop", "key:scopes-a", "end_user:scopes-a/u-1"]);
    const tagged = requestScopes(b, "scopes-a", "shop", { tags: ["launch"] }, windows.at(T0));
    expect(tagged.scopes.map((s) => s.kind)).toEqual(["global", "team", "key", "tag"]);
    const after = requestScopes(b, "scopes-a", "shop", {}, windows.at(T0));
    expect(after.counters).toBe(plain.counters);
    expect(after.scopes.map((s) => s.kind)).toEqual(["global", "team", "key"]);
  });
});
