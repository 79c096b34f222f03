import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** Cost reports and budget alerts, with two replicas sharing one Redis. */

const KEY = "sk-costs-key";
const ADMIN = "sk-costs-admin";
const prefix = uniquePrefix();
let upstream: FakeUpstream;
let replicas: ProxyProcess[] = [];
let webhook: Server;
const alerts: Array<Record<string, any>> = [];

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      alerts.push(JSON.parse(body));
      res.end("ok");
    });
  });
  await new Promise<void>((r) => webhook.listen(0, "127.0.0.1", r));
  // Every answer: 1,000 prompt tokens and 100 output tokens.
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 100 } }));
  const file = writeConfigFile(
    testConfigInput(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "app", key: KEY, team: "research" }],
      admin_key: ADMIN,
      budgets: {
        alert_webhook: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
        alert_thresholds: [0.5, 0.8],
        // gpt-4o-mini costs $0.00021 a request here: 1000 × $0.15/M + 100 × $0.60/M.
        keys: { app: { daily: 0.0021 } },
      },
    }),
  );
  replicas = await Promise.all([0, 1].map(() => spawnProxy(file)));
}, 60_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await upstream?.close();
  await new Promise((r) => webhook?.close(r));
  await cleanPrefix(prefix);
});

const clientOf = (i: number) => new OpenAI({ baseURL: `${replicas[i]!.url}/v1`, apiKey: KEY, maxRetries: 0 });

describe("cost reports and alerts across replicas", () => {
  it("raises each threshold once across replicas, with a Slack-compatible text", async () => {
    // Six requests at $0.00021 against $0.0021: the fifth reaches 50%, which alerts once.
    // Sequential, alternating replicas, so the counter at each settle holds no estimate in flight.
    for (let i = 0; i < 6; i++) {
      await clientOf(i % 2).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 100 });
    }
    await expect.poll(() => alerts.length, { timeout: 5000 }).toBe(1);
    expect(alerts[0]).toMatchObject({ scope: "key", scope_id: "app", window: "daily", threshold: 0.5 });
    expect(alerts[0]!.text).toMatch(/^tollgate: daily budget of key app \(\d{4}-\d\d-\d\d\) reached 50%: \$0\.00105 of \$0\.0021 used$/);

    // Three more: 90%, past 80%.
    for (let i = 0; i < 3; i++) {
      await clientOf(i % 2).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 100 });
    }
    await expect.poll(() => alerts.length, { timeout: 5000 }).toBe(2);
    expect(alerts[1]).toMatchObject({ threshold: 0.8 });
    await new Promise((r) => setTimeout(r, 300));
    expect(alerts).toHaveLength(2);
  });

  it("lists the scopes at or above a threshold", async () => {
    const res = await fetch(`${replicas[1]!.url}/v1/costs/alerts`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings[0]).toBe("daily budget of key app at 90%: $0.00189 of $0.0021");
    expect(body.daily_limit).toBeNull();
    expect(body.daily_spent).toBeCloseTo(9 * 0.00021, 9);
    const key = body.scopes.find((s: any) => s.scope === "key");
    expect(key.windows.daily).toMatchObject({ limit: 0.0021, thresholds_crossed: [0.5, 0.8] });
  });

  it("summarises costs with the seed's fields, groups and savings", async () => {
    const res = await fetch(`${replicas[0]!.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.total_requests).toBe(9);
    expect(body.total_cost).toBeCloseTo(9 * 0.00021, 9);
    expect(body.avg_cost_per_request).toBeCloseTo(0.00021, 9);
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
    for (const path of ["/v1/costs", "/v1/costs/alerts", "/metrics"]) {
      const res = await fetch(`${replicas[0]!.url}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe("admin_key_required");
    }
  });
});
