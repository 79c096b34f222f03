import type pg from "pg";
import type { UsageRecord } from "../usage/record.js";
import { rangeInstants, type DayRange } from "./range.js";
import type { RecordFilter, RecordOrder, RecordPage, RecordPosition, RecordSource } from "./records.js";
import { recordFromRow } from "./row.js";

/**
 * The ledger's reports, in the field names of the store's daily aggregates (`aggregateFields`),
 * so /v1/costs shapes one answer whichever source it read: "requests", "cost", "model:<name>:cost"...
 */
export type Fields = Record<string, number>;

/** Each aggregate field of `aggregateFields`, as SQL over the records it counts. */
const TOTALS = `
  count(*) AS requests,
  sum(cost_nano) AS cost,
  sum(requested_model_cost_nano) AS requested_cost,
  sum(input_tokens) AS input_tokens,
  sum(cached_tokens) AS cached_tokens,
  sum(output_tokens) AS output_tokens,
  count(*) FILTER (WHERE cache_hit) AS cache_hits,
  sum(requested_model_cost_nano - cost_nano) FILTER (WHERE cache_hit) AS cache_saved,
  sum(optimizer_saved_tokens) FILTER (WHERE optimizer_saved_tokens > 0) AS optimizer_tokens,
  sum(optimizer_saved_nano) FILTER (WHERE optimizer_saved_tokens > 0) AS optimizer_saved,
  sum(context_dropped_tokens) FILTER (WHERE context_dropped_tokens > 0) AS context_tokens,
  sum(context_saved_nano) FILTER (WHERE context_dropped_tokens > 0) AS context_saved,
  count(*) FILTER (WHERE context_dropped_tokens > 0) AS context_requests,
  count(*) FILTER (WHERE output_limit IS NOT NULL) AS output_limited,
  count(*) FILTER (WHERE output_capped IS NOT NULL) AS output_capped,
  count(*) FILTER (WHERE usage_source = 'unreconciled') AS unreconciled,
  sum(cost_nano) FILTER (WHERE usage_source = 'unreconciled') AS unreconciled_cost,
  count(*) FILTER (WHERE NOT priced) AS unpriced_requests,
  sum(compressed_tokens) FILTER (WHERE compressed_tokens > 0) AS compress_tokens,
  sum(compress_saved_nano) FILTER (WHERE compressed_tokens > 0) AS compress_saved,
  count(*) FILTER (WHERE compressed_tokens > 0) AS compress_requests,
  sum(cost_nano) FILTER (WHERE route = 'compress') AS compress_cost,
  count(*) FILTER (WHERE route = 'compress') AS compress_summaries`;

const TOTAL_FIELDS = [
  "requests",
  "cost",
  "requested_cost",
  "input_tokens",
  "cached_tokens",
  "output_tokens",
  "cache_hits",
  "cache_saved",
  "optimizer_tokens",
  "optimizer_saved",
  "context_tokens",
  "context_saved",
  "context_requests",
  "output_limited",
  "output_capped",
  "unreconciled",
  "unreconciled_cost",
  "unpriced_requests",
  "compress_tokens",
  "compress_saved",
  "compress_requests",
  "compress_cost",
  "compress_summaries",
] as const;

/** The record column each group of /v1/costs counts by. */
const GROUPS = [
  ["model", "routed_model"],
  ["type", "request_type"],
  ["tier", "tier"],
  ["key", "key_id"],
  ["team", "team"],
  ["endpoint", "endpoint"],
  // A field the table has no column for travels in `extra` (ledger/row.ts).
  ["end_user", "(extra->>'end_user')"],
] as const;

/** Tags are a list: each record counts once under each of its tags. */
const TAGS_SQL = `SELECT tag, count(*) AS requests, sum(cost_nano) AS cost
  FROM usage_records, jsonb_array_elements_text(CASE WHEN jsonb_typeof(extra->'tags') = 'array' THEN extra->'tags' ELSE '[]'::jsonb END) AS tag
  WHERE time >= $1 AND time < $2 GROUP BY tag`;

/** One scan for the totals and every group: GROUPING SETS, each row saying which set it belongs to. */
const PERIOD_SQL = `SELECT ${GROUPS.map(([g, c]) => `GROUPING(${c}) AS "g_${g}", ${c} AS "v_${g}"`).join(", ")}, ${TOTALS}
  FROM usage_records WHERE time >= $1 AND time < $2
  GROUP BY GROUPING SETS ((), ${GROUPS.map(([, c]) => `(${c})`).join(", ")})`;

const DAYS_SQL = `SELECT to_char(time AT TIME ZONE $3, 'YYYY-MM-DD') AS day, tier, count(*) AS requests, sum(cost_nano) AS cost
  FROM usage_records WHERE time >= $1 AND time < $2 GROUP BY 1, 2 ORDER BY 1, 2`;

