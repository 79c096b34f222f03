import type { Nano } from "../money.js";
import type { Scope } from "./scopes.js";

/**
 * When money runs out: each scope's burn rate over the last hour and the last day, and the time at
 * which a window's limit is reached at that rate.
 *
 * The rates come from the store's daily aggregates, where every settled record adds its cost to a
 * five-minute bucket of each of its scopes (`burn:<bucket>:<kind>:<id>`, the bucket counted from the
 * epoch, so no zone or DST shifts it). The last hour is the current bucket and the eleven before it,
 * divided by the time they cover (55 to 60 minutes), so a steady spend reads as itself whatever the
 * minute; the last day is the same over 288 buckets.
 *
 * A daily window is forecast at the last hour's rate (it must see a spike while the day can still be
 * saved), a monthly one at the last day's (an hour is too noisy for a month).
 */

export const BURN_BUCKET_MS = 5 * 60_000;
const HOUR_BUCKETS = 12;
const DAY_BUCKETS = 288;
const HOUR_MS = 3_600_000;

const scopeField = (bucket: number, scope: Pick<Scope, "kind" | "id">) => `burn:${bucket}:${scope.kind}:${encodeURIComponent(scope.id)}`;

/** Scopes per kind whose current field is kept (end users have no end). */
const FIELDS_KEPT = 10_000;
const currentFields = new Map<string, Map<string, { bucket: number; field: string }>>();

/** A scope's field in `bucket`, made once per bucket: the settles of five minutes name the same string. */
function fieldOf(bucket: number, scope: Pick<Scope, "kind" | "id">): string {
  let byId = currentFields.get(scope.kind);
  if (!byId) currentFields.set(scope.kind, (byId = new Map()));
  const kept = byId.get(scope.id);
  if (kept && kept.bucket === bucket) return kept.field;
  if (!kept && byId.size >= FIELDS_KEPT) byId.clear();
  const field = scopeField(bucket, scope);
  byId.set(scope.id, { bucket, field });
  return field;
}

/** The aggregate fields a settled cost adds: one per scope, in the bucket of `time`. */
export function burnFields(scopes: ReadonlyArray<Pick<Scope, "kind" | "id">>, time: number, cost: Nano): Array<[string, number]> {
  if (cost <= 0) return [];
  const bucket = Math.floor(time / BURN_BUCKET_MS);
  const seen = new Set<string>();
  const fields: Array<[string, number]> = [];
  for (const scope of scopes) {
    const field = fieldOf(bucket, scope);
    if (seen.has(field)) continue;
    seen.add(field);
    fields.push([field, cost]);
  }
  return fields;
}

/** The instants whose budget days hold the last day's buckets: read those days' aggregates. */
export function burnInstants(now: number): number[] {
  const first = (Math.floor(now / BURN_BUCKET_MS) - DAY_BUCKETS + 1) * BURN_BUCKET_MS;
  const instants: number[] = [];
  for (let t = first; t < now; t += HOUR_MS) instants.push(t);
  instants.push(now);
  return instants;
}

/** Spend per hour (nano-USD), over the last hour and the last day. */
export interface BurnRate {
  lastHour: number;
  lastDay: number;
}

/** A scope's rates from the aggregate fields of the days `burnInstants` named, merged. */
export function burnRate(fields: Readonly<Record<string, number>>, scope: Pick<Scope, "kind" | "id">, now: number): BurnRate {
  const current = Math.floor(now / BURN_BUCKET_MS);
  const over = (buckets: number) => {
    let sum = 0;
    for (let b = current - buckets + 1; b <= current; b++) sum += fields[scopeField(b, scope)] ?? 0;
    const covered = now - (current - buckets + 1) * BURN_BUCKET_MS;
    return covered > 0 ? (sum / covered) * HOUR_MS : 0;
  };
  return { lastHour: over(HOUR_BUCKETS), lastDay: over(DAY_BUCKETS) };
}

export interface Forecast {
  /** When the limit is reached at the rate (ms); `now` when it is already; null at a rate of 0. */
  reachesAt: number | null;
  /** Whether that is before the window ends: what `budgets.alert_on_forecast` alerts on. */
  beforeWindowEnd: boolean;
}

/** When `spent` reaches `limit` at `perHour` (nano-USD per hour). */
export function forecastLimit(spent: Nano, limit: Nano, perHour: number, now: number, windowEnd: number): Forecast {
  if (spent >= limit) return { reachesAt: now, beforeWindowEnd: true };
  if (perHour <= 0) return { reachesAt: null, beforeWindowEnd: false };
  const reachesAt = now + Math.ceil(((limit - spent) / perHour) * HOUR_MS);
  return { reachesAt, beforeWindowEnd: reachesAt < windowEnd };
}
