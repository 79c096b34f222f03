import type { Clock } from "../clock.js";
import type { Config } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Nano } from "../money.js";
import type { Caller } from "../caller.js";
import type { RecordHeader, UsageRecord } from "../usage/record.js";
import { StoreUnavailableError, type BudgetLedger } from "./interface.js";
import type { Leases } from "./leases.js";
import { reserveWorstCase, type Priced } from "./reserve.js";
import { requestScopes, type Scope, type ScopeCounter } from "./scopes.js";
import type { Settler } from "./settle.js";
import type { WindowCache } from "./window.js";

export interface HoldServices {
  config: Config;
  clock: Clock;
  store: BudgetLedger;
  settler: Settler;
  leases: Leases;
  windows: WindowCache;
  logger: Logger;
}

export interface HoldRequest<P extends Priced> {
  requestId: string;
  caller: Caller;
  /** Models in the order to try; the first is the routed one. */
  candidates: string[];
  price: (model: string) => Promise<P>;
  /** The usage record's header for a given model (what an expired hold is charged with). */
  header: (model: string) => RecordHeader;
  /**
   * A hold that outlives this process (the batch command's): its lease is this long and never
   * renewed, and whoever settles it later does so by its id. Default: a renewed lease (Leases).
   */
  leaseMs?: number;
}

type State = "held" | "unheld" | "settled" | "handed-over";

/** A reserve whose reply was lost may have run all the same: it is given back by id once the store answers. */
function releaseLostReserve(services: HoldServices, requestId: string, counters: ScopeCounter[], day: string): void {
  services.settler.settle({ requestId, counters, actual: 0, record: null, day }).catch((err: unknown) => {
    services.logger.log("error", "release_failed", { request_id: requestId, error: (err as Error).message });
  });
}

/**
 * A request's budget hold: reserved once, then settled exactly once with the real cost, or
 * released. Whoever takes one closes it in a `finally` (`close`), so no path can leave a hold to
 * block a budget until its lease runs out. While held, its lease is renewed (see Leases).
 *
 * "unheld": the store could not be reached and `store.on_error: open` let the request through;
 * nothing is held, and the settle adds the real cost once the store is back.
 */
export class BudgetHold<P extends Priced> {
  private state: State;
  private attempts = 0;
  /** The id the store knows the current hold by: the request id, then `#n` after each fallback. */
  holdId: string;
  /** Models passed over before the current one: cooling down when reserved, or failed (fallback). */
  readonly fallbackFrom: string[];

  private constructor(
    private readonly services: HoldServices,
    private readonly request: HoldRequest<P>,
    private readonly scopes: Scope[],
    readonly counters: ScopeCounter[],
    readonly day: string,
    public priced: P,
    /** True when the output limit was lowered so the worst case fit. */
    public capped: boolean,
    /** Models passed over because they were cooling down. */
    readonly cooling: string[],
    held: boolean,
  ) {
    this.holdId = request.requestId;
    this.fallbackFrom = [...cooling];
    this.state = held ? "held" : "unheld";
    if (held && request.leaseMs === undefined) services.leases.add(this.holdId);
  }

  /** Reserves the request's worst case on the first candidate that fits (downgrade and output cap included). */
  static async take<P extends Priced>(services: HoldServices, request: HoldRequest<P>): Promise<BudgetHold<P>> {
    const now = services.clock.now();
    const windows = services.windows.at(now);
    const { scopes, counters } = requestScopes(services.config.budgets, request.caller.keyId, request.caller.team, request.caller, windows);
    try {
      const reserved = await reserveWorstCase(services.store, services.config, {
        requestId: request.requestId,
        candidates: request.candidates,
        price: request.price,
        scopes,
        counters,
        now,
        leaseEnd: request.leaseMs === undefined ? services.leases.leaseEnd() : now + request.leaseMs,
        meta: (model) => JSON.stringify(request.header(model)),
        downgrade: services.config.budgets.downgrade,
      });
      return new BudgetHold(services, request, scopes, counters, windows.day, reserved.priced, reserved.capped, reserved.cooling, true);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      releaseLostReserve(services, request.requestId, counters, windows.day);
      if (services.config.store.on_error === "closed") {
        throw new ProxyError("budget_store_unavailable", `The budget store is unreachable (${err.reason}), so no budget can be checked; retry shortly.`, null, {
          "retry-after": "1",
        });
      }
      services.logger.log("error", "budget_store_unavailable_open", { request_id: request.requestId, error: err.message });
      const hold = new BudgetHold(services, request, scopes, counters, windows.day, await request.price(request.candidates[0]!), false, [], false);
      // The release above took this id; the real cost settles under a fresh one.
      hold.holdId = `${request.requestId}#open`;
      return hold;
    }
  }

