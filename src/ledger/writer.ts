import type { Logger } from "../log.js";
import type { UsageRecord } from "../usage/record.js";
import type { LedgerMetrics } from "./metrics.js";
import { isRecordError } from "./postgres.js";
import type { LedgerQueue, QueuedRecord } from "./queue.js";

/** What the writer needs of PostgreSQL (LedgerDb). */
export interface LedgerSink {
  migrate(): Promise<unknown>;
  insert(records: UsageRecord[]): Promise<number>;
}

export interface WriterState {
  /** Whether the last attempt to reach PostgreSQL worked; "unknown" before the first. */
  postgres: "up" | "down" | "unknown";
  /** Records this replica wrote (new rows). */
  written: number;
  lastError: string | null;
}

const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 5000;

/**
 * Moves records from the queue to PostgreSQL, off the request path, one batch at a time: take,
 * insert in one statement, confirm. A batch is held until confirmed, and retried as it is, with a
 * growing pause, while PostgreSQL or the queue is unreachable; the insert skips request ids already
 * written, so a retry after a lost confirmation writes nothing twice. Rows PostgreSQL refuses
 * (data errors) are set aside one by one, so one bad record cannot stop the others.
 */
export class LedgerWriter {
  readonly state: WriterState = { postgres: "unknown", written: 0, lastError: null };
  private held: QueuedRecord[] = [];
  private migrated = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly queue: LedgerQueue,
    private readonly sink: LedgerSink,
    private readonly logger: Logger,
    private readonly metrics: LedgerMetrics,
    private readonly batchSize: number,
  ) {}

  /** Applies the migrations now, so a replica that starts with PostgreSQL up has its tables at once. */
  async migrate(): Promise<void> {
    await this.sink.migrate();
    this.migrated = true;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let retryMs = FIRST_RETRY_MS;
    while (this.running) {
      try {
        await this.step();
        if (this.state.postgres !== "up") this.logger.log("info", "ledger_writing", { written: this.state.written });
        this.state.postgres = "up";
        this.state.lastError = null;
        retryMs = FIRST_RETRY_MS;
        if (this.held.length === 0) this.notifyIdle();
      } catch (err) {
        if (!this.running) break;
        const message = (err as Error).message;
        // One line when writing stops, not one per retry.
        if (this.state.postgres !== "down") this.logger.log("error", "ledger_write_failed", { error: message, held: this.held.length });
        this.state.postgres = "down";
        this.state.lastError = message;
        this.metrics.errors.inc();
        await this.pause(retryMs);
        retryMs = Math.min(retryMs * 2, LAST_RETRY_MS);
      }
    }
  }

  /**
   * One turn of the loop, for the loop and for tests that drive the writer themselves: takes a batch
   * (or renews the one it holds), writes it, confirms it. A batch that fails stays held for the next.
   */
  async step(): Promise<void> {
    if (!this.migrated) await this.migrate();
    if (this.held.length === 0) this.held = await this.queue.take(this.batchSize);
    else await this.queue.renew(this.held.map((e) => e.id));
    if (this.held.length > 0) {
      await this.write(this.held);
      await this.queue.confirm(this.held.map((e) => e.id));
      this.held = [];
    }
  }

  private async write(batch: QueuedRecord[]): Promise<void> {
    const unreadable = batch.filter((e) => e.record === null);
    if (unreadable.length > 0) await this.setAside(unreadable, "not a usage record");
    const readable = batch.filter((e) => e.record !== null);
    const stop = this.metrics.batchSeconds.startTimer();
    try {
      this.wrote(await this.sink.insert(readable.map((e) => e.record!)));
    } catch (err) {
      if (!isRecordError(err)) throw err;
      // Some row is refused: write them one by one and set aside only the refused ones.
      for (const entry of readable) {
        try {
          this.wrote(await this.sink.insert([entry.record!]));
        } catch (one) {
          if (!isRecordError(one)) throw one;
          await this.setAside([entry], (one as Error).message);
        }
      }
    } finally {
      stop();
    }
  }

  private wrote(rows: number): void {
    this.state.written += rows;
    this.metrics.written.inc(rows);
  }

  private async setAside(entries: QueuedRecord[], reason: string): Promise<void> {
    for (const e of entries) this.logger.log("error", "ledger_record_rejected", { request_id: e.record?.request_id ?? null, queue_id: e.id, reason });
    this.metrics.rejected.inc(entries.length);
    await this.queue.setAside(entries, reason);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    void this.queue.backlog().then(
      (b) => {
        if (b.queued === 0) for (const w of this.idleWaiters.splice(0)) w();
      },
      () => {},
    );
  }

  /**
   * Waits, up to `timeoutMs`, until the queue is empty (every record written). A shutdown of the
   * memory store's proxy uses it so its in-process queue is written before the process exits.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    if ((await this.queue.backlog()).queued === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const emptied = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return emptied;
  }

  /** Stops after the batch in progress; a batch not yet confirmed stays in the queue for the next writer. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.queue.close();
    await this.loop;
  }
}
