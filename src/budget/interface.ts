import type { Nano } from "../money.js";
import type { UsageRecord } from "../usage/record.js";
import { shortReason } from "./redis-errors.js";

/**
 * Where budgets, usage records and shared values live. Three narrow interfaces, each read by the
 * code that needs only it: the budget ledger (counters and holds), the usage log (records and daily
 * aggregates) and a key-value store (response cache, cool-downs). One class per backend implements
 * all three (`memory.ts` for a single process, `redis.ts` shared by every replica), because a settle
 * moves the counters and appends the usage record in one atomic step; one contract suite covers both.
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
  /**
   * When the hold's lease ends (ms). The replica holding it renews the lease while the request
   * runs; a hold whose lease ran out belongs to a replica that died and is charged (see `expiredHolds`).
   */
  expiresAt: number;
  now: number;
  /** Who the hold is for (JSON), so whoever charges an expired hold can write its usage record. */
  meta: string;
  /** A shared value (see setValue) whose presence means the model is cooling down: reserve nothing. */
  cooldownKey?: string;
}

export type ReserveResult =
  | { ok: true }
  /**
   * `counter` is the index in `counters` that did not fit, `spent` its value before this request,
   * and `room` the least any limited counter of the request had left (what a smaller request could take).
   */
  | { ok: false; counter: number; spent: Nano; room: Nano; cooling?: undefined }
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
  /** The replica's lease the request was held on, when it was (the Redis store sets it). */
  lease?: string;
  /**
   * When the request's hold was taken (the replica's clock), on a settle that can only follow it:
   * an earlier settle of the id is then looked for from shortly before (the Redis store sets it).
   */
  heldAt?: number;
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

/** A hold whose lease ran out: its replica died before settling it. */
export interface ExpiredHold {
  requestId: string;
  amount: Nano;
  meta: string;
}

/** Spend counters and the holds on them. */
export interface BudgetLedger {
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /** Replaces a hold by the real cost in every counter, once per request id, and logs the record. */
  settle(request: SettleRequest): Promise<SettleResult>;
  /** Moves the lease of holds this replica still runs to `until` (holds already settled are left alone). */
  renew(requestIds: string[], until: number): Promise<void>;
  /**
   * Keeps one hold past its request, until `until` (a background response's): it becomes a hold any
   * replica can settle or charge by its id.
   */
  keep(requestId: string, until: number): Promise<void>;
  /** Holds whose lease ended before `now`, oldest first. They stay until settled (charged). */
  expiredHolds(now: number, limit: number): Promise<ExpiredHold[]>;
  /** Current values of counters (0 for unknown ones). */
  spent(counterIds: string[]): Promise<Nano[]>;
}

/** The usage records and their per-day aggregates, written by `settle`. */
export interface UsageLog {
  /** Aggregate fields for each day asked for; days with no traffic map to {}. */
  aggregates(days: string[]): Promise<Record<string, Record<string, number>>>;
  /** The newest usage records first. */
  usageRecords(limit: number): Promise<UsageRecord[]>;
}

/** Shared values with a time to live (response cache, cool-downs), seen by every replica. */
export interface KeyValueStore {
  getValue(key: string): Promise<string | null>;
  setValue(key: string, value: string, ttlMs: number, onlyIfAbsent?: boolean): Promise<boolean>;
  /** Removes a value, so the next `setValue(onlyIfAbsent)` of any replica takes the key. */
  deleteValue(key: string): Promise<void>;
}

/**
 * Histograms every replica adds to (the routing score's rolling quantile, routing/share.ts):
 * counts by bucket, merged atomically.
 */
export interface HistogramStore {
  /** Adds `counts` (bucket to count) to histogram `key`, which expires `ttlMs` after this addition. */
  addToHistogram(key: string, counts: ReadonlyMap<number, number>, ttlMs: number): Promise<void>;
  /** The histograms of `keys`, in order (empty for a missing or expired one). */
  histograms(keys: string[]): Promise<Array<Map<number, number>>>;
}

/** One rate window's counter: what a request adds to it, and the most it may hold. */
export interface RateWindow {
  key: string;
  amount: number;
  /** Undefined: added without a check (a correction). */
  limit?: number;
  ttlMs: number;
}

/** Per-minute counters of requests and tokens (rate limits), shared by every replica. */
export interface RateStore {
  /**
   * Adds every window's amount, atomically, unless one would go over its limit: then nothing is
   * added, and the answer names that window and its count.
   */
  takeRate(windows: RateWindow[]): Promise<{ ok: true; counts: number[] } | { ok: false; index: number; count: number }>;
}

/** What a replica reads of the shared entries: all of them, and the version they are at. */
export interface EntrySnapshot {
  version: number;
  /** Entry id to its value (JSON). */
  entries: Map<string, string>;
}

/**
 * Entries every replica holds whole in memory (the keys and teams made at run time,
 * src/keys/registry.ts), with a version that moves on every change: a replica polls the version,
 * which is cheap, and reads the entries again when it moved.
 */
export interface EntryStore {
  entriesVersion(): Promise<number>;
  entries(): Promise<EntrySnapshot>;
  /** Writes an entry; with `onlyIfAbsent`, only when no entry has that id (false then). */
  putEntry(id: string, value: string, onlyIfAbsent?: boolean): Promise<boolean>;
  /** False when there was no such entry. */
  removeEntry(id: string): Promise<boolean>;
}

export interface BudgetStore extends BudgetLedger, UsageLog, KeyValueStore, HistogramStore, RateStore, EntryStore {
  readonly kind: "memory" | "redis";
  /** Resolves when the store answers; rejects with the reason otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The store did not answer: callers map it to `budget_store_unavailable` or let traffic through.
 * The message names where the store is (password masked) and the cause; `reason` says it short.
 */
export class StoreUnavailableError extends Error {
  readonly reason: string;

  constructor(cause: unknown, where?: string) {
    const detail = (cause as Error)?.message ?? String(cause);
    super(`budget store unavailable${where ? ` at ${where}` : ""}: ${detail}`);
    this.name = "StoreUnavailableError";
    this.reason = shortReason(detail);
  }
}

/** How long a settled request id is remembered at least, so a repeated settle is a no-op. */
export const SETTLED_MEMORY_MS = 24 * 3600 * 1000;
/** The Redis store keeps settled ids in sets per bucket of this length, which expire whole (scripts.ts). */
export const SETTLED_BUCKET_MS = 4 * 3600 * 1000;
/** Counters and aggregates outlive their window by this much, then expire. */
export const COUNTER_GRACE_MS = 24 * 3600 * 1000;
export const AGGREGATE_TTL_MS = 400 * 24 * 3600 * 1000;
