import type { UsageRecord } from "../usage/record.js";

/**
 * A usage record as a row of `usage_records`, and back. The columns are the record's fields
 * (money in integer nano-USD, time as timestamptz); fields the table has no column for yet (a
 * field added to the record after the last migration) travel in `extra`, so nothing a record
 * says is lost before a migration gives it a column.
 */

type ColumnType = "text" | "timestamptz" | "boolean" | "integer" | "bigint" | "jsonb";

/** Every column the writer fills, with the type `jsonb_to_recordset` reads it as. */
export const LEDGER_COLUMNS = [
  ["request_id", "text"],
  ["time", "timestamptz"],
  ["endpoint", "text"],
  ["key_id", "text"],
  ["team", "text"],
  ["request_type", "text"],
  ["tier", "text"],
  ["route", "text"],
  ["requested_model", "text"],
  ["routed_model", "text"],
  ["stream", "boolean"],
  ["fallback_from", "jsonb"],
  ["status", "integer"],
  ["input_tokens", "bigint"],
  ["cached_tokens", "bigint"],
  ["output_tokens", "bigint"],
  ["usage_source", "text"],
  ["estimated_cost_nano", "bigint"],
  ["cost_nano", "bigint"],
  ["requested_model_cost_nano", "bigint"],
  ["cache_hit", "boolean"],
  ["optimizer_saved_tokens", "bigint"],
  ["optimizer_saved_nano", "bigint"],
  ["context_dropped_messages", "integer"],
  ["context_dropped_tokens", "bigint"],
  ["context_saved_nano", "bigint"],
  ["output_limit", "integer"],
  ["output_capped", "integer"],
  ["latency_ms", "integer"],
  ["priced", "boolean"],
  ["compressed_tokens", "bigint"],
  ["compress_saved_nano", "bigint"],
  ["extra", "jsonb"],
] as const satisfies ReadonlyArray<readonly [string, ColumnType]>;

type Column = (typeof LEDGER_COLUMNS)[number][0];
const NUMERIC = new Set<string>(LEDGER_COLUMNS.filter(([, t]) => t === "integer" || t === "bigint").map(([c]) => c));
const KNOWN = new Set<string>(LEDGER_COLUMNS.map(([c]) => c));
/** Fields added to the record after the first release: a record queued before them reads as this. */
const ADDED_LATER: Record<string, unknown> = { priced: true, compressed_tokens: 0, compress_saved_nano: 0 };

export type LedgerRow = Record<Column, unknown>;

/**
 * The row for a record. Numbers are rounded to whole units (a latency measured in fractions of a
 * millisecond); a value that is not a finite number becomes null, which PostgreSQL refuses for a
 * NOT NULL column: such a record is set aside and logged, never written as a made-up zero.
 */
export function ledgerRow(record: UsageRecord): LedgerRow {
  const source = record as unknown as Record<string, unknown>;
  const row = {} as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(source)) if (!KNOWN.has(field)) extra[field] = value;
  for (const [column] of LEDGER_COLUMNS) {
    const value = source[column] === undefined ? ADDED_LATER[column] : source[column];
    if (NUMERIC.has(column)) row[column] = typeof value === "number" && Number.isFinite(value) ? Math.round(value) : null;
    else row[column] = value ?? null;
  }
  row.fallback_from = Array.isArray(source.fallback_from) ? source.fallback_from : [];
  row.extra = Object.keys(extra).length > 0 ? extra : null;
  return row as LedgerRow;
}

/** The record a row was written from (PostgreSQL's int8 and numeric come back as strings). */
export function recordFromRow(row: Record<string, unknown>): UsageRecord {
  const out: Record<string, unknown> = { ...((row.extra as Record<string, unknown> | null) ?? {}) };
  for (const [column] of LEDGER_COLUMNS) {
    if (column === "extra") continue;
    const value = row[column];
    if (column === "time") out.time = value instanceof Date ? value.toISOString() : String(value);
    else if (NUMERIC.has(column)) out[column] = value === null || value === undefined ? null : Number(value);
    else out[column] = value ?? null;
  }
  return out as unknown as UsageRecord;
}
