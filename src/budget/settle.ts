import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Nano } from "../money.js";
import { aggregateFields, type UsageRecord } from "../usage/record.js";
import { burnFields } from "./forecast.js";
import type { AlertNotifier } from "./alerts.js";
import { StoreUnavailableError, type BudgetLedger, type SettleRequest, type SettleResult } from "./interface.js";
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

interface PendingSettle {
  request: SettleRequest;
  counters: ScopeCounter[];
}

const MAX_RETRY_QUEUE = 100_000;

/**
 * Settles holds with the real cost and appends the usage record, in one store step. When the
 * store cannot be reached the settle is kept and retried until it lands: settle is idempotent by
 * request id, so a retry never counts twice.
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
  ) {}

  /** Replaces the hold by `actual` everywhere; resolves to false when it was settled before. */
  async settle(s: Settlement): Promise<boolean> {
    const request: SettleRequest = {
      requestId: s.requestId,
      actual: s.actual,
      counters: s.counters,
      thresholds: this.thresholds,
      record: s.record,
      day: s.day,
      // Each scope's five-minute spend, for its burn rate (forecast.ts).
      aggregates: s.record ? [...aggregateFields(s.record), ...burnFields(s.counters.map((c) => c.scope), Date.parse(s.record.time), s.record.cost_nano)] : [],
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
      this.scheduleRetry();
      return true;
    }
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

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
