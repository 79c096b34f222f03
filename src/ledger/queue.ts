import type { UsageRecord } from "../usage/record.js";

/**
 * Records on their way to PostgreSQL. Every settle appends its record (the Redis store in the
 * same script that moves the budget counters, so a record cannot be counted and not queued); the
 * writer takes a batch, inserts it, then confirms it, and only a confirmed record leaves. A batch
 * taken by a writer that dies before confirming goes to another writer (`take` hands it over
 * once it has been idle long enough); the insert skips request ids already written, so handing a
 * batch over twice writes it once.
 */
export interface QueuedRecord {
  /** The queue's own id of the entry (a stream id with Redis). */
  id: string;
  /** Null when the entry cannot be read as a record (it is set aside, never dropped silently). */
  record: UsageRecord | null;
  raw: string;
}

export interface LedgerBacklog {
  /** Records not yet written: waiting, or taken by a writer and not yet confirmed. */
  queued: number;
  /** Of those, taken by a writer and not yet confirmed. */
  pending: number;
}

export interface LedgerQueue {
  readonly kind: "redis" | "memory";
  /** Up to `count` records no writer holds, waiting up to the poll time when there are none. */
  take(count: number): Promise<QueuedRecord[]>;
  /** Tells the queue the writer still works on these (so no other writer takes them over). */
  renew(ids: string[]): Promise<void>;
  /** The records are in PostgreSQL: they leave the queue. */
  confirm(ids: string[]): Promise<void>;
  /** Records PostgreSQL refused: kept aside (for an operator) and confirmed, so they no longer block the queue. */
  setAside(entries: QueuedRecord[], reason: string): Promise<void>;
  backlog(): Promise<LedgerBacklog>;
  /** Ends a `take` that is waiting; the queue is not used afterwards. */
  close(): Promise<void>;
}

/** Reads a queued entry's JSON, or null when it is not a record. */
export function parseQueued(id: string, raw: string): QueuedRecord {
  try {
    const record = JSON.parse(raw) as UsageRecord | null;
    const readable = record !== null && typeof record === "object" && typeof record.request_id === "string" && typeof record.time === "string";
    return { id, record: readable ? record : null, raw };
  } catch {
    return { id, record: null, raw };
  }
}
