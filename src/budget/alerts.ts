import { request } from "undici";
import type { Logger } from "../log.js";
import { formatUsd, nanoToUsd } from "../money.js";
import type { CrossedThreshold } from "./interface.js";
import { scopeLabel, type ScopeCounter } from "./scopes.js";

/**
 * Raises budget alerts. The store has already made each one unique per scope, window and
 * threshold across all replicas; this only tells people: a log line and, when configured,
 * a webhook POST with a Slack-compatible `text`. "Used" is the window's counter at that moment:
 * settled spend plus the estimates of requests still in flight.
 */
export class AlertNotifier {
  constructor(
    private readonly logger: Logger,
    private readonly webhook: string,
  ) {}

  notify(crossed: CrossedThreshold[], counters: ScopeCounter[]): void {
    for (const alert of crossed) {
      const counter = counters[alert.counter];
      if (!counter || counter.limit === null) continue;
      const alertBody = {
        text:
          `tollgate: ${counter.window} budget of ${scopeLabel(counter.scope)} (${counter.windowId}) ` +
          `reached ${Math.round(alert.threshold * 100)}%: ${formatUsd(alert.spent)} of ${formatUsd(counter.limit)} used`,
        scope: counter.scope.kind,
        scope_id: counter.scope.id,
        window: counter.window,
        window_id: counter.windowId,
        threshold: alert.threshold,
        spent_usd: nanoToUsd(alert.spent),
        limit_usd: nanoToUsd(counter.limit),
      };
      this.logger.log("warn", "budget_alert", alertBody);
      if (this.webhook) void this.post(alertBody);
    }
  }

  /** A window forecast to reach its limit before it ends, at `perHour` (nano-USD an hour). */
  notifyForecast(counter: ScopeCounter, spent: number, reachesAt: number, perHour: number): void {
    if (counter.limit === null) return;
    const alertBody = {
      text:
        `tollgate: ${counter.window} budget of ${scopeLabel(counter.scope)} (${counter.windowId}) ` +
        `forecast to run out at ${new Date(reachesAt).toISOString()}: ${formatUsd(spent)} of ${formatUsd(counter.limit)} used, spending ${formatUsd(Math.round(perHour))} an hour`,
      scope: counter.scope.kind,
      scope_id: counter.scope.id,
      window: counter.window,
      window_id: counter.windowId,
      forecast: new Date(reachesAt).toISOString(),
      spent_usd: nanoToUsd(spent),
      limit_usd: nanoToUsd(counter.limit),
      burn_rate_usd_per_hour: nanoToUsd(Math.round(perHour)),
    };
    this.logger.log("warn", "budget_forecast_alert", alertBody);
    if (this.webhook) void this.post(alertBody);
  }

  private async post(alertBody: Record<string, unknown>): Promise<void> {
    try {
      const res = await request(this.webhook, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(alertBody),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await res.body.dump();
      if (res.statusCode >= 300) this.logger.log("warn", "alert_webhook_failed", { status: res.statusCode });
    } catch (err) {
      this.logger.log("warn", "alert_webhook_failed", { error: (err as Error).message });
    }
  }
}
