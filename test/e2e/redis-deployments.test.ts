import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { windowsAt } from "../../src/budget/window.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startOwnRedis, type OwnRedis } from "../support/own-redis.js";
import { startOwnSentinel, type OwnSentinel } from "../support/own-sentinel.js";
import { makeCertificates, type TestCertificates } from "../support/tls.js";

/** Redis as it is deployed: with a password, over TLS with a certificate the test makes, behind a Sentinel that fails over. */

const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
const day = windowsAt(clock.now(), "UTC").day;
let upstream: FakeUpstream;
const proxies: TestProxy[] = [];
const servers: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json" }));
});

afterAll(async () => {
  for (const proxy of proxies) await proxy.shutdown();
  await upstream?.close();
  for (const server of servers) await server.stop();
});

async function proxyOn(store: Record<string, unknown>): Promise<TestProxy> {
  const proxy = await startTestProxy(testConfig(upstream.baseUrl, { store: { key_prefix: "deploy:", ...store } }), { clock });
  proxies.push(proxy);
  return proxy;
}

async function chat(proxy: TestProxy): Promise<{ status: number; cost: number }> {
  const response = await fetch(`${proxy.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }) });
  await response.arrayBuffer();
  return { status: response.status, cost: Math.round(Number(response.headers.get("x-tollgate-cost") ?? 0) * 1e9) };
}

/** Answers two chats and checks the global counter holds their cost. */
async function budgetsWork(proxy: TestProxy, before = 0): Promise<number> {
  const answers = [await chat(proxy), await chat(proxy)];
  expect(answers.map((a) => a.status)).toEqual([200, 200]);
  const total = before + answers.reduce((s, a) => s + a.cost, 0);
  // An answer leaves before its settle lands.
  await expect.poll(() => proxy.services.store.spent([`c:global::d:${day}`])).toEqual([total]);
  expect((await fetch(`${proxy.url}/ready`)).status).toBe(200);
  return total;
}

describe("a password", () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await startOwnRedis({ password: "pw-for-tollgate" });
    servers.push(redis);
  });

  it("in the URL", async () => {
    await budgetsWork(await proxyOn({ redis_url: redis.url, key_prefix: "pw-url:" }));
  });

  it("in store.password, beside a URL without one", async () => {
    await budgetsWork(await proxyOn({ redis_url: `redis://127.0.0.1:${redis.port}`, password: "pw-for-tollgate", key_prefix: "pw-field:" }));
  });
});

describe("TLS", () => {
  let certs: TestCertificates;
  let redis: OwnRedis;
  beforeAll(async () => {
    certs = makeCertificates();
    redis = await startOwnRedis({ tls: certs, password: "tls-pw" });
    servers.push(redis);
  });

  it("trusts the server's certificate through store.tls.ca_file", async () => {
    await budgetsWork(await proxyOn({ redis_url: redis.url, tls: { ca_file: certs.ca }, key_prefix: "tls:" }));
  });

  it("says the certificate is not trusted when the CA is another", async () => {
    const proxy = await proxyOn({ redis_url: redis.url, tls: { ca_file: certs.otherCa }, key_prefix: "tls-bad:" });
    const ready = await fetch(`${proxy.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toBe("TLS certificate not trusted (store.tls.ca_file)");
  });

  it("refuses to start when a certificate file cannot be read, naming it", async () => {
    await expect(proxyOn({ redis_url: redis.url, tls: { ca_file: "/nonexistent/ca.pem" } })).rejects.toThrow(/store\.tls\.ca_file: cannot read \/nonexistent\/ca\.pem/);
  });
});

describe("store.redis_sentinel", () => {
  let sentinel: OwnSentinel;
  beforeAll(async () => {
    sentinel = await startOwnSentinel();
    servers.push(sentinel);
  }, 30_000);

  it("keeps budgets working through a failover to the replica", async () => {
    const proxy = await proxyOn({ redis_sentinel: { name: sentinel.name, sentinels: [sentinel.sentinel] }, key_prefix: "sentinel:" });
    const before = await budgetsWork(proxy);
    await sentinel.failover();
    await expect.poll(() => sentinel.primaryPort(), { timeout: 20_000, interval: 200 }).toBe(sentinel.replica.port);
    // Requests may meet the switch (503) until the client asks the Sentinel again; then budgets go on from where they were.
    await expect.poll(async () => (await chat(proxy)).status, { timeout: 20_000, interval: 200 }).toBe(200);
    const spent = (await proxy.services.store.spent([`c:global::d:${day}`]))[0]!;
    expect(spent).toBeGreaterThan(before);
    await budgetsWork(proxy, spent);
  }, 60_000);
});
