import type { RecordSink } from "../budget/memory.js";
import type { Logger } from "../log.js";
import type { UsageRecord } from "../usage/record.js";
import type { LedgerBacklog, LedgerQueue, QueuedRecord } from "./queue.js";

/** Past this many records waiting (PostgreSQL down for long), the oldest give way to the newest. */
const MAX_QUEUED = 1_000_000;

/**
 * The ledger queue of a proxy run alone on the memory store: records wait in this process. They
 * survive PostgreSQL being down or slow, and a shutdown writes them before it exits, but a crash
 * of the process loses what had not been written, as it loses the memory store's budgets. With
 * Redis configured, the queue lives in Redis instead (`redis-queue.ts`) and survives any replica.
 */
export class MemoryLedgerQueue implements LedgerQueue, RecordSink {
  readonly kind = "memory";
  private entries: Array<{ id: string; record: UsageRecord }> = [];
  /** The first `taken` entries are held by the writer. */
  private taken = 0;
  private seq = 0;
  private wake: (() => void) | undefined;
  private closed = false;
  readonly rejected: Array<{ raw: string; reason: string }> = [];

  constructor(
    private readonly pollMs: number,
    private readonly logger: Logger,
  ) {}

  push(record: UsageRecord): void {
    this.entries.push({ id: String(++this.seq), record });
    if (this.entries.length > MAX_QUEUED && this.taken < this.entries.length) {
      const lost = this.entries.splice(this.taken, 1)[0]!;
      this.logger.log("error", "ledger_record_dropped", { request_id: lost.record.request_id, queued: this.entries.length });
    }
    this.wake?.();
  }

  async take(count: number): Promise<QueuedRecord[]> {
    if (this.taken >= this.entries.length && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.pollMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
    const batch = this.entries.slice(this.taken, this.taken + count);
    this.taken += batch.length;
    return batch.map(({ id, record }) => ({ id, record, raw: "" }));
  }

  async renew(): Promise<void> {}

  async confirm(ids: string[]): Promise<void> {
    const done = new Set(ids);
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => !done.has(e.id));
    this.taken = Math.max(0, this.taken - (before - this.entries.length));
  }

  async setAside(entries: QueuedRecord[], reason: string): Promise<void> {
    for (const e of entries) this.rejected.push({ raw: JSON.stringify(e.record), reason });
    await this.confirm(entries.map((e) => e.id));
  }

  async backlog(): Promise<LedgerBacklog> {
    return { queued: this.entries.length, pending: this.taken };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
  }
}
