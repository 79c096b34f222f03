import type { Hono } from "hono";
import { ProxyError } from "../../errors.js";
import { readForecasts } from "../../budget/forecast-watch.js";
import { knownScopes, scopeLabel } from "../../budget/scopes.js";
import { formatUsd, nanoToUsd } from "../../money.js";
import { costReport } from "../../ledger/report.js";
import { dayRange } from "../../ledger/range.js";
import { TIERS, type Tier } from "../../config/schema.js";
import type { Services } from "../../services.js";

interface WindowReport {
  window: string;
  limit: number | null;
  spent: number;
  thresholds_crossed: number[];
  forecast: { reaches_limit_at: string | null; rate: "last_hour" | "last_day"; before_window_end: boolean } | null;
}

interface Group {
  requests: number;
  cost: number;
}

function groups(fields: Record<string, number>, prefix: string): Record<string, Group> {
  // No prototype: a request type "constructor" must get its own group, not write onto Object.
  const out: Record<string, Group> = Object.create(null);
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith(`${prefix}:`)) continue;
    const rest = field.slice(prefix.length + 1);
    const cut = rest.lastIndexOf(":");
    const name = rest.slice(0, cut);
    const metric = rest.slice(cut + 1) as keyof Group;
    const group = (out[name] ??= { requests: 0, cost: 0 });
    group[metric] = metric === "cost" ? nanoToUsd(value) : value;
  }
  return out;
}

/**
 * Each tier's share of the period's requests, beside `routing.target_share` when it is set. The
 * share counts every request served at the tier (rules, forced tiers and downgrades included), so
 * it departs from the target by what those decided.
 */
function tierShare(period: Record<string, number>, services: Services) {
  const target = services.config.routing.target_share;
  const targets: Record<Tier, number | null> = target
    ? { economy: Number(Math.max(0, 1 - target.premium - target.standard).toFixed(4)), standard: target.standard, premium: target.premium }
    : { economy: null, standard: null, premium: null };
  const total = TIERS.reduce((sum, t) => sum + (period[`tier:${t}:requests`] ?? 0), 0);
  return Object.fromEntries(
    TIERS.map((t) => {
      const requests = period[`tier:${t}:requests`] ?? 0;
      return [t, { requests, share: total > 0 ? Number((requests / total).toFixed(4)) : 0, target: targets[t] }];
    }),
  );
}

/** The groups `group_by` may name: the prefixes of the aggregate fields (usage/record.ts). */
const GROUP_NAMES = ["model", "type", "tier", "key", "team", "endpoint", "end_user", "tag"];

