import type { Config } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { formatUsd, type Nano } from "../money.js";
import type { BudgetLedger, ReserveResult } from "./interface.js";
import { perRequestCap, scopeLabel, type Scope, type ScopeCounter } from "./scopes.js";

/** A request priced for one model: what it holds, and the same request with its output capped. */
export interface Priced {
  model: string;
  /** The worst case: what is reserved. */
  holdAmount: Nano;
  /** The request with its output limit lowered so its worst case is at most `room`; undefined when not even a small answer fits. */
  capped(room: Nano): Priced | undefined;
}

/** The shared value whose presence marks a model as cooling down. */
export const cooldownKey = (model: string) => `cool:${model}`;

export interface WalkInput<P extends Priced> {
  requestId: string;
  /** Models in the order to try; the first is the routed one. */
  candidates: string[];
  price: (model: string) => Promise<P>;
  scopes: Scope[];
  counters: ScopeCounter[];
  now: number;
  leaseEnd: number;
  /** The hold's description for a given model (see ReserveRequest.meta). */
  meta: (model: string) => string;
  /** Downgrade to other tiers allowed (`budgets.downgrade`); a fallback walks its own tier only. */
  downgrade: boolean;
}

export interface Reserved<P extends Priced> {
  priced: P;
  /** True when the output limit was lowered to fit. */
  capped: boolean;
  /** Models passed over because their upstream asked to wait (retry-after). */
  cooling: string[];
}

interface Refusal {
  code: "budget_exceeded" | "request_cost_limit_exceeded";
  message: string;
  retryAfter?: number;
}

function budgetRefusal(counter: ScopeCounter, spent: Nano, amount: Nano, now: number): Refusal {
  return {
    code: "budget_exceeded",
    message: `${counter.window} budget of ${scopeLabel(counter.scope)}: ${formatUsd(spent)} spent of ${formatUsd(counter.limit ?? 0)} (this request needs an estimated ${formatUsd(amount)})`,
    retryAfter: Math.max(1, Math.ceil((counter.windowEnd - now) / 1000)),
  };
}

/**
 * Reserves a request's worst case against every budget it belongs to, in one atomic store step
 * per model tried (SPEC 5.3):
 * 1. each candidate in order, whole: the routed model, then (downgrade) the cheaper ones. A
 *    candidate whose worst case is not below one already refused is skipped, since it cannot fit
 *    either. A model cooling down after its upstream's retry-after is passed over.
 * 2. when none fits whole, the candidates again with their output limit lowered to what the
 *    tightest scope has left, so a hard limit still serves a shorter answer;
 * 3. when not even that fits, the 429 of SPEC 5.3.
 * If every candidate is cooling, the routed model is used anyway: the upstream will say when to retry.
 */
export async function reserveWorstCase<P extends Priced>(ledger: BudgetLedger, config: Config, input: WalkInput<P>): Promise<Reserved<P>> {
  const cooling: string[] = [];
  const tried: P[] = [];
  let refusal: Refusal | undefined;
  let lowestRefused = Infinity;
  const cap = perRequestCap(input.scopes);
  let room = cap?.limit ?? Infinity;
  const attempt = (amount: Nano, model: string, honourCooldown = true): Promise<ReserveResult> =>
    ledger.reserve({
      requestId: input.requestId,
      amount,
      counters: input.counters,
      expiresAt: input.leaseEnd,
      now: input.now,
      meta: input.meta(model),
      cooldownKey: honourCooldown ? cooldownKey(model) : undefined,
    });
  const refused = (result: Extract<ReserveResult, { room: Nano }>, amount: Nano) => {
    lowestRefused = Math.min(lowestRefused, amount);
    room = Math.min(room, result.room);
    refusal = budgetRefusal(input.counters[result.counter]!, result.spent, amount, input.now);
  };

  const first = input.candidates[0]!;
  const firstTier = config.models[first]?.tier;
  for (const model of input.candidates) {
    // Without downgrade only the routed model is tried, or its tier's others while it cools down.
    const coolingAlternative = cooling.length > 0 && config.models[model]?.tier === firstTier;
    if (!input.downgrade && model !== first && !coolingAlternative) break;
    // A cheaper model whose window cannot take the prompt is passed over, not an error.
    const priced = await input.price(model).catch((err: unknown) => {
      if (model !== first && err instanceof ProxyError && err.code === "context_length_exceeded") return undefined;
      throw err;
    });
    if (!priced) continue;
    const amount = priced.holdAmount;
    // A bad estimate must fail loudly, never turn the counters into NaN.
    if (!Number.isSafeInteger(amount) || amount < 0) throw new Error(`invalid cost estimate ${amount} for model ${model}`);
    tried.push(priced);
    if (amount >= lowestRefused) continue;
    if (cap && amount > cap.limit) {
      lowestRefused = amount;
      refusal ??= {
        code: "request_cost_limit_exceeded",
        message: `per-request cost limit of ${scopeLabel(cap.scope)}: estimated ${formatUsd(amount)} exceeds ${formatUsd(cap.limit)}`,
      };
      continue;
    }
    const result = await attempt(amount, model);
    if (result.ok) return { priced, capped: false, cooling };
    if (result.cooling) {
      cooling.push(model);
      continue;
    }
    refused(result, amount);
  }

  // Nothing fits whole: a shorter answer from the most capable candidate that affords one. A
  // refusal tells how much room is really left, so the same candidate is tried again with that.
  for (const priced of tried) {
    if (cooling.includes(priced.model)) continue;
    for (let tries = 0; tries < 3 && room !== Infinity; tries++) {
      const capped = priced.capped(room) as P | undefined;
      if (!capped) break;
      const result = await attempt(capped.holdAmount, priced.model);
      if (result.ok) return { priced: capped, capped: true, cooling };
      if (result.cooling) break;
      refused(result, capped.holdAmount);
    }
  }

  if (!refusal) {
    const priced = tried.find((p) => p.model === first) ?? (await input.price(first));
    const result = await attempt(priced.holdAmount, first, false);
    if (result.ok) return { priced, capped: false, cooling: [] };
    if (!result.cooling) refused(result, priced.holdAmount);
  }
  const r = refusal!;
  const headers: Record<string, string> = { "x-should-retry": "false" };
  if (r.retryAfter !== undefined) headers["retry-after"] = String(r.retryAfter);
  throw new ProxyError(r.code, r.message, null, headers);
}
