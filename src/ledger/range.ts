import { localMidnight } from "../budget/window.js";
import { ProxyError } from "../errors.js";

/**
 * The days a cost report or a record listing covers: `from` and `to` are calendar dates in the
 * budget zone, both included. Pure, so every bad input is tested without a server.
 */
export interface DayRange {
  from: string;
  to: string;
  /** Days from `from` to `to`, both included. */
  dayCount: number;
}

const DAY_MS = 24 * 3600 * 1000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** The Redis aggregates live 400 days (AGGREGATE_TTL_MS); the ledger answers any range. */
export const MAX_DAYS = 400;

/** Days since 1970-01-01 of a valid `YYYY-MM-DD` (years 1970 to 9999), else undefined. */
function dayNumber(text: string): number | undefined {
  const m = DATE.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1970) return undefined;
  const ms = Date.UTC(year, month - 1, day);
  const back = new Date(ms);
  // Date.UTC rolls 2026-02-30 over to March: a date that does not round-trip does not exist.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return undefined;
  return ms / DAY_MS;
}

function dayText(n: number): string {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

/** `day` moved by `delta` calendar days. */
export function addDays(day: string, delta: number): string {
  return dayText(dayNumber(day)! + delta);
}

/** Every day from `from` to `to`, both included, oldest first. */
export function daysOf(range: DayRange): string[] {
  const first = dayNumber(range.from)!;
  return Array.from({ length: range.dayCount }, (_, i) => dayText(first + i));
}

function parseDay(value: string | undefined, param: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = dayNumber(value);
  if (n === undefined) throw new ProxyError("invalid_request", `'${param}' must be a date YYYY-MM-DD (from 1970 on), got ${JSON.stringify(value.slice(0, 40))}`, param);
  return n;
}

/**
 * The range a query asks for: `from`/`to` when given (`to` defaults to today, `from` to `days`
 * days before `to`), else the last `days` days (default 30) ending today, the seed's behaviour.
 */
export function dayRange(query: { from?: string; to?: string; days?: string }, today: string, defaultDays = 30): DayRange {
  let days = defaultDays;
  if (query.days !== undefined) {
    days = Number(query.days);
    if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
      throw new ProxyError("invalid_request", `'days' must be an integer from 1 to ${MAX_DAYS}`, "days");
    }
  }
  const to = parseDay(query.to, "to") ?? dayNumber(today)!;
  const from = parseDay(query.from, "from") ?? to - days + 1;
  if (from > to) throw new ProxyError("invalid_request", `'from' (${dayText(from)}) is after 'to' (${dayText(to)})`, "from");
  return { from: dayText(from), to: dayText(to), dayCount: to - from + 1 };
}

/** The instants the range covers in `timeZone`: [start, end). */
export function rangeInstants(range: DayRange, timeZone: string): { start: number; end: number } {
  const at = (day: string) => {
    const [y, m, d] = day.split("-").map(Number) as [number, number, number];
    return localMidnight(y, m, d, timeZone);
  };
  return { start: at(range.from), end: at(addDays(range.to, 1)) };
}
