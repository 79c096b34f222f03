import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { windowsAt } from "../../src/budget/window.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startOwnCluster, type OwnCluster } from "../support/own-cluster.js";

/**
 * A 3-master Redis Cluster of the test's own: budgets hold whichever node the configuration names,
 * the budget keys share one slot (one node), and every other key spreads over the nodes.
 */

const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));
let cluster: OwnCluster;
let upstream: FakeUpstream;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  cluster = await startOwnCluster();
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 1000 } }));
}, 60_000);

afterAll(async () => {
  for (const proxy of proxies) await proxy.shutdown();
  await upstream?.close();
  await cluster?.stop();
});

async function proxyOn(store: Record<string, unknown>, prefix: string, extra: Record<string, unknown> = {}): Promise<TestProxy> {
  const proxy = await startTestProxy(testConfig(upstream.baseUrl, { store: { key_prefix: prefix, ...store }, ...extra }), { clock });
  proxies.push(proxy);
  return proxy;
}

const ask = (proxy: TestProxy, content: string, headers: Record<string, string> = {}) =>
  fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "gpt-4o-mini", max_tokens: 1000, temperature: 0, messages: [{ role: "user", content }] }),
  });

/** The keys under `prefix` on each node. */
async function keysByNode(prefix: string): Promise<string[][]> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const redis = new Redis(node.url);
      try {
        return await redis.keys(`${prefix}*`);
      } finally {
        redis.disconnect();
      }
    }),
  );
}

describe("store.redis_cluster", () => {
  it("holds a daily budget across two replicas, each told a different node", async () => {
    // gpt-4o-mini: 1000 input tokens at $0.15/1M and 1000 output at $0.60/1M: $0.00075 a request.
    const budgets = { global: { daily: 0.003 } };
    const [a, b] = await Promise.all(cluster.addresses.slice(0, 2).map((node) => proxyOn({ redis_cluster: [node] }, "budget:", { budgets })));
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await ask(i % 2 === 0 ? a! : b!, `question ${i}`)).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    const day = windowsAt(clock.now(), "UTC").day;
    const [spent] = await a!.services.store.spent([`c:global::d:${day}`]);
    expect(spent).toBeLessThanOrEqual(3_000_000);
    expect((await fetch(`${a!.url}/ready`)).status).toBe(200);
    expect((await fetch(`${b!.url}/ready`)).status).toBe(200);
  });

  it("works from every node, keeps the budget keys on one node and spreads the cache over the others", async () => {
    for (const [i, node] of cluster.addresses.entries()) {
      const proxy = await proxyOn({ redis_cluster: [node] }, `spread${i}:`, { cache: { enabled: true } });
      for (let q = 0; q < 12; q++) expect((await ask(proxy, `cached question ${q}`)).status).toBe(200);
      const keys = await keysByNode(`spread${i}:`);
      const budgetNodes = keys.filter((node) => node.some((k) => k.includes("{tg}")));
      expect(budgetNodes).toHaveLength(1);
      const cacheNodes = keys.filter((node) => node.some((k) => k.startsWith(`spread${i}:v:`)));
      expect(cacheNodes.length).toBeGreaterThan(1);
      expect((await proxy.services.store.usageRecords(20)).length).toBe(12);
    }
  });

  it("a plain redis_url at a node that does not own the budget keys: /ready says what to set", async () => {
    const owner = await proxyOn({ redis_cluster: [cluster.addresses[0]!] }, "moved:");
    expect((await ask(owner, "hello")).status).toBe(200);
    const keys = await keysByNode("moved:");
    const other = cluster.nodes.find((_, i) => keys[i]!.length === 0)!;
    const proxy = await proxyOn({ redis_url: other.url }, "moved:");
    const ready = await fetch(`${proxy.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toBe("a Redis Cluster node that does not own the budget keys: use store.redis_cluster");
    expect(proxy.logger.lines.find((l) => l.event === "store_is_cluster_node")).toMatchObject({ level: "error" });
  });
});
