import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { LedgerBacklog } from "./queue.js";

/**
 * The ledger's Prometheus metrics, on the proxy's registry. The backlog gauges read the queue
 * when scraped; a queue that does not answer leaves them at their last value.
 */
export class LedgerMetrics {
  readonly written: Counter;
  readonly errors: Counter;
  readonly rejected: Counter;
  readonly batchSeconds: Histogram;

  constructor(registry: Registry, backlog: () => Promise<LedgerBacklog>) {
    const registers = [registry];
    this.written = new Counter({ name: "tollgate_ledger_written_total", help: "Usage records this replica wrote to PostgreSQL", registers });
    this.errors = new Counter({ name: "tollgate_ledger_write_errors_total", help: "Failed attempts to write a batch to PostgreSQL (retried)", registers });
    this.rejected = new Counter({ name: "tollgate_ledger_rejected_total", help: "Usage records PostgreSQL refused, set aside", registers });
    this.batchSeconds = new Histogram({
      name: "tollgate_ledger_batch_seconds",
      help: "Time to write one batch to PostgreSQL",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    let last: LedgerBacklog | undefined;
    let reading: Promise<LedgerBacklog | undefined> | undefined;
    // Both gauges of one scrape share one read.
    const read = () =>
      (reading ??= backlog()
        .then((b) => (last = b), () => last)
        .finally(() => (reading = undefined)));
    new Gauge({
      name: "tollgate_ledger_backlog_records",
      help: "Usage records queued and not yet written to PostgreSQL (all replicas)",
      registers,
      async collect() {
        const b = await read();
        if (b) this.set(b.queued);
      },
    });
    new Gauge({
      name: "tollgate_ledger_pending_records",
      help: "Of the backlog, records a writer has taken and not yet confirmed",
      registers,
      async collect() {
        const b = await read();
        if (b) this.set(b.pending);
      },
    });
  }
}
