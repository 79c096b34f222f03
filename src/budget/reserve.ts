import type { Config, ModelConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { formatUsd, type Nano } from "../money.js";
import type { BudgetStore } from "./interface.js";
import { countersFor, perRequestExceeded, scopeLabel, type Scope, type ScopeCounter } from "./scopes.js";
import type { Windows } from "./window.js";

/** A budget hold for one request, to be settled with the real cost. */
export interface Reservation {
  requestId: string;
  model: string;
  amount: Nano;
  counters: ScopeCounter[];
  /** True when the store could not be reached and `store.on_error: open` let the request through. */
  unrecorded: boolean;
  /** Models skipped because their upstream asked to wait (retry-after). */
  cooling: string[];
}

/** The shared value whose presence marks a model as cooling down. */
export const cooldownKey = (model: string) => `cool:${model}`;

export interface ReserveInput {
  requestId: string;
  /** Models in the order to try; the first is the routed one. */
  candidates: string[];
  /** The estimated cost of the request on a given model. */
  estimate: (model: string, config: ModelConfig) => Promise<Nano>;
  scopes: Scope[];
  windows: Windows;
  now: number;
  /** How long an unsettled reservation is held before it is given back. */
  holdMs: number;
}

function refusalFor(counter: ScopeCounter, spent: Nano, amount: Nano, now: number): Refusal {
  return {
    code: "budget_exceeded",
    message: `${counter.window} budget of ${scopeLabel(counter.scope)}: ${formatUsd(spent)} spent of ${formatUsd(counter.limit ?? 0)} (this request needs an estimated ${formatUsd(amount)})`,
    retryAfter: Math.max(1, Math.ceil((counter.windowEnd - now) / 1000)),
  };
}

interface Refusal {
  code: "budget_exceeded" | "request_cost_limit_exceeded";
  message: string;
  retryAfter?: number;
}

/**
 * Reserves the estimate against every budget the request belongs to, in one atomic store step
 * per model tried. When the routed model does not fit and `budgets.downgrade` is on, the other
 * candidates are tried in order; one whose estimate is not below a refused one is skipped,
 * since it cannot fit either. A model cooling down after its upstream's retry-after is passed
 * over for the next candidate; if every candidate is cooling, the first is used anyway.
 * Throws the 429 of SPEC 5.3 when nothing fits.
 */
export async function reserveBudget(store: BudgetStore, config: Config, input: ReserveInput): Promise<Reservation> {
  const counters = countersFor(input.scopes, input.windows);
  let refusal: Refusal | undefined;
  let lowestRefused = Infinity;
  const cooling: string[] = [];
  const attempt = async (model: string, amount: Nano, honourCooldown: boolean) =>
    store.reserve({
      requestId: input.requestId,
      amount,
      counters,
      expiresAt: input.now + input.holdMs,
      now: input.now,
      cooldownKey: honourCooldown ? cooldownKey(model) : undefined,
    });
  const first = input.candidates[0]!;
  for (const model of input.candidates) {
    // Without downgrade only the routed model is tried, or its tier's others while it cools down.
    const coolingAlternative = cooling.length > 0 && config.models[model]!.tier === config.models[first]!.tier;
    if (!config.budgets.downgrade && model !== first && !coolingAlternative) break;
    const modelConfig = config.models[model]!;
    const amount = await input.estimate(model, modelConfig);
    // A bad estimate must fail loudly, never turn the counters into NaN.
    if (!Number.isSafeInteger(amount) || amount < 0) throw new Error(`invalid cost estimate ${amount} for model ${model}`);
    if (amount >= lowestRefused) continue;
    const capped = perRequestExceeded(input.scopes, amount);
    if (capped) {
      lowestRefused = amount;
      refusal = {
        code: "request_cost_limit_exceeded",
        message: `per-request cost limit of ${scopeLabel(capped.scope)}: estimated ${formatUsd(amount)} exceeds ${formatUsd(capped.limit)}`,
      };
      continue;
    }
    const result = await attempt(model, amount, true);
    if (result.ok) return { requestId: input.requestId, model, amount, counters, unrecorded: false, cooling };
    if (result.cooling) {
      cooling.push(model);
      continue;
    }
    lowestRefused = amount;
    refusal = refusalFor(counters[result.counter]!, result.spent, amount, input.now);
  }
  if (!refusal) {
    // Every candidate is cooling down: the routed model it is, the upstream will say when to retry.
    const amount = await input.estimate(first, config.models[first]!);
    const result = await attempt(first, amount, false);
    if (result.ok) return { requestId: input.requestId, model: first, amount, counters, unrecorded: false, cooling: [] };
    if (!result.cooling) refusal = refusalFor(counters[result.counter]!, result.spent, amount, input.now);
  }
  const r = refusal!;
  const headers: Record<string, string> = { "x-should-retry": "false" };
  if (r.retryAfter !== undefined) headers["retry-after"] = String(r.retryAfter);
  throw new ProxyError(r.code, r.message, null, headers);
}
