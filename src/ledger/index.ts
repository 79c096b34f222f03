import type { Registry } from "prom-client";
import type { BudgetStore } from "../budget/interface.js";
import { MemoryBudgetStore } from "../budget/memory.js";
import { RedisBudgetStore } from "../budget/redis.js";
import type { Config } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import { MemoryLedgerQueue } from "./memory-queue.js";
import { LedgerMetrics } from "./metrics.js";
import { LedgerDb } from "./postgres.js";
import { ledgerRecordSource, ledgerReport, type LedgerReport } from "./queries.js";
import type { LedgerBacklog, LedgerQueue } from "./queue.js";
import type { DayRange } from "./range.js";
import type { RecordSource } from "./records.js";
import { RedisLedgerQueue } from "./redis-queue.js";
import { LedgerWriter } from "./writer.js";

/**
 * The PostgreSQL ledger (`ledger.postgres_url`): every usage record, written in batches off the
 * request path, queued in the store until written (see queue.ts), and the reports and listings
 * read from it. A replica starts and serves traffic with PostgreSQL down: records wait in the
 * queue, and only the reports that read PostgreSQL answer 503 `ledger_unavailable`.
 *
 *   ledger:
 *     postgres_url: "${TOLLGATE_LEDGER_URL:-}"   # e.g. postgres://tollgate@db:5432/tollgate
 */
export interface LedgerStatus {
  postgres: "up" | "down" | "unknown";
  /** Null when the queue did not answer (the store is down). */
  backlog: number | null;
  pending: number | null;
  written: number;
  last_error: string | null;
}

/** How long a start waits for the migrations before serving anyway (they are retried by the writer). */
const START_MIGRATION_MS = 10_000;

export class Ledger {
  readonly records: RecordSource;

  constructor(
    readonly db: LedgerDb,
    readonly queue: LedgerQueue,
    readonly writer: LedgerWriter,
    private readonly logger: Logger,
    /** The budget zone the reports' days are in. */
    private readonly timeZone: string,
  ) {
    this.records = guarded(ledgerRecordSource(db.pool), logger);
  }

  /** Applies the migrations (waiting up to 10 s for PostgreSQL), then starts the writer. */
  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.writer.migrate(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("PostgreSQL did not answer in time")), START_MIGRATION_MS))),
      ]);
    } catch (err) {
      this.logger.log("error", "ledger_unavailable", { detail: "migrations not applied at start; the writer retries", error: (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
    this.writer.start();
  }

  async report(range: DayRange, now: { today: DayRange; month: DayRange }): Promise<LedgerReport> {
    return unavailableOnError(() => ledgerReport(this.db.pool, range, this.timeZone, now), this.logger);
  }

  async status(): Promise<LedgerStatus> {
    const backlog: LedgerBacklog | null = await this.queue.backlog().catch(() => null);
    const { postgres, written, lastError } = this.writer.state;
    return { postgres, backlog: backlog?.queued ?? null, pending: backlog?.pending ?? null, written, last_error: lastError };
  }

  /**
   * Stops the writer. The memory store's queue lives in this process, so it is written first (up to
   * `flushMs`); Redis keeps its queue for the other replicas and the next start.
   */
  stop(flushMs: number): Promise<void> {
    return (this.stopping ??= (async () => {
      if (this.queue.kind === "memory") {
        const written = await this.writer.flush(flushMs);
        if (!written) this.logger.log("error", "ledger_records_lost", { queued: (await this.queue.backlog()).queued });
      }
      await this.writer.stop();
    })());
  }
  private stopping: Promise<void> | undefined;

  async close(): Promise<void> {
    await this.db.close();
  }
}

async function unavailableOnError<T>(run: () => Promise<T>, logger: Logger): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    logger.log("error", "ledger_query_failed", { error: (err as Error).message });
    throw new ProxyError("ledger_unavailable", "The ledger (PostgreSQL) did not answer; retry shortly.", null, { "retry-after": "5" });
  }
}

function guarded(source: RecordSource, logger: Logger): RecordSource {
  return { page: (...args) => unavailableOnError(() => source.page(...args), logger) };
}

/** The ledger the configuration asks for, fed by the store's queue; undefined without `ledger.postgres_url`. */
export function createLedger(config: Config, store: BudgetStore, logger: Logger, registry: Registry): Ledger | undefined {
  if (!config.ledger.postgres_url) return undefined;
  let queue: LedgerQueue;
  if (store instanceof RedisBudgetStore) {
    queue = new RedisLedgerQueue({ redis: store.redis, stream: store.ledgerStream, pollMs: config.ledger.poll_ms, claimIdleMs: config.ledger.claim_idle_ms, logger });
  } else if (store instanceof MemoryBudgetStore && store.ledger instanceof MemoryLedgerQueue) {
    queue = store.ledger;
  } else {
    throw new Error("ledger.postgres_url is set but the store was built without a ledger queue (use createStore)");
  }
  const db = new LedgerDb(config.ledger, logger);
  const metrics = new LedgerMetrics(registry, () => queue.backlog());
  return new Ledger(db, queue, new LedgerWriter(queue, db, logger, metrics, config.ledger.batch_size), logger, config.budgets.timezone);
}

export { MemoryLedgerQueue };
