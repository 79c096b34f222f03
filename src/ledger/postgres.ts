import { createRequire } from "node:module";
import type pg from "pg";
import type { LedgerConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { UsageRecord } from "../usage/record.js";
import { migrate } from "./migrations.js";
import { LEDGER_COLUMNS, ledgerRow } from "./row.js";

const COLUMN_LIST = LEDGER_COLUMNS.map(([c]) => c).join(", ");
const RECORDSET_TYPES = LEDGER_COLUMNS.map(([c, t]) => `${c} ${t}`).join(", ");
/**
 * A batch is one statement with one parameter, whatever its size: the rows travel as a JSON
 * array that PostgreSQL unpacks itself. A request id already there (a batch retried after its
 * confirmation to the queue was lost, or taken over from a replica that died) is skipped.
 */
const INSERT_SQL = `INSERT INTO usage_records (${COLUMN_LIST})
  SELECT ${COLUMN_LIST} FROM jsonb_to_recordset($1::jsonb) AS r(${RECORDSET_TYPES})
  ON CONFLICT (request_id) DO NOTHING`;

/**
 * True for an error about the rows themselves (SQLSTATE classes 22 data exception and 23
 * integrity violation): sending them again cannot help. Anything else (the server down, a
 * timeout, a restart) is worth retrying as it is.
 */
export function isRecordError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code);
}

/** The ledger's PostgreSQL: a small pool, the migrations, and the batched insert. */
export class LedgerDb {
  readonly pool: pg.Pool;

  constructor(
    readonly config: LedgerConfig,
    logger: Logger,
  ) {
    // Loaded with the first ledger: a replica without one does not carry the driver (about 15 MB).
    const { Pool } = createRequire(import.meta.url)("pg") as typeof pg;
    this.pool = new Pool({
      connectionString: config.postgres_url,
      max: 4,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 10_000,
      // Every query of this pool runs in the ledger's schema.
      options: `-c search_path=${config.schema}`,
      application_name: "tollgate",
      statement_timeout: 60_000,
      query_timeout: 65_000,
    });
    // An idle connection the server closed (a restart) is reported here; the next query reconnects.
    this.pool.on("error", (err) => logger.log("warn", "ledger_connection_lost", { error: err.message }));
  }

  migrate(): Promise<number[]> {
    return migrate(this.pool, this.config.schema);
  }

  /** Writes the records in one statement; resolves to how many were new. */
  async insert(records: UsageRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const result = await this.pool.query(INSERT_SQL, [JSON.stringify(records.map(ledgerRow))]);
    return result.rowCount ?? 0;
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
