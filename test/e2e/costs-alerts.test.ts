import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Cost reports and budget alerts, with two replicas sharing one Redis. The replicas run in this
 * process, each with its own services and its own connection to Redis (alerts are made unique
 * by the store, not by anything a process keeps), on one manual clock: every request falls on
 * the same budget day whatever the date and time the suite runs at.
 */

const KEY = "sk-costs-key";
const ADMIN = "sk-costs-admin";
/** A fixed instant: 2026-06-15 12:00 UTC, far from any day's edge. */
const T0 = Date.UTC(2026, 5, 15, 12);
const DAY = "2026-06-15";
/** gpt-4o-mini costs $0.00021 a request here: 1000 × $0.15/M + 100 × $0.60/M. */
const REQUEST_USD = 0.00021;

let upstream: FakeUpstream;
let webhook: Server;
/** Alerts received, by the webhook path a test's replicas post to. */
const alertsByPath = new Map<string, Array<Record<string, any>>>();

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (!alertsByPath.has(path)) alertsByPath.set(path, []);
      alertsByPath.get(path)!.push(JSON.parse(body));
      res.end("ok");
    });
  });
  await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
  // Every answer: 1,000 prompt tokens and 100 output tokens.
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 100 } }));
});

afterAll(async () => {
  await upstream?.close();
  await new Promise((r) => webhook?.close(r));
});

interface Replicas {
  replicas: TestProxy[];
  /** What the webhook received from these replicas. */
  alerts: Array<Record<string, any>>;
  /** One chat request through replica `i`. */
  ask(i: number): Promise<unknown>;
}

/** Two replicas of this test's own, on a key prefix and a webhook path of its own; stopped when the test ends. */
async function startReplicas(): Promise<Replicas> {
  const prefix = uniquePrefix();
  const path = `/hook/${prefix}`;
  const alerts: Array<Record<string, any>> = [];
  alertsByPath.set(path, alerts);
  const clock = new ManualClock(T0);
  const config = testConfig(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [{ id: "app", key: KEY, team: "research" }],
    admin_key: ADMIN,
    budgets: {
      alert_webhook: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}${path}`,
      alert_thresholds: [0.5, 0.8],
      keys: { app: { daily: 10 * REQUEST_USD } },
    },
  });
  const replicas = await Promise.all([0, 1].map(() => startTestProxy(config, { clock })));
  onTestFinished(async () => {
    await Promise.all(replicas.map((r) => r.shutdown()));
    alertsByPath.delete(path);
    await cleanPrefix(prefix);
  });
  expect(replicas[0]!.services.windows.at(clock.now()).day).toBe(DAY);
  return {
    replicas,
    alerts,
    ask: (i) => replicas[i]!.client(KEY).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 100 }),
  };
}

/**
 * `count` requests, one after the other, alternating replicas, so the counter at each settle
 * holds no estimate in flight; then waits until both replicas have settled all of them.
 */
async function spend({ replicas, ask }: Replicas, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await ask(i % 2);
  await Promise.all(replicas.map((r) => r.services.settler.drain(5000)));
}

const alertLines = (replicas: TestProxy[]) => replicas.flatMap((r) => r.logger.lines.filter((l) => l.event === "budget_alert"));

describe("cost reports and alerts across replicas", () => {
  it("raises each threshold once across replicas, with a Slack-compatible text", async () => {
    const fleet = await startReplicas();
    // Six requests at $0.00021 against $0.0021: the fifth reaches 50%, which alerts once.
    await spend(fleet, 6);
    // Every settle is done, so every alert the replicas will raise for these six is raised.
    expect(alertLines(fleet.replicas)).toHaveLength(1);
    await expect.poll(() => fleet.alerts.length, { timeout: 5000 }).toBe(1);
    expect(fleet.alerts[0]).toMatchObject({ scope: "key", scope_id: "app", window: "daily", window_id: DAY, threshold: 0.5 });
    expect(fleet.alerts[0]!.text).toBe(`tollgate: daily budget of key app (${DAY}) reached 50%: $0.00105 of $0.0021 used`);

    // Three more: 90%, past 80%.
    await spend(fleet, 3);
    // Two alerts raised in all, one per threshold, whichever replica crossed it; each posts once.
    expect(alertLines(fleet.replicas).map((l) => l.threshold)).toEqual([0.5, 0.8]);
    await expect.poll(() => fleet.alerts.length, { timeout: 5000 }).toBe(2);
    expect(fleet.alerts[1]).toMatchObject({ scope: "key", scope_id: "app", threshold: 0.8 });
  });

  it("lists the scopes at or above a threshold", async () => {
    const fleet = await startReplicas();
    await spend(fleet, 9);
    const res = await fetch(`${fleet.replicas[1]!.url}/v1/costs/alerts`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings[0]).toBe("daily budget of key app at 90%: $0.00189 of $0.0021");
    expect(body.daily_limit).toBeNull();
    expect(body.daily_spent).toBeCloseTo(9 * REQUEST_USD, 9);
    const key = body.scopes.find((s: any) => s.scope === "key");
    expect(key.windows.daily).toMatchObject({ window: DAY, limit: 0.0021, thresholds_crossed: [0.5, 0.8] });
  });

  it("summarises costs with the seed's fields, groups and savings", async () => {
    const fleet = await startReplicas();
    await spend(fleet, 9);
    const res = await fetch(`${fleet.replicas[0]!.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.total_requests).toBe(9);
    expect(body.total_cost).toBeCloseTo(9 * REQUEST_USD, 9);
    expect(body.avg_cost_per_request).toBeCloseTo(REQUEST_USD, 9);
    expect(body.today_cost).toBeCloseTo(body.total_cost, 9);
    expect(body.month_cost).toBeCloseTo(body.total_cost, 9);
    expect(body.by_model["gpt-4o-mini"]).toEqual({ requests: 9, cost: body.total_cost });
    expect(body.by_type.chat.requests).toBe(9);
    expect(body.by_tier.economy.requests).toBe(9);
    expect(body.by_key.app.requests).toBe(9);
    expect(body.by_team.research.requests).toBe(9);
    // The client asked for gpt-4o-mini itself, so routing saved nothing.
    expect(body.savings.total).toBeCloseTo(0, 9);
  });

  it("keeps the reports behind the admin key", async () => {
    const fleet = await startReplicas();
    for (const path of ["/v1/costs", "/v1/costs/alerts", "/metrics"]) {
      const res = await fetch(`${fleet.replicas[0]!.url}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe("admin_key_required");
    }
  });
});
