import type { Pool } from "pg";

/**
 * The ledger's schema, as numbered migrations applied in order at start. A migration's SQL never
 * changes once released: a change to the table is a new migration. `tollgate_migrations` records
 * which ran; every replica runs `migrate` at start, and a PostgreSQL advisory lock makes the first
 * one apply them while the others wait and then find nothing left to do.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "usage_records",
    sql: `
      CREATE TABLE usage_records (
        request_id text COLLATE "C" NOT NULL UNIQUE,
        time timestamptz NOT NULL,
        endpoint text NOT NULL,
        key_id text,
        team text,
        request_type text NOT NULL,
        tier text,
        route text NOT NULL,
        requested_model text NOT NULL,
        routed_model text NOT NULL,
        stream boolean NOT NULL,
        fallback_from jsonb NOT NULL DEFAULT '[]',
        status integer NOT NULL,
        input_tokens bigint NOT NULL,
        cached_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        usage_source text NOT NULL,
        estimated_cost_nano bigint NOT NULL,
        cost_nano bigint NOT NULL,
        requested_model_cost_nano bigint NOT NULL,
        cache_hit boolean NOT NULL,
        optimizer_saved_tokens bigint NOT NULL,
        optimizer_saved_nano bigint NOT NULL,
        context_dropped_messages integer NOT NULL,
        context_dropped_tokens bigint NOT NULL,
        context_saved_nano bigint NOT NULL,
        output_limit integer,
        output_capped integer,
        latency_ms integer NOT NULL,
        priced boolean NOT NULL,
        compressed_tokens bigint NOT NULL DEFAULT 0,
        compress_saved_nano bigint NOT NULL DEFAULT 0,
        extra jsonb,
        written_at timestamptz NOT NULL DEFAULT now()
      );
      -- Ranges and keyset pages walk (time, request_id); the filters of /v1/costs/records lead with their column.
      CREATE INDEX usage_records_time ON usage_records (time, request_id);
      CREATE INDEX usage_records_key_time ON usage_records (key_id, time, request_id);
      CREATE INDEX usage_records_model_time ON usage_records (routed_model, time, request_id);
    `,
  },
  {
    version: 2,
    name: "registry_entries",
    // The keys, teams and global budgets made through the admin API (src/keys), and one version
    // every change moves, which each replica polls.
    sql: `
      CREATE TABLE registry_entries (
        id text COLLATE "C" PRIMARY KEY,
        value jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE registry_version (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        version bigint NOT NULL
      );
      INSERT INTO registry_version (version) VALUES (0);
    `,
  },
];

/** A schema name as an SQL identifier (the config allows lower-case identifiers only; quoting keeps keywords safe). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Applies the migrations `schema` lacks, once across every replica; returns the versions applied now. */
export async function migrate(pool: Pool, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  const lock = `tollgate:migrate:${schema}`;
  const s = quoteIdent(schema);
  let broken: unknown;
  try {
    // A session lock: PostgreSQL releases it if this connection dies, so a crashed replica blocks no one.
    await client.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [lock]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.tollgate_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${s}.tollgate_migrations`)).rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(`SET LOCAL search_path TO ${s}`);
          await client.query(m.sql);
          await client.query(`INSERT INTO ${s}.tollgate_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK").catch(() => {});
          throw new Error(`ledger migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [lock]).catch((err: unknown) => (broken = err));
    }
  } catch (err) {
    broken = err;
    throw err;
  } finally {
    // A connection in an unknown state (the unlock failed, or the server went away) is not reused.
    client.release(broken instanceof Error ? broken : undefined);
  }
}