/** GET /v1/costs (the seed's summary, savings) and GET /v1/costs/alerts. */
export function registerCostRoutes(app: Hono, services: Services): void {
  app.get("/v1/costs", async (c) => {
    services.auth.requireAdmin(c.req.header("authorization"));
    const now = services.clock.now();
    const windows = services.windows.at(now);
    // `from`/`to` (budget-zone dates), else the last `days` days; the ledger when configured, else the store.
    const range = dayRange(c.req.query(), windows.day);
    const { source, period, today, month, byDay } = await costReport(services, range, windows);
    const requests = period.requests ?? 0;
    const cost = period.cost ?? 0;
    // `group_by`: one of the groups below, given again as `groups` (the end users' and tags' too).
    const groupBy = c.req.query("group_by");
    if (groupBy !== undefined && !GROUP_NAMES.includes(groupBy)) {
      throw new ProxyError("invalid_request", `group_by must be one of ${GROUP_NAMES.join(", ")}`, "group_by");
    }
    return c.json({
      ...(groupBy !== undefined ? { group_by: groupBy, groups: groups(period, groupBy) } : {}),
      period_days: range.dayCount,
      from: range.from,
      to: range.to,
      source,
      total_requests: requests,
      total_cost: nanoToUsd(cost),
      avg_cost_per_request: requests > 0 ? nanoToUsd(cost / requests) : 0,
      today_cost: nanoToUsd(today.cost ?? 0),
      month_cost: nanoToUsd(month.cost ?? 0),
      tokens: { input: period.input_tokens ?? 0, cached: period.cached_tokens ?? 0, output: period.output_tokens ?? 0 },
      by_model: groups(period, "model"),
      by_type: groups(period, "type"),
      by_tier: groups(period, "tier"),
      tier_share: tierShare(period, services),
      by_key: groups(period, "key"),
      by_team: groups(period, "team"),
      by_endpoint: groups(period, "endpoint"),
      by_end_user: groups(period, "end_user"),
      by_tag: groups(period, "tag"),
      by_day: byDay.map(({ day, fields }) => ({ day, requests: fields.requests ?? 0, cost: nanoToUsd(fields.cost ?? 0), by_tier: groups(fields, "tier") })),
      // Holds of replicas that died, charged at what they reserved (the upstream may have billed them).
      unreconciled: { requests: period.unreconciled ?? 0, cost: nanoToUsd(period.unreconciled_cost ?? 0) },
      // Pass-through calls (files, batches...) tollgate forwarded without a price: a budget's blind spot.
      unpriced_requests: period.unpriced_requests ?? 0,
      savings: {
        requested_models_cost: nanoToUsd(period.requested_cost ?? 0),
        total: nanoToUsd((period.requested_cost ?? 0) - cost),
        routing: nanoToUsd((period.requested_cost ?? 0) - cost - (period.cache_saved ?? 0)),
        cache: { hits: period.cache_hits ?? 0, usd: nanoToUsd(period.cache_saved ?? 0) },
        prompt_optimizer: { tokens: period.optimizer_tokens ?? 0, usd: nanoToUsd(period.optimizer_saved ?? 0) },
        context_fit: { requests: period.context_requests ?? 0, tokens: period.context_tokens ?? 0, usd: nanoToUsd(period.context_saved ?? 0) },
        output_limits: { requests: period.output_limited ?? 0, capped_by_budget: period.output_capped ?? 0 },
        // Net of the summaries' own cost, which is in total_cost like any request's.
        compression: {
          requests: period.compress_requests ?? 0,
          tokens: period.compress_tokens ?? 0,
          summaries: period.compress_summaries ?? 0,
          summaries_cost: nanoToUsd(period.compress_cost ?? 0),
          usd: nanoToUsd((period.compress_saved ?? 0) - (period.compress_cost ?? 0)),
        },
      },
    });
  });

  app.get("/v1/costs/alerts", async (c) => {
    services.auth.requireAdmin(c.req.header("authorization"));
    const now = services.clock.now();
    const forecasts = await readForecasts(services.store, knownScopes(services.config), services.config.budgets.timezone, now);
    const counters = forecasts.flatMap((f) => f.windows.map((w) => w.counter));
    const spent = forecasts.flatMap((f) => f.windows.map((w) => w.spent));
    const thresholds = [...services.config.budgets.alert_thresholds].sort((a, b) => a - b);
    const warnings: string[] = [];
    const report = forecasts.map(({ scope, burn, windows }) => {
      const entry = { scope: scope.kind, id: scope.id || null, burn_rate: { last_hour: nanoToUsd(Math.round(burn.lastHour)), last_day: nanoToUsd(Math.round(burn.lastDay)) }, windows: {} as Record<string, WindowReport> };
      for (const { counter, spent: value, forecast } of windows) {
        const crossed = counter.limit ? thresholds.filter((t) => value >= t * counter.limit!) : [];
        entry.windows[counter.window] = {
          window: counter.windowId,
          limit: counter.limit === null ? null : nanoToUsd(counter.limit),
          spent: nanoToUsd(value),
          thresholds_crossed: crossed,
          // A daily window at the last hour's rate, a monthly one at the last day's (budget/forecast.ts).
          forecast: forecast && {
            reaches_limit_at: forecast.reachesAt === null ? null : new Date(forecast.reachesAt).toISOString(),
            rate: counter.window === "daily" ? "last_hour" : "last_day",
            before_window_end: forecast.beforeWindowEnd,
          },
        };
        if (crossed.length > 0) {
          warnings.push(`${counter.window} budget of ${scopeLabel(counter.scope)} at ${Math.round((value / counter.limit!) * 100)}%: ${formatUsd(value)} of ${formatUsd(counter.limit!)}`);
        }
      }
      return entry;
    });
    const globalDaily = counters[0]!;
    return c.json({
      warnings,
      daily_limit: globalDaily.limit === null ? null : nanoToUsd(globalDaily.limit),
      daily_spent: nanoToUsd(spent[0] ?? 0),
      thresholds,
      scopes: report.filter((r, i) => i === 0 || Object.values(r.windows).some((w) => w.limit !== null || w.spent > 0)),
    });
  });
}
