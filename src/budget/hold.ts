import type { Config, ModelConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { Nano } from "../money.js";
import type { Caller } from "../server/auth.js";
import type { Services } from "../services.js";
import { StoreUnavailableError } from "./interface.js";
import { reserveBudget, type Reservation } from "./reserve.js";
import { countersFor, scopesFor } from "./scopes.js";

/** Extra time a reservation is held beyond the upstream timeout before it is given back. */
const HOLD_MARGIN_MS = 60_000;

/** How long a reservation is held before the store gives it back unsettled (a replica died). */
export function reservationHoldMs(config: Config): number {
  return Math.max(...Object.values(config.upstreams).map((u) => u.timeout_ms)) + HOLD_MARGIN_MS;
}

/**
 * Step 4 of the pipeline: reserve the estimate in every scope, downgrading when it does not fit.
 * When the store is unreachable, `store.on_error` decides: `closed` answers 503, `open` lets
 * the request through unreserved (logged loudly; its settle still lands once the store is back).
 */
export async function holdBudget(
  services: Services,
  requestId: string,
  caller: Caller,
  candidates: string[],
  estimate: (model: string, config: ModelConfig) => Promise<Nano>,
): Promise<{ reservation: Reservation; day: string }> {
  const { config, clock } = services;
  const now = clock.now();
  const windows = services.windows.at(now);
  const scopes = scopesFor(config.budgets, caller.keyId, caller.team);
  try {
    const reservation = await reserveBudget(services.store, config, {
      requestId,
      candidates,
      estimate,
      scopes,
      windows,
      now,
      holdMs: reservationHoldMs(config),
    });
    return { reservation, day: windows.day };
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    if (config.store.on_error === "closed") {
      throw new ProxyError("budget_store_unavailable", "The budget store is unreachable, so no budget can be checked; retry shortly.", null, {
        "retry-after": "1",
      });
    }
    services.logger.log("error", "budget_store_unavailable_open", { request_id: requestId, error: err.message });
    const model = candidates[0]!;
    const amount = await estimate(model, config.models[model]!);
    return {
      reservation: { requestId, model, amount, counters: countersFor(scopes, windows), unrecorded: true, cooling: [] },
      day: windows.day,
    };
  }
}
