import type { Pool } from "pg";
import type { EntrySnapshot, EntryStore } from "../budget/interface.js";

/**
 * The admin API's keys and teams in the ledger's PostgreSQL (migration 2), when a ledger is
 * configured: they then live with the records that name them, in the database that is backed up.
 * Each write and the version's step are one statement, so a replica that sees the version move
 * reads the entry that moved it.
 */
export class PostgresEntryStore implements EntryStore {
  constructor(private readonly pool: Pool) {}

  async entriesVersion(): Promise<number> {
    const { rows } = await this.pool.query<{ version: string }>("SELECT version FROM registry_version");
    return Number(rows[0]?.version ?? 0);
  }

  async entries(): Promise<EntrySnapshot> {
    // One statement, one snapshot: the version and the entries agree.
    const { rows } = await this.pool.query<{ version: string; entries: Record<string, unknown> | null }>(
      "SELECT (SELECT version FROM registry_version) AS version, (SELECT jsonb_object_agg(id, value) FROM registry_entries) AS entries",
    );
    const row = rows[0]!;
    return { version: Number(row.version), entries: new Map(Object.entries(row.entries ?? {}).map(([id, value]) => [id, JSON.stringify(value)])) };
  }

  async putEntry(id: string, value: string, onlyIfAbsent = false): Promise<boolean> {
    const conflict = onlyIfAbsent ? "DO NOTHING" : "DO UPDATE SET value = EXCLUDED.value, updated_at = now()";
    const { rowCount } = await this.pool.query(
      `WITH written AS (INSERT INTO registry_entries (id, value) VALUES ($1, $2::jsonb) ON CONFLICT (id) ${conflict} RETURNING 1)
       UPDATE registry_version SET version = version + 1 WHERE EXISTS (SELECT 1 FROM written)`,
      [id, value],
    );
    return (rowCount ?? 0) > 0;
  }

  async removeEntry(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH removed AS (DELETE FROM registry_entries WHERE id = $1 RETURNING 1)
       UPDATE registry_version SET version = version + 1 WHERE EXISTS (SELECT 1 FROM removed)`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }
}
