import type { Nano } from "../money.js";
import type { UsageRecord } from "../usage/record.js";

/**
 * Where budgets, usage records and aggregates live. One interface, two implementations
 * (`memory.ts` for a single process, `redis.ts` shared by every replica), one contract test.
 */

/** One spend counter: a scope in a calendar window, e.g. `team:research:d:2026-11-26`. */
export interface Counter {
  id: string;
  /** The window's limit; null when the scope only counts. */
  limit: Nano | null;
  /** When the window ends (ms); the counter may be dropped a day later. */
  windowEnd: number;
}

export interface ReserveRequest {
  requestId: string;
  amount: Nano;
  counters: Counter[];
  /** When an unsettled reservation is given back (ms), e.g. after a crashed replica. */
  expiresAt: number;
  now: number;
  /** A shared value (see setValue) whose presence means the model is cooling down: reserve nothing. */
  cooldownKey?: string;
}

export type ReserveResult =
  | { ok: true }
  /** `counter` is the index in `counters` that did not fit; `spent` its value before this request. */
  | { ok: false; counter: number; spent: Nano; cooling?: undefined }
  | { ok: false; cooling: true };

export interface SettleRequest {
  requestId: string;
  /** The real cost; 0 releases the reservation. */
  actual: Nano;
  counters: Counter[];
  /** Fractions of each limit that raise an alert once per counter and window. */
  thresholds: number[];
  /** Appended to the usage log; null for a release with nothing to record. */
  record: UsageRecord | null;
  /** Day (in the budget zone) whose aggregates the fields add to. */
  day: string;
  aggregates: ReadonlyArray<readonly [field: string, delta: number]>;
  now: number;
}

export interface CrossedThreshold {
  counter: number;
  threshold: number;
  spent: Nano;
}

export interface SettleResult {
  /** False when this request id was settled before (settle is idempotent). */
  applied: boolean;
  crossed: CrossedThreshold[];
}

export interface BudgetStore {
  readonly kind: "memory" | "redis";
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  settle(request: SettleRequest): Promise<SettleResult>;
  /** Current values of counters (0 for unknown ones). */
  spent(counterIds: string[]): Promise<Nano[]>;
  /** Aggregate fields for each day asked for; days with no traffic map to {}. */
  aggregates(days: string[]): Promise<Record<string, Record<string, number>>>;
  /** The newest usage records first. */
  usageRecords(limit: number): Promise<UsageRecord[]>;
  /** Resolves when the store answers; rejects with the reason otherwise. */
  ping(): Promise<void>;
  /** A shared value with a time to live (response cache, cool-downs). */
  getValue(key: string): Promise<string | null>;
  setValue(key: string, value: string, ttlMs: number, onlyIfAbsent?: boolean): Promise<boolean>;
  close(): Promise<void>;
}

/** The store did not answer: callers map it to `budget_store_unavailable` or let traffic through. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`budget store unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "StoreUnavailableError";
  }
}

/** How long a settled request id is remembered, so a repeated settle is a no-op. */
export const SETTLED_MEMORY_MS = 24 * 3600 * 1000;
/** Counters and aggregates outlive their window by this much, then expire. */
export const COUNTER_GRACE_MS = 24 * 3600 * 1000;
export const AGGREGATE_TTL_MS = 400 * 24 * 3600 * 1000;
