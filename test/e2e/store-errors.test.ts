import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startOwnRedis, type OwnRedis } from "../support/own-redis.js";
import { freePort } from "../support/ports.js";
import { ManualClock } from "../../src/clock.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * A store that cannot be reached says why: the cause and where (password masked) in the log, a
 * short reason in /ready; every route that reads it answers 503, never 500.
 */

const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
const PASSWORD = "s3cret-pass";
let upstream: FakeUpstream;
let guarded: OwnRedis;
const started: TestProxy[] = [];

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json" }));
  guarded = await startOwnRedis({ password: PASSWORD });
});

afterAll(async () => {
  for (const proxy of started) await proxy.shutdown();
  await upstream?.close();
  await guarded?.stop();
});

async function proxyOn(store: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestProxy> {
  const proxy = await startTestProxy(testConfig(upstream.baseUrl, { store: { key_prefix: uniquePrefix(), ...store }, admin_key: "admin", ...extra }), { clock });
  started.push(proxy);
  return proxy;
}

const chat = (proxy: TestProxy) =>
  fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }) });

describe("a store that cannot be reached", () => {
  it("with a wrong password: says so at start, in /ready and in each 503, and never shows the password", async () => {
    const url = guarded.url.replace(PASSWORD, "wrong-pass");
    const proxy = await proxyOn({ redis_url: url });
    const atStart = proxy.logger.lines.find((l) => l.event === "budget_store_unavailable");
    expect(atStart).toMatchObject({ level: "error", store: `redis://:***@127.0.0.1:${guarded.port}`, reason: "wrong password (or user)" });
    expect(String(atStart!.error)).toMatch(/WRONGPASS/);

    const ready = await fetch(`${proxy.url}/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as Record<string, string>;
    expect(body.reason).toBe("wrong password (or user)");
    expect(body.error).toContain(`at redis://:***@127.0.0.1:${guarded.port}`);

    const refused = await chat(proxy);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("budget_store_unavailable");
    for (const path of ["/v1/costs", "/v1/costs/alerts", "/v1/costs/records"]) {
      const report = await fetch(`${proxy.url}${path}`, { headers: { authorization: "Bearer admin" } });
      expect(report.status, path).toBe(503);
      expect(((await report.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "budget_store_unavailable", message: expect.stringContaining("wrong password") });
    }
    expect(JSON.stringify(proxy.logger.lines)).not.toContain("wrong-pass");
  });

  it("refusing connections: says connection refused", async () => {
    const port = await freePort();
    const proxy = await proxyOn({ redis_url: `redis://127.0.0.1:${port}` });
    expect(proxy.logger.lines.find((l) => l.event === "budget_store_unavailable")).toMatchObject({ reason: "connection refused", store: `redis://127.0.0.1:${port}` });
    expect(((await (await fetch(`${proxy.url}/ready`)).json()) as Record<string, string>).reason).toBe("connection refused");
  });

  it("with the right password works, and a start with Redis logs no routing sync failure", async () => {
    const proxy = await proxyOn({ redis_url: guarded.url }, { routing: { target_share: { premium: 0.2, standard: 0.3 } } });
    expect((await chat(proxy)).status).toBe(200);
    expect((await fetch(`${proxy.url}/ready`)).status).toBe(200);
    expect(proxy.logger.lines.filter((l) => l.level !== "info").map((l) => l.event)).toEqual([]);
  });
});

describe("the shared Redis, for a start with a target share", () => {
  const prefix = uniquePrefix();
  afterAll(() => cleanPrefix(prefix));

  it("logs no routing_share_sync_failed", async () => {
    const proxy = await proxyOn({ redis_url: redisUrl(), key_prefix: prefix }, { routing: { target_share: { premium: 0.2, standard: 0.3 } } });
    expect((await chat(proxy)).status).toBe(200);
    expect(proxy.logger.lines.map((l) => l.event)).not.toContain("routing_share_sync_failed");
  });
});
