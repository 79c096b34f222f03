import type { UsageLog } from "../budget/interface.js";
import { ProxyError } from "../errors.js";
import type { UsageRecord } from "../usage/record.js";
import { rangeInstants, type DayRange } from "./range.js";

/**
 * Usage records listed page by page (keyset pagination): a page ends at a position (time to the
 * microsecond, then request id) and the next starts strictly after it, so pages neither skip nor
 * repeat records however many arrive meanwhile. Two sources: the ledger (any range) and, without
 * one, the newest records the store keeps.
 */
export interface RecordFilter {
  range: DayRange;
  timeZone: string;
  key?: string;
  model?: string;
}

export interface RecordPosition {
  /** The record's time, ISO 8601 in UTC with microseconds ("2026-06-15T12:00:00.123000Z"). */
  time: string;
  requestId: string;
}

export interface RecordPage {
  records: UsageRecord[];
  /** Where the next page starts; null on the last page. */
  next: RecordPosition | null;
}

export type RecordOrder = "newest" | "oldest";

export interface RecordSource {
  page(filter: RecordFilter, after: RecordPosition | null, limit: number, order: RecordOrder): Promise<RecordPage>;
}

const TIME_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** The opaque `cursor` of /v1/costs/records. */
export function encodeCursor(position: RecordPosition): string {
  return Buffer.from(JSON.stringify([position.time, position.requestId])).toString("base64url");
}

export function decodeCursor(cursor: string): RecordPosition {
  const bad = () => new ProxyError("invalid_request", "'cursor' is not a cursor this endpoint returned", "cursor");
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 2) throw bad();
  const [time, requestId] = value as unknown[];
  if (typeof time !== "string" || !TIME_KEY.test(time) || Number.isNaN(Date.parse(time)) || typeof requestId !== "string" || requestId === "") throw bad();
  return { time, requestId };
}

/** A record's position, from its millisecond ISO time. */
export function positionOf(record: UsageRecord): RecordPosition {
  return { time: new Date(record.time).toISOString().replace(/Z$/, "000Z"), requestId: record.request_id };
}

/** How far back the store-backed listing looks: the store keeps the newest records only. */
export const STORE_SCAN = 10_000;

function compare(a: RecordPosition, b: RecordPosition): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0;
}

/** Without a ledger: the newest `STORE_SCAN` records the store keeps, filtered and paged here. */
export function storeRecordSource(store: Pick<UsageLog, "usageRecords">): RecordSource {
  return {
    async page(filter, after, limit, order) {
      const { start, end } = rangeInstants(filter.range, filter.timeZone);
      const sign = order === "newest" ? -1 : 1;
      const rows = (await store.usageRecords(STORE_SCAN))
        .map((record) => ({ record, at: positionOf(record), ms: Date.parse(record.time) }))
        .filter(({ record, at, ms }) => {
          if (!(ms >= start && ms < end)) return false;
          if (filter.key !== undefined && record.key_id !== filter.key) return false;
          if (filter.model !== undefined && record.routed_model !== filter.model) return false;
          return after === null || sign * compare(at, after) > 0;
        })
        .sort((a, b) => sign * compare(a.at, b.at));
      const page = rows.slice(0, limit);
      return { records: page.map((r) => r.record), next: rows.length > limit ? page[page.length - 1]!.at : null };
    },
  };
}
