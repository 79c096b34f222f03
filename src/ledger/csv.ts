import type { UsageRecord } from "../usage/record.js";

/**
 * Usage records as CSV (RFC 4180: comma separated, CRLF, quoted when needed). Money is given
 * twice: exact integer nano-USD, and USD as an exact decimal string (never a float's rounding).
 */

type Cell = (r: UsageRecord) => string | number | boolean | null;

const usd = (nano: number): string => {
  const sign = nano < 0 ? "-" : "";
  const abs = Math.abs(Math.round(nano));
  return `${sign}${Math.floor(abs / 1e9)}.${String(abs % 1e9).padStart(9, "0")}`;
};

const COLUMNS: Array<[string, Cell]> = [
  ["time", (r) => r.time],
  ["request_id", (r) => r.request_id],
  ["endpoint", (r) => r.endpoint],
  ["key_id", (r) => r.key_id],
  ["team", (r) => r.team],
  ["request_type", (r) => r.request_type],
  ["tier", (r) => r.tier],
  ["route", (r) => r.route],
  ["requested_model", (r) => r.requested_model],
  ["routed_model", (r) => r.routed_model],
  ["stream", (r) => r.stream],
  ["status", (r) => r.status],
  ["input_tokens", (r) => r.input_tokens],
  ["cached_tokens", (r) => r.cached_tokens],
  ["output_tokens", (r) => r.output_tokens],
  ["usage_source", (r) => r.usage_source],
  ["cost_nano", (r) => r.cost_nano],
  ["cost_usd", (r) => usd(r.cost_nano)],
  ["estimated_cost_nano", (r) => r.estimated_cost_nano],
  ["requested_model_cost_nano", (r) => r.requested_model_cost_nano],
  ["savings_usd", (r) => usd(r.requested_model_cost_nano - r.cost_nano)],
  ["cache_hit", (r) => r.cache_hit],
  ["optimizer_saved_tokens", (r) => r.optimizer_saved_tokens],
  ["optimizer_saved_nano", (r) => r.optimizer_saved_nano],
  ["context_dropped_messages", (r) => r.context_dropped_messages],
  ["context_dropped_tokens", (r) => r.context_dropped_tokens],
  ["context_saved_nano", (r) => r.context_saved_nano],
  ["output_limit", (r) => r.output_limit],
  ["output_capped", (r) => r.output_capped],
  ["latency_ms", (r) => r.latency_ms],
  ["priced", (r) => r.priced],
  ["compressed_tokens", (r) => r.compressed_tokens],
  ["compress_saved_nano", (r) => r.compress_saved_nano],
  ["fallback_from", (r) => (r.fallback_from ?? []).join(" ")],
  ["end_user", (r) => r.end_user ?? null],
  ["tags", (r) => (r.tags ?? []).join(",")],
];

/**
 * One cell. Text that a spreadsheet would run as a formula (a request type comes from a client's
 * header and could be "=HYPERLINK(...)") gets a leading apostrophe; numbers are left alone.
 */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value !== "string") return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const CSV_HEADER = `${COLUMNS.map(([name]) => name).join(",")}\r\n`;

export function csvRows(records: UsageRecord[]): string {
  let out = "";
  for (const r of records) out += `${COLUMNS.map(([, cell]) => csvCell(cell(r))).join(",")}\r\n`;
  return out;
}
