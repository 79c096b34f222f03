import type { Windows } from "../budget/window.js";
import { ProxyError } from "../errors.js";
import type { BudgetStore } from "../budget/interface.js";
import type { Ledger } from "./index.js";
import type { Fields } from "./queries.js";
import { daysOf, MAX_DAYS, type DayRange } from "./range.js";

/**
 * What /v1/costs reports, in the aggregate field names (`aggregateFields`): read from the ledger
 * when one is configured (any range), else from the store's daily aggregates (400 days).
 */
export interface CostReport {
  source: "ledger" | "store";
  period: Fields;
  today: Fields;
  month: Fields;
  /** Days of the period with traffic, oldest first, each with its totals and its `tier:` groups. */
  byDay: Array<{ day: string; fields: Fields }>;
}

function sumDays(perDay: Record<string, Fields>, days: string[]): Fields {
  const total: Fields = {};
  for (const d of days) for (const [field, value] of Object.entries(perDay[d] ?? {})) total[field] = (total[field] ?? 0) + value;
  return total;
}

export async function costReport(services: { ledger: Ledger | undefined; store: Pick<BudgetStore, "aggregates"> }, range: DayRange, windows: Windows): Promise<CostReport> {
  const today: DayRange = { from: windows.day, to: windows.day, dayCount: 1 };
  const monthFirst = `${windows.month}-01`;
  const month: DayRange = { from: monthFirst, to: windows.day, dayCount: Number(windows.day.slice(8, 10)) };
  if (services.ledger) return { source: "ledger", ...(await services.ledger.report(range, { today, month })) };
  if (range.dayCount > MAX_DAYS) {
    throw new ProxyError(
      "invalid_request",
      `Without a ledger, reports cover at most ${MAX_DAYS} days (the store keeps daily aggregates that long); set ledger.postgres_url for longer ranges.`,
      "from",
    );
  }
  const days = daysOf(range);
  const monthDays = daysOf(month);
  const perDay = await services.store.aggregates([...new Set([...days, ...monthDays])]);
  return {
    source: "store",
    period: sumDays(perDay, days),
    today: perDay[windows.day] ?? {},
    month: sumDays(perDay, monthDays),
    byDay: days.filter((d) => (perDay[d]?.requests ?? 0) > 0).map((d) => ({ day: d, fields: perDay[d]! })),
  };
}
