import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Nano } from "../money.js";
import { aggregateFields, type UsageRecord } from "../usage/record.js";
import type { AlertNotifier } from "./alerts.js";
import { StoreUnavailableError, type BudgetStore, type SettleRequest } from "./interface.js";
import type { Reservation } from "./reserve.js";
import type { ScopeCounter } from "./scopes.js";

interface PendingSettle {
  request: SettleRequest;
  counters: ScopeCounter[];
}

const MAX_RETRY_QUEUE = 100_000;

/**
 * Settles reservations with the real cost and appends the usage record, in one store step.
 * When the store cannot be reached the settle is kept and retried until it lands: settle is
 * idempotent by request id, so a retry never counts twice.
 */
export class Settler {
  private readonly retryQueue: PendingSettle[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 100;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly store: BudgetStore,
    private readonly alerts: AlertNotifier,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly thresholds: number[],
  ) {}

  /** Replaces the reservation by `actual` everywhere; 0 with no record releases it. */
  async settleReservation(reservation: Reservation, actual: Nano, record: UsageRecord | null, day: string): Promise<void> {
    const request: SettleRequest = {
      requestId: reservation.requestId,
      actual,
      counters: reservation.counters,
      thresholds: this.thresholds,
      record,
      day,
      aggregates: record ? aggregateFields(record) : [],
      now: this.clock.now(),
    };
    const attempt = this.apply({ request, counters: reservation.counters });
    this.inFlight.add(attempt);
    try {
      await attempt;
    } finally {
      this.inFlight.delete(attempt);
    }
  }

  private async apply(pending: PendingSettle): Promise<void> {
    const { request } = pending;
    try {
      const result = await this.store.settle(request);
      if (result.crossed.length > 0) this.alerts.notify(result.crossed, pending.counters);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.logger.log("error", "settle_deferred", { request_id: request.requestId, error: err.message, queued: this.retryQueue.length + 1 });
      if (this.retryQueue.length >= MAX_RETRY_QUEUE) {
        const lost = this.retryQueue.shift()!.request;
        this.logger.log("error", "settle_dropped", { request_id: lost.requestId, actual_nano: lost.actual });
      }
      this.retryQueue.push(pending);
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => void this.drainRetries(), this.retryDelayMs);
  }

  private async drainRetries(): Promise<void> {
    this.retryTimer = undefined;
    while (this.retryQueue.length > 0) {
      const pending = this.retryQueue[0]!;
      const { request } = pending;
      try {
        const result = await this.store.settle(request);
        if (result.crossed.length > 0) this.alerts.notify(result.crossed, pending.counters);
        this.retryQueue.shift();
        this.retryDelayMs = 100;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) {
          this.retryQueue.shift();
          this.logger.log("error", "settle_failed", { request_id: request.requestId, error: (err as Error).message });
          continue;
        }
        this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5000);
        this.scheduleRetry();
        return;
      }
    }
  }

  /** Settles not yet stored (waiting for the store to come back). */
  get backlog(): number {
    return this.retryQueue.length;
  }

  /** Waits for settles in progress and, up to `timeoutMs`, for the retry queue to drain. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    await Promise.allSettled([...this.inFlight]);
    while (this.retryQueue.length > 0 && Date.now() < deadline) {
      if (!this.retryTimer) await this.drainRetries();
      else await new Promise((r) => setTimeout(r, 50));
    }
    return this.retryQueue.length === 0;
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
