import { describe, expect, it } from "vitest";
import { BURN_BUCKET_MS, burnFields, burnInstants, burnRate, forecastLimit } from "./forecast.js";

const T0 = Date.UTC(2026, 5, 15);
const KEY = { kind: "key", id: "a/b" } as const;
const HOUR = 3_600_000;

/** The fields of a steady spend: `cost` every `everyMs` from `from` to `to`. */
function steady(from: number, to: number, everyMs: number, cost: number): Record<string, number> {
  const fields: Record<string, number> = {};
  for (let t = from; t <= to; t += everyMs) for (const [f, v] of burnFields([KEY, { kind: "global", id: "" }], t, cost)) fields[f] = (fields[f] ?? 0) + v;
  return fields;
}

describe("burn rate and forecast", () => {
  it("reads a steady spend as itself over the last hour, whatever the minute", () => {
    for (const minute of [0, 1, 2.5, 4.99]) {
      const now = T0 + 4 * HOUR + minute * 60_000;
      const fields = steady(T0, now, 60_000, 1000);
      // 1000 nano a minute: 60,000 an hour (within one request of the edges).
      expect(burnRate(fields, KEY, now).lastHour).toBeGreaterThan(60_000 * 0.97);
      expect(burnRate(fields, KEY, now).lastHour).toBeLessThan(60_000 * 1.03);
    }
  });

  it("spreads the last day's spend over the time its buckets cover (23 h 55 min to 24 h)", () => {
    const fields = steady(T0, T0 + 2 * HOUR, 60_000, 1000);
    const rate = burnRate(fields, KEY, T0 + 2 * HOUR);
    expect(rate.lastDay).toBeCloseTo((121 * 1000) / (23 + 55 / 60), 6);
    expect(burnRate(fields, { kind: "team", id: "x" }, T0 + HOUR).lastHour).toBe(0);
  });

  it("adds one field per scope, none for a free request", () => {
    expect(burnFields([KEY, KEY], T0 + BURN_BUCKET_MS, 5)).toEqual([[`burn:${T0 / BURN_BUCKET_MS + 1}:key:a%2Fb`, 5]]);
    expect(burnFields([KEY], T0, 0)).toEqual([]);
  });

  it("names the days to read: every hour of the last day, and now", () => {
    const instants = burnInstants(T0 + 12 * HOUR);
    expect(instants[0]).toBeLessThanOrEqual(T0 + 12 * HOUR - 24 * HOUR + BURN_BUCKET_MS);
    expect(instants.at(-1)).toBe(T0 + 12 * HOUR);
    expect(instants.length).toBe(25);
  });

  it("forecasts when the limit is reached, and whether before the window ends", () => {
    expect(forecastLimit(400, 1000, 100, T0, T0 + 24 * HOUR)).toEqual({ reachesAt: T0 + 6 * HOUR, beforeWindowEnd: true });
    expect(forecastLimit(400, 1000, 10, T0, T0 + 24 * HOUR)).toEqual({ reachesAt: T0 + 60 * HOUR, beforeWindowEnd: false });
    expect(forecastLimit(400, 1000, 0, T0, T0 + 24 * HOUR)).toEqual({ reachesAt: null, beforeWindowEnd: false });
    expect(forecastLimit(1000, 1000, 0, T0, T0 + 24 * HOUR)).toEqual({ reachesAt: T0, beforeWindowEnd: true });
  });
});
