import type { Hono } from "hono";
import { countersFor, knownScopes } from "../../budget/scopes.js";
import { nanoToUsd } from "../../money.js";
import type { Services } from "../../services.js";

/** Sets the budget-remaining gauge from the store's counters of the current windows. */
async function refreshBudgetRemaining(services: Services): Promise<void> {
  const counters = countersFor(knownScopes(services.config), services.windows.at(services.clock.now())).filter((c) => c.limit !== null);
  const spent = await services.store.spent(counters.map((c) => c.id));
  counters.forEach((c, i) => {
    services.metrics.budgetRemaining.set({ scope: c.scope.kind, id: c.scope.id, window: c.window }, nanoToUsd(c.limit! - (spent[i] ?? 0)));
  });
}

/** GET /metrics in the Prometheus text format; behind the admin key when one is set. */
export function registerMetricsRoute(app: Hono, services: Services): void {
  app.get("/metrics", async (c) => {
    services.auth.requireAdmin(c.req.header("authorization"));
    // A store that does not answer leaves the gauge at its last value; the other metrics still matter.
    await refreshBudgetRemaining(services).catch(() => {});
    services.metrics.draining.set(services.upstream.draining);
    const registry = services.metrics.registry;
    return c.text(await registry.metrics(), 200, { "content-type": registry.contentType });
  });
}
