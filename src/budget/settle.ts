import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Nano } from "../money.js";
import { aggregateFields, type UsageRecord } from "../usage/record.js";
import { burnFields } from "./forecast.js";
import type { AlertNotifier } from "./alerts.js";
import { StoreUnavailableError, type BudgetLedger, type SettleRequest, type SettleResult } from "./interface.js";
import type { JournalEntry, SettleJournal } from "./journal.js";
import type { ScopeCounter } from "./scopes.js";

/** What one settle needs: the hold's id and counters, the real cost, and the record (null: a release). */
export interface Settlement {
  requestId: string;
  counters: ScopeCounter[];
  actual: Nano;
  record: UsageRecord | null;
  /** Day (in the budget zone) whose aggregates the record adds to. */
  day: string;
}

type PendingSettle = JournalEntry;

/** The record's aggregate fields and each scope's five-minute spend, for its burn rate (forecast.ts). */
function withBurn(fields: Array<[string, number]>, s: Settlement): Array<[string, number]> {
  const record = s.record!;
  for (const field of burnFields(s.counters.map((c) => c.scope), Date.parse(record.time), record.cost_nano)) fields.push(field);
  return fields;
}

const MAX_RETRY_QUEUE = 100_000;

/**
 * Settles holds with the real cost and appends the usage record, in one store step. When the
 * store cannot be reached the settle is kept and retried until it lands: settle is idempotent by
 * request id, so a retry never counts twice. With a journal (`store.journal_dir`) a kept settle is
 * also on disk, so a stop before the store is back loses nothing: the next start replays it.
 */
export class Settler {
  private readonly retryQueue: PendingSettle[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 100;
  private readonly inFlight = new Set<Promise<unknown>>();
  private emptied: Array<() => void> = [];

  constructor(
    private readonly store: BudgetLedger,
    private readonly alerts: AlertNotifier,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly thresholds: number[],
    private readonly journal?: SettleJournal,
  ) {
    journal?.keep(() => this.retryQueue);
  }

  /** Replaces the hold by `actual` everywhere; resolves to false when it was settled before. */
  async settle(s: Settlement): Promise<boolean> {
    const request: SettleRequest = {
      requestId: s.requestId,
      actual: s.actual,
      counters: s.counters,
      thresholds: this.thresholds,
      record: s.record,
      day: s.day,
      aggregates: s.record ? withBurn(aggregateFields(s.record), s) : [],
      now: this.clock.now(),
    };
    const attempt = this.apply({ request, counters: s.counters });
    this.inFlight.add(attempt);
    try {
      return await attempt;
    } finally {
      this.inFlight.delete(attempt);
    }
  }

  private async apply(pending: PendingSettle): Promise<boolean> {
    try {
      return this.applied(pending, await this.store.settle(pending.request));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      const { request } = pending;
      this.logger.log("error", "settle_deferred", { request_id: request.requestId, error: err.message, queued: this.retryQueue.length + 1 });
      if (this.retryQueue.length >= MAX_RETRY_QUEUE) {
        const lost = this.retryQueue.shift()!.request;
        this.logger.log("error", "settle_dropped", { request_id: lost.requestId, actual_nano: lost.actual });
      }
      this.retryQueue.push(pending);
      this.journalize(pending);
      this.scheduleRetry();
      return true;
    }
  }

  private journalize(pending: PendingSettle): void {
    try {
      this.journal?.append(pending);
    } catch (err) {
      const { requestId, actual } = pending.request;
      this.logger.log("error", "settle_journal_failed", { request_id: requestId, actual_nano: actual, error: (err as Error).message, detail: "kept in memory only: lost if the replica stops before the store is back" });
    }
  }

  /** Queues what the journal holds from an earlier process (a start): applied once the store answers. */
  recover(): void {
    const entries = this.journal?.recover() ?? [];
    if (entries.length === 0) return;
    this.logger.log("info", "settle_journal_replaying", { settles: entries.length, actual_nano: sumActual(entries), dir: this.journal!.dir });
    this.retryQueue.push(...entries);
    this.scheduleRetry();
  }

  private applied(pending: PendingSettle, result: SettleResult): boolean {
    if (result.crossed.length > 0) this.alerts.notify(result.crossed, pending.counters);
    return result.applied;
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => void this.drainRetries(), this.retryDelayMs);
  }

  private async drainRetries(): Promise<void> {
    this.retryTimer = undefined;
    while (this.retryQueue.length > 0) {
      const pending = this.retryQueue[0]!;
      try {
        this.applied(pending, await this.store.settle(pending.request));
        this.retryQueue.shift();
        this.retryDelayMs = 100;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) {
          this.retryQueue.shift();
          this.logger.log("error", "settle_failed", { request_id: pending.request.requestId, error: (err as Error).message });
          continue;
        }
        this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
        this.scheduleRetry();
        return;
      }
    }
    this.journal?.clear();
    for (const resolve of this.emptied.splice(0)) resolve();
  }

  /** Settles not yet stored (waiting for the store to come back). */
  get backlog(): number {
    return this.retryQueue.length;
  }

  /** Waits for settles in progress and, up to `timeoutMs`, for the retry queue to drain. */
  async drain(timeoutMs: number): Promise<boolean> {
    await Promise.allSettled([...this.inFlight]);
    if (this.retryQueue.length === 0) return true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      void this.drainRetries();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.emptied.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    return this.retryQueue.length === 0;
  }

  /**
   * Stops retrying. What is still queued then is in the journal, for the next start, or lost: said
   * at error level with its amount.
   */
  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.retryQueue.length > 0) {
      const fields = { settles: this.retryQueue.length, actual_nano: sumActual(this.retryQueue) };
      if (this.journal) this.logger.log("warn", "settles_journaled", { ...fields, dir: this.journal.dir, detail: "the store is away: replayed at the next start" });
      else this.logger.log("error", "settles_lost", { ...fields, detail: "the store is away and store.journal_dir is not set: this spend is not recorded" });
      this.retryQueue.length = 0;
    }
    this.journal?.close();
  }
}

function sumActual(entries: PendingSettle[]): number {
  return entries.reduce((sum, e) => sum + e.request.actual, 0);
}
