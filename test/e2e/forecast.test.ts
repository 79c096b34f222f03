import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * The forecast against a steady synthetic spend (through Redis): a request of $0.00075 every two
 * minutes is $0.0225 an hour; the forecast of the key's daily limit names the time that rate
 * reaches it, within 10%, and `alert_on_forecast` alerts once for the window it runs out in, not
 * for the month it does not.
 */

const T0 = Date.UTC(2026, 5, 15, 0, 0, 30);
const MINUTE = 60_000;
const COST = 0.00075; // gpt-4o-mini: 1000 tokens in at $0.15/M and 1000 out at $0.60/M
const PER_HOUR = COST * 30;
const DAILY = 0.2;
const ADMIN = "sk-forecast-admin";

interface WindowReport {
  limit: number | null;
  spent: number;
  forecast: { reaches_limit_at: string | null; rate: string; before_window_end: boolean } | null;
}
interface ScopeReport {
  scope: string;
  id: string | null;
  burn_rate: { last_hour: number; last_day: number };
  windows: Record<"daily" | "monthly", WindowReport>;
}

describe("forecast of when a budget runs out", () => {
  const prefix = uniquePrefix();
  const clock = new ManualClock(T0);
  let upstream: FakeUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 1000 } }));
    proxy = await startTestProxy(
      testConfig(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix },
        keys: [{ id: "steady", key: "sk-steady", team: "research" }],
        admin_key: ADMIN,
        routing: { client_model: "pin" },
        budgets: { alert_on_forecast: true, keys: { steady: { daily: DAILY, monthly: 50 } } },
      }),
      { clock },
    );
  });

  afterAll(async () => {
    await proxy?.shutdown();
    await upstream?.close();
    await cleanPrefix(prefix);
  });

  const alerts = async () => (await (await fetch(`${proxy.url}/v1/costs/alerts`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { scopes: ScopeReport[] };

  it("names the time a steady spend reaches the daily limit, within 10%, and alerts on it once", async () => {
    const client = proxy.client("sk-steady");
    for (let minute = 0; minute <= 70; minute += 2) {
      clock.set(T0 + minute * MINUTE);
      await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "steady" }], max_tokens: 1000 });
    }
    clock.set(T0 + 71 * MINUTE);
    const now = clock.now();
    const key = (await alerts()).scopes.find((s) => s.scope === "key" && s.id === "steady")!;
    expect(key.burn_rate.last_hour).toBeGreaterThan(PER_HOUR * 0.9);
    expect(key.burn_rate.last_hour).toBeLessThan(PER_HOUR * 1.1);

    // At the steady rate the spend reaches the limit DAILY / PER_HOUR hours after the first request.
    const truth = T0 + (DAILY / PER_HOUR) * 3_600_000;
    const daily = key.windows.daily;
    expect(daily.forecast).toMatchObject({ rate: "last_hour", before_window_end: true });
    const named = Date.parse(daily.forecast!.reaches_limit_at!);
    expect(Math.abs(named - truth)).toBeLessThan(0.1 * (truth - now));

    // The month is not at risk at the last day's rate.
    expect(key.windows.monthly.forecast).toMatchObject({ rate: "last_day", before_window_end: false });
    // A scope with no limit has no forecast; its rate still shows.
    const global = (await alerts()).scopes.find((s) => s.scope === "global")!;
    expect(global.windows.daily.forecast).toBeNull();
    expect(global.burn_rate.last_hour).toBe(key.burn_rate.last_hour);

    expect(await proxy.services.forecast.check()).toBe(1);
    const alert = proxy.logger.lines.find((l) => l.event === "budget_forecast_alert")!;
    expect(alert).toMatchObject({ scope: "key", scope_id: "steady", window: "daily", limit_usd: DAILY });
    expect(Math.abs(Date.parse(alert.forecast as string) - truth)).toBeLessThan(0.1 * (truth - now));
    // Once per window, across replicas (the mark is in the store).
    expect(await proxy.services.forecast.check()).toBe(0);
  });
});
