import { BudgetHold, type HoldServices } from "../budget/hold.js";
import type { Tier } from "../config/schema.js";
import type { RequestBody } from "../endpoints/shape.js";
import type { Nano } from "../money.js";
import type { RecordHeader, UsageRecord } from "../usage/record.js";
import type { Prepared, ProxiedRequest, RequestPlan } from "./index.js";

/** One attempt at an answer: the model and the body prepared for it, under the request's hold. */
export interface Attempt<B extends RequestBody = RequestBody> {
  prepared: Prepared<B>;
  /** True when the output limit was lowered so the worst case fit. */
  capped: boolean;
  /** Models passed over before this one (cooling down, or failed). */
  fallbackFrom: readonly string[];
  /** `x-tollgate-route`: why the request went where it went. */
  route: string;
}

export interface AttemptServices extends HoldServices {
  tierModels: Record<Tier, string[]>;
}

/**
 * The attempts a request makes at an answer, one budget hold between them. The first is the
 * routed model's, or a cheaper one when its worst case does not fit (downgrade, output cap); each
 * next one is the tier's next untried model after an upstream failure (`routing.fallback`), its
 * worst case moved onto the hold. The route only asks for the current attempt and the next one.
 */
export class Attempts<B extends RequestBody> {
  private constructor(
    private readonly services: AttemptServices,
    private readonly plan: RequestPlan<B>,
    private readonly hold: BudgetHold<Prepared<B>>,
  ) {}

  static async start<B extends RequestBody>(services: AttemptServices, request: ProxiedRequest<B>, plan: RequestPlan<B>, header: (model: string) => RecordHeader): Promise<Attempts<B>> {
    const hold = await BudgetHold.take(services, { requestId: request.id, caller: request.caller, candidates: plan.decision.candidates, price: plan.prepare, header });
    return new Attempts(services, plan, hold);
  }

  get current(): Attempt<B> {
    const { hold, plan } = this;
    let route = plan.routeLabel ?? plan.decision.route;
    if (plan.routeLabel === undefined && (hold.fallbackFrom.length > 0 || hold.cooling.length > 0)) route = "fallback";
    else if (plan.routeLabel === undefined && hold.model !== plan.decision.model) route = "budget-downgrade";
    return { prepared: hold.priced, capped: hold.capped, fallbackFrom: [...hold.fallbackFrom], route };
  }

  /**
   * After `failed`'s upstream failed before any byte reached the client: the tier's next untried
   * model, with the hold moved to it, or undefined when fallback is off for the tier or nothing fits.
   */
  async next(failed: Prepared<B>): Promise<Prepared<B> | undefined> {
    const { config, tierModels } = this.services;
    const tier = failed.config.tier;
    const setting = config.routing.fallback;
    if (failed.config.kind !== "chat" || !(typeof setting === "boolean" ? setting : (setting[tier] ?? true))) return undefined;
    const tried = new Set([...this.hold.fallbackFrom, failed.model]);
    const alternatives = tierModels[tier].filter((m) => !tried.has(m));
    return alternatives.length > 0 && (await this.hold.moveTo(alternatives)) ? this.hold.priced : undefined;
  }

  /** Keeps the hold past the request (a background response's), under the id it returns; undefined when nothing is held. */
  async keep(leaseEnd: number): Promise<string | undefined> {
    return (await this.hold.keepUntil(leaseEnd)) ? this.hold.holdId : undefined;
  }

  settle(cost: Nano, record: UsageRecord | null): Promise<void> {
    return this.hold.settle(cost, record);
  }

  /** The request's one `finally` (see BudgetHold.close). */
  close(account: () => Promise<void>): Promise<void> {
    return this.hold.close(account);
  }
}