  get model(): string {
    return this.priced.model;
  }

  get amount(): Nano {
    return this.priced.holdAmount;
  }

  get settled(): boolean {
    return this.state === "settled";
  }

  /**
   * Fallback: gives back the hold of the model that failed and reserves the first of `models`
   * that fits (whole, or with its output capped). Resolves to false when none does; the request
   * then ends on the failed model's answer, holding nothing.
   */
  async moveTo(models: string[]): Promise<boolean> {
    const failed = this.model;
    await this.giveBack();
    this.attempts++;
    this.holdId = `${this.request.requestId}#${this.attempts}`;
    try {
      const reserved = await reserveWorstCase(this.services.store, this.services.config, {
        requestId: this.holdId,
        candidates: models,
        price: this.request.price,
        scopes: this.scopes,
        counters: this.counters,
        now: this.services.clock.now(),
        leaseEnd: this.services.leases.leaseEnd(),
        meta: (model) => JSON.stringify(this.request.header(model)),
        downgrade: false,
      });
      this.fallbackFrom.push(failed);
      this.priced = reserved.priced;
      this.capped = reserved.capped;
      this.state = "held";
      this.services.leases.add(this.holdId);
      return true;
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        releaseLostReserve(this.services, this.holdId, this.counters, this.day);
        // That release takes this id: the request's own record settles under a fresh one.
        this.holdId = `${this.holdId}#lost`;
      } else if (!(err instanceof ProxyError)) throw err;
      return false;
    }
  }

  /** Replaces the hold by the real cost and appends the record; once only. */
  async settle(actual: Nano, record: UsageRecord | null): Promise<void> {
    if (this.state === "settled") throw new Error(`hold ${this.holdId} settled twice`);
    this.state = "settled";
    this.services.leases.remove(this.holdId);
    await this.services.settler.settle({ requestId: this.holdId, counters: this.counters, actual, record, day: this.day });
  }

  /**
   * Keeps the hold past this request, settled later by its id (a background response's): its
   * lease now ends at `leaseEnd` and is no longer renewed here. False when nothing is held (the
   * store was unreachable and let the request through).
   */
  async keepUntil(leaseEnd: number): Promise<boolean> {
    if (this.state !== "held") return false;
    await this.services.store.keep(this.holdId, leaseEnd);
    this.state = "handed-over";
    this.services.leases.remove(this.holdId);
    return true;
  }

  /**
   * The hold is now settled elsewhere, later, by its id (a submitted batch's, at fetch): closing it
   * leaves it held.
   */
  handOver(): void {
    if (this.state !== "held") throw new Error(`hold ${this.holdId} handed over while ${this.state}`);
    this.state = "handed-over";
  }

  /**
   * The one `finally` every taker runs: unless settled already, `account` settles the hold with
   * whatever the request's end says it cost; if even that fails, the hold is given back, so it
   * never waits for its lease to run out.
   */
  async close(account: () => Promise<void>): Promise<void> {
    if (this.state === "settled" || this.state === "handed-over") return;
    try {
      await account();
    } finally {
      if (!this.settled) await this.settle(0, null);
    }
  }

  private async giveBack(): Promise<void> {
    if (this.state === "held") {
      this.services.leases.remove(this.holdId);
      await this.services.settler.settle({ requestId: this.holdId, counters: this.counters, actual: 0, record: null, day: this.day });
    }
    this.state = "unheld";
  }
}