const NOW_SQL = `SELECT count(*) FILTER (WHERE time >= $2) AS today_requests, sum(cost_nano) FILTER (WHERE time >= $2) AS today_cost,
  count(*) AS month_requests, sum(cost_nano) AS month_cost
  FROM usage_records WHERE time >= $1 AND time < $3`;

/** Sums come back as decimal strings (numeric); null means no record counted. */
const num = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));

export interface LedgerReport {
  period: Fields;
  byDay: Array<{ day: string; fields: Fields }>;
  today: Fields;
  month: Fields;
}

/** The period's totals and groups, its days by tier, and today's and this month's spend. */
export async function ledgerReport(
  pool: pg.Pool,
  range: DayRange,
  timeZone: string,
  now: { today: DayRange; month: DayRange },
): Promise<LedgerReport> {
  const { start, end } = rangeInstants(range, timeZone);
  const today = rangeInstants(now.today, timeZone);
  const month = rangeInstants(now.month, timeZone);
  const [period, days, current, tags] = await Promise.all([
    pool.query<Record<string, unknown>>(PERIOD_SQL, [new Date(start), new Date(end)]),
    pool.query<Record<string, unknown>>(DAYS_SQL, [new Date(start), new Date(end), timeZone]),
    pool.query<Record<string, unknown>>(NOW_SQL, [new Date(month.start), new Date(today.start), new Date(today.end)]),
    pool.query<Record<string, unknown>>(TAGS_SQL, [new Date(start), new Date(end)]),
  ]);
  const fields: Fields = {};
  for (const row of period.rows) {
    const group = GROUPS.find(([g]) => Number(row[`g_${g}`]) === 0);
    if (!group) {
      for (const f of TOTAL_FIELDS) {
        const v = num(row[f]);
        // As in the store's aggregates, a field nothing added to is absent (/v1/costs reads it as 0).
        if (v !== undefined && v !== 0) fields[f] = v;
      }
      continue;
    }
    const name = row[`v_${group[0]}`];
    // A record without a key or team counts in no group, as in the store's aggregates.
    if (name === null) continue;
    fields[`${group[0]}:${String(name)}:requests`] = num(row.requests) ?? 0;
    fields[`${group[0]}:${String(name)}:cost`] = num(row.cost) ?? 0;
  }
  for (const row of tags.rows) {
    fields[`tag:${String(row.tag)}:requests`] = num(row.requests) ?? 0;
    fields[`tag:${String(row.tag)}:cost`] = num(row.cost) ?? 0;
  }
  const byDay = new Map<string, Fields>();
  for (const row of days.rows) {
    const day = String(row.day);
    const f = byDay.get(day) ?? {};
    const [requests, cost] = [num(row.requests) ?? 0, num(row.cost) ?? 0];
    f.requests = (f.requests ?? 0) + requests;
    f.cost = (f.cost ?? 0) + cost;
    // A pass-through call has no tier: it counts in the day's totals only, as in the store's aggregates.
    if (row.tier !== null) {
      f[`tier:${String(row.tier)}:requests`] = requests;
      f[`tier:${String(row.tier)}:cost`] = cost;
    }
    byDay.set(day, f);
  }
  const c = current.rows[0] ?? {};
  return {
    period: fields,
    byDay: [...byDay].map(([day, f]) => ({ day, fields: f })),
    today: { requests: num(c.today_requests) ?? 0, cost: num(c.today_cost) ?? 0 },
    month: { requests: num(c.month_requests) ?? 0, cost: num(c.month_cost) ?? 0 },
  };
}

/** The ledger's records, a page per query, walking the (time, request_id) index. */
export function ledgerRecordSource(pool: pg.Pool): RecordSource {
  return {
    async page(filter: RecordFilter, after: RecordPosition | null, limit: number, order: RecordOrder): Promise<RecordPage> {
      const { start, end } = rangeInstants(filter.range, filter.timeZone);
      const params: unknown[] = [new Date(start), new Date(end)];
      const where = ["time >= $1", "time < $2"];
      if (filter.key !== undefined) where.push(`key_id = $${params.push(filter.key)}`);
      if (filter.model !== undefined) where.push(`routed_model = $${params.push(filter.model)}`);
      const [cmp, dir] = order === "newest" ? ["<", "DESC"] : [">", "ASC"];
      if (after) where.push(`(time, request_id) ${cmp} ($${params.push(after.time)}::timestamptz, $${params.push(after.requestId)})`);
      const sql = `SELECT *, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time_key
        FROM usage_records WHERE ${where.join(" AND ")}
        ORDER BY time ${dir}, request_id ${dir} LIMIT $${params.push(limit + 1)}`;
      const { rows } = await pool.query<Record<string, unknown>>(sql, params);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const records: UsageRecord[] = page.map(recordFromRow);
      return {
        records,
        next: rows.length > limit && last ? { time: String(last.time_key), requestId: String(last.request_id) } : null,
      };
    },
  };
}
