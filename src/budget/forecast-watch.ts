import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Nano } from "../money.js";
import type { AlertNotifier } from "./alerts.js";
import { burnInstants, burnRate, forecastLimit, type BurnRate, type Forecast } from "./forecast.js";
import type { KeyValueStore, BudgetLedger, UsageLog } from "./interface.js";
import { countersFor, type Scope, type ScopeCounter } from "./scopes.js";
import { windowsAt } from "./window.js";

/** A scope's burn rates, and each of its windows with its spend and forecast (null without a limit). */
export interface ScopeForecast {
  scope: Scope;
  burn: BurnRate;
  windows: Array<{ counter: ScopeCounter; spent: Nano; forecast: Forecast | null }>;
}

type ForecastStore = Pick<UsageLog, "aggregates"> & Pick<BudgetLedger, "spent">;

/** Every scope's spend, rates and forecasts now (see forecast.ts): what /v1/costs/alerts reports. */
export async function readForecasts(store: ForecastStore, scopes: Scope[], timeZone: string, now: number): Promise<ScopeForecast[]> {
  const windows = windowsAt(now, timeZone);
  const counters = countersFor(scopes, windows);
  const days = [...new Set(burnInstants(now).map((t) => windowsAt(t, timeZone).day))];
  const [spent, perDay] = await Promise.all([store.spent(counters.map((c) => c.id)), store.aggregates(days)]);
  const fields: Record<string, number> = {};
  for (const day of Object.values(perDay)) for (const [field, value] of Object.entries(day)) if (field.startsWith("burn:")) fields[field] = (fields[field] ?? 0) + value;
  return scopes.map((scope, i) => {
    const burn = burnRate(fields, scope, now);
    const own = counters.slice(2 * i, 2 * i + 2);
    return {
      scope,
      burn,
      windows: own.map((counter, j) => {
        const value = spent[2 * i + j] ?? 0;
        const perHour = counter.window === "daily" ? burn.lastHour : burn.lastDay;
        return { counter, spent: value, forecast: counter.limit === null ? null : forecastLimit(value, counter.limit, perHour, now, counter.windowEnd) };
      }),
    };
  });
}

const CHECK_MS = 60_000;

/**
 * `budgets.alert_on_forecast`: every minute, each replica looks for a window whose forecast reaches
 * its limit before the window ends, and alerts once per window across the replicas (the first to
 * take the window's mark in the store tells; the mark lasts until the window is over).
 */
export class ForecastWatch {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ForecastStore & Pick<KeyValueStore, "setValue">,
    private readonly scopes: () => Scope[],
    private readonly timeZone: string,
    private readonly notifier: AlertNotifier,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check().catch((err: unknown) => this.logger.log("warn", "forecast_check_failed", { error: (err as Error).message })), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Alerts on every window newly forecast to run out before it ends; resolves to how many. */
  async check(): Promise<number> {
    const now = this.clock.now();
    let fired = 0;
    for (const { burn, windows } of await readForecasts(this.store, this.scopes(), this.timeZone, now)) {
      for (const { counter, spent, forecast } of windows) {
        // A window already over its limit has had its threshold alerts.
        if (!forecast?.beforeWindowEnd || forecast.reachesAt === null || spent >= counter.limit!) continue;
        const first = await this.store.setValue(`fcast:${counter.id}`, "1", Math.max(1000, counter.windowEnd - now), true);
        if (!first) continue;
        this.notifier.notifyForecast(counter, spent, forecast.reachesAt, counter.window === "daily" ? burn.lastHour : burn.lastDay);
        fired++;
      }
    }
    return fired;
  }
}
