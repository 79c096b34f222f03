import type { Clock } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import { unreconciledRecord, type RecordHeader } from "../usage/record.js";
import type { BudgetLedger, ExpiredHold } from "./interface.js";
import { countersFor, scopesFor } from "./scopes.js";
import type { Settler } from "./settle.js";
import { windowsAt } from "./window.js";

/** A hold's lease: the replica running the request renews it well before it ends. */
export const LEASE_MS = 30_000;
export const RENEW_EVERY_MS = 10_000;
/** Expired holds charged per look, so one look stays short however many a dead replica left. */
const CHARGE_BATCH = 200;

/**
 * Keeps the leases of this replica's holds alive and charges the holds of replicas that died.
 *
 * A hold whose lease ran out belongs to a replica that stopped renewing it: killed, frozen or cut
 * off. The upstream may well have billed that request, so the hold is not given back: it is settled
 * at its reserved amount with a usage record marked `unreconciled`. Every replica looks; settle is
 * idempotent by request id, so a hold is charged once however many find it.
 */
export class Leases {
  private readonly live = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /**
   * Looks at an expired hold before it is charged: true when it is one whose request outlives its
   * replica on purpose (a background response, usage/background.ts) and was dealt with.
   */
  followUp: ((hold: ExpiredHold) => Promise<boolean>) | undefined;

  constructor(
    private readonly ledger: BudgetLedger,
    private readonly settler: Settler,
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** When a hold taken now would expire unless renewed. */
  leaseEnd(): number {
    return this.clock.now() + LEASE_MS;
  }

  add(requestId: string): void {
    this.live.add(requestId);
  }

  remove(requestId: string): void {
    this.live.delete(requestId);
  }

  get held(): number {
    return this.live.size;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), RENEW_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: renew this replica's leases, then charge whatever expired elsewhere. */
  async tick(): Promise<void> {
    try {
      await this.renew();
      await this.chargeExpired();
    } catch (err) {
      // The store is down: the next round tries again; leases are long enough to miss one.
      this.logger.log("warn", "lease_round_failed", { error: (err as Error).message });
    }
  }

  /** Renews this replica's holds (and, in a store with budget leases, its slices: see lease-slices.ts). */
  async renew(): Promise<void> {
    await this.ledger.renew([...this.live], this.leaseEnd());
  }

  /** Charges holds whose lease ended; resolves to how many were found. */
  async chargeExpired(): Promise<number> {
    const expired = await this.ledger.expiredHolds(this.clock.now(), CHARGE_BATCH);
    // One of ours can only be here if a renewal failed: it is still running and will settle itself.
    const orphans = expired.filter((h) => !this.live.has(h.requestId));
    await Promise.all(orphans.map((hold) => this.charge(hold)));
    return orphans.length;
  }

  private async charge(hold: ExpiredHold): Promise<void> {
    if (this.followUp && (await this.followUp(hold))) return;
    let header: RecordHeader & { lease?: boolean };
    try {
      header = JSON.parse(hold.meta) as RecordHeader & { lease?: boolean };
    } catch {
      this.logger.log("error", "hold_meta_unreadable", { request_id: hold.requestId });
      return;
    }
    if (header.lease) return this.chargeSlice(hold);
    const started = Date.parse(header.time);
    const windows = windowsAt(started, this.config.budgets.timezone);
    const counters = countersFor(scopesFor(this.config.budgets, header.key_id, header.team, { endUser: header.end_user, tags: header.tags }), windows);
    const record = unreconciledRecord({ ...header, request_id: hold.requestId }, hold.amount);
    const applied = await this.settler.settle({ requestId: hold.requestId, counters, actual: hold.amount, record, day: windows.day });
    if (applied) this.logger.log("warn", "hold_charged_unreconciled", { request_id: hold.requestId, amount_nano: hold.amount, model: header.routed_model });
  }

  /**
   * A dead replica's budget slice (lease-slices.ts): its requests' records died with it, so all
   * that is left of it stays spent (a settle at its amount moves no counter) and it is logged.
   */
  private async chargeSlice(hold: ExpiredHold): Promise<void> {
    const applied = await this.settler.settle({ requestId: hold.requestId, counters: [], actual: hold.amount, record: null, day: "" });
    if (applied) this.logger.log("warn", "budget_slice_charged", { lease: hold.requestId, amount_nano: hold.amount });
  }
}
