import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * routing.target_share across three proxy processes on one Redis. Each replica serves a different
 * third of the traffic (the easiest, the middle, the hardest prompts); alone, each would send the
 * top fifth of its own traffic to premium. Sharing the window, all three settle on the same
 * thresholds: the top fifth of everyone's traffic goes to premium, whichever replica serves it.
 */

const ADMIN = "tg-routing-admin";
const prefix = uniquePrefix();
let upstream: FakeUpstream;
let replicas: ProxyProcess[] = [];

/** 60 prompts, one to sixty questions long: the routing score rises with their length. */
const PROMPTS = Array.from({ length: 60 }, (_, i) => Array.from({ length: i + 1 }, (_, q) => `Is claim ${q} true, and why?`).join(" "));
/** Replica r serves prompts 20r .. 20r + 19. */
const replicaOf = (i: number) => Math.floor(i / 20);

interface Estimate {
  tier: string;
  routing_score: number;
  routing_thresholds: { premium: number; standard: number; target_share: { premium: number; standard: number }; window_scores: number };
}

async function estimate(replica: ProxyProcess, prompt: string): Promise<Estimate> {
  const res = await fetch(`${replica.url}/v1/estimate`, { method: "POST", body: JSON.stringify({ prompt }) });
  expect(res.status).toBe(200);
  return (await res.json()) as Estimate;
}

async function chat(replica: ProxyProcess, prompt: string): Promise<{ tier: string; route: string }> {
  const res = await fetch(`${replica.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: prompt }], max_tokens: 20 }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  return { tier: res.headers.get("x-tollgate-tier")!, route: res.headers.get("x-tollgate-route")! };
}

beforeAll(async () => {
  upstream = await startUpstream();
  const file = writeConfigFile(
    testConfigInput(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      admin_key: ADMIN,
      // Merged every 100 ms instead of 5 s, so the test waits little; no prior, so only traffic counts.
      routing: { target_share: { premium: 0.2, standard: 0.3 }, share_window: { seconds: 600, sync_ms: 100, min_samples: 0 } },
    }),
  );
  replicas = await Promise.all([0, 1, 2].map(() => spawnProxy(file)));
}, 60_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await upstream?.close();
  await cleanPrefix(prefix);
});

describe("a target share across replicas", () => {
  it("shares one rolling quantile through Redis: every replica routes everyone's top fifth to premium", async () => {
    // Warm-up: each prompt three times, each to its own replica.
    for (let round = 0; round < 3; round++) {
      const first = await Promise.all(PROMPTS.map((p, i) => chat(replicas[replicaOf(i)]!, p)));
      expect(first.every((r) => /^score:0\.\d{3}$/.test(r.route))).toBe(true);
    }
    // Every replica's window holds all 180 scores once each has merged and read back.
    for (const replica of replicas) {
      await expect.poll(async () => (await estimate(replica, "hi")).routing_thresholds.window_scores, { timeout: 10_000, interval: 50 }).toBe(180);
    }

    const views = await Promise.all(replicas.map((r) => estimate(r, "hi")));
    for (const v of views) {
      expect(v.routing_thresholds).toEqual(views[0]!.routing_thresholds);
      expect(v.routing_thresholds.target_share).toEqual({ premium: 0.2, standard: 0.3 });
    }

    // The same thresholds everywhere (estimates are not counted, so they stay put): the hardest 12
    // prompts premium, the next 18 standard, on any replica. Replica 0, which served only the easiest
    // 20, routes none of them up; alone it would have sent its own top fifth to premium.
    const expected = PROMPTS.map((_, i) => (i >= 48 ? "premium" : i >= 30 ? "standard" : "economy"));
    for (const replica of replicas) {
      const tiers = await Promise.all(PROMPTS.map(async (p) => (await estimate(replica, p)).tier));
      expect(tiers).toEqual(expected);
    }

    // /v1/costs shows each tier's share of the period beside its target (once every request has settled).
    type Costs = { tier_share: Record<string, { requests: number; share: number; target: number | null }> };
    const costs = async () => (await (await fetch(`${replicas[1]!.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as Costs;
    await expect.poll(async () => Object.values((await costs()).tier_share).reduce((s, t) => s + t.requests, 0), { timeout: 10_000, interval: 50 }).toBe(180);
    const { tier_share: share } = await costs();
    expect(Object.fromEntries(Object.entries(share).map(([tier, t]) => [tier, t.target]))).toEqual({ economy: 0.5, standard: 0.3, premium: 0.2 });
    for (const t of Object.values(share)) expect(t.share).toBeCloseTo(t.requests / 180, 4);
  });
});
