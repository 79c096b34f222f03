import OpenAI from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { windowsAt } from "../../src/budget/window.js";
import { ManualClock } from "../../src/clock.js";
import type { UsageRecord } from "../../src/usage/record.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, startTestProxy, testConfig, testConfigInput, writeConfigFile, type ProxyProcess, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Budgets are hard across replicas: three proxy processes on one Redis, requests with and without
 * an output limit, an upstream that answers with as much output as it is allowed. And a replica
 * killed with streams in flight: its holds are charged, not released.
 */

const KEY = "sk-hard-limit-test";
const LIMIT_USD = 0.05;
const REQUESTS = 600;

function records(entries: Array<[string, string[]]>): UsageRecord[] {
  return entries.map(([, fields]) => JSON.parse(fields[1]!) as UsageRecord);
}

/** Sum of a scope's daily counters over every day the records fall on (a run may cross midnight). */
async function dailySpend(redis: Redis, prefix: string, recs: UsageRecord[], counter: (day: string) => string): Promise<number> {
  // A request's hold is taken just after it starts: the day of its start, or of a minute later.
  const days = new Set(recs.flatMap((r) => [0, 60_000].map((later) => windowsAt(Date.parse(r.time) + later, "UTC").day)));
  let total = 0;
  for (const day of days) total += Number((await redis.get(`${prefix}{tg}:${counter(day)}`)) ?? 0);
  return total;
}

describe("hard limits across three replicas", () => {
  const prefix = uniquePrefix();
  let upstream: FakeUpstream;
  let replicas: ProxyProcess[] = [];
  /** What the upstream billed: the cost of every usage it reported (gpt-4o-mini prices). */
  let billedNano = 0;

  beforeAll(async () => {
    upstream = await startUpstream((req) => {
      // A long answer of 2,000 tokens, or as much as the limit the request was sent with allows.
      const completion = Math.min(req.body.max_tokens ?? req.body.max_completion_tokens ?? Infinity, 2000);
      const prompt = 12;
      billedNano += Math.round(prompt * 0.15 * 1000) + Math.round(completion * 0.6 * 1000);
      return { kind: "json", usage: { prompt_tokens: prompt, completion_tokens: completion } };
    });
    const file = writeConfigFile(
      testConfigInput(upstream.baseUrl, {
        // Budget leases on: each replica reserves in memory against its slices; the last dollars go exact.
        store: { redis_url: redisUrl(), key_prefix: prefix, budget_leases: true },
        keys: [{ id: "app", key: KEY, team: "research" }],
        budgets: { downgrade: false, output_estimate: 10, global: { daily: LIMIT_USD } },
      }),
    );
    replicas = await Promise.all([0, 1, 2].map(() => spawnProxy(file)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await upstream?.close();
    await cleanPrefix(prefix);
  });

  it("never records more than the limit, with half the requests giving no output limit", async () => {
    const clients = replicas.map((r) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEY, maxRetries: 0 }));
    // While the burst runs, the global counter (settled spend, holds and every replica's slices) is
    // read over and over: it must never be above the limit.
    const sampler = new Redis(redisUrl());
    let bursting = true;
    const samples: number[] = [];
    const sampling = (async () => {
      while (bursting) {
        // Every day's counter the burst touched (it may cross midnight): each is held to the limit.
        const keys = await sampler.keys(`${prefix}{tg}:c:global::d:*`);
        const values = keys.length > 0 ? await sampler.mget(keys) : [];
        samples.push(Math.max(0, ...values.map((v) => Number(v ?? 0))));
      }
    })();
    const results = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        try {
          const params = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: `question ${i}` }], ...(i % 2 === 0 ? { max_tokens: 300 } : {}) };
          const { response } = await clients[i % 3]!.chat.completions.create(params).withResponse();
          return { status: 200, capped: response.headers.get("x-tollgate-output-capped") !== null };
        } catch (err) {
          return { status: (err as InstanceType<typeof OpenAI.APIError>).status ?? 0, capped: false };
        }
      }),
    );
    bursting = false;
    await sampling;
    sampler.disconnect();
    expect(samples.length).toBeGreaterThan(10);
    expect(Math.max(...samples)).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(LIMIT_USD * 1e9);
    expect(results.filter((r) => r.status !== 200 && r.status !== 429)).toEqual([]);
    const answered = results.filter((r) => r.status === 200).length;
    expect(answered).toBeGreaterThan(20);
    // Whether the burst itself capped one depends on how its settles interleave. One request at a
    // time, each without a limit, the room left shrinks by what each answer cost until a worst case
    // no longer fits whole: that request is capped to the room left, before any is refused.
    let capped = results.filter((r) => r.capped).length;
    let moreAnswered = 0;
    for (let i = 0, refused = false; capped === 0 && !refused; i++) {
      try {
        const { response } = await clients[i % 3]!.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `one more ${i}` }] }).withResponse();
        moreAnswered++;
        if (response.headers.get("x-tollgate-output-capped") !== null) capped++;
      } catch (err) {
        expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
        refused = true;
      }
    }
    expect(capped).toBeGreaterThan(0);

    const redis = new Redis(redisUrl());
    try {
      // An answer leaves before its settle lands, and a slice goes back once idle: wait until no hold is left, then read.
      await expect.poll(() => redis.zcard(`${prefix}{tg}:holds`), { timeout: 10_000 }).toBe(0);
      const recs = records(await redis.xrange(`${prefix}{tg}:usage`, "-", "+"));
      expect(recs.length).toBe(answered + moreAnswered);
      const recorded = await dailySpend(redis, prefix, recs, (day) => `c:global::d:${day}`);
      // Every answer settled at what the upstream billed, and that stays within the limit.
      expect(recorded).toBe(billedNano);
      expect(recorded).toBeLessThanOrEqual(LIMIT_USD * 1e9);
      expect(await redis.zcard(`${prefix}{tg}:holds`)).toBe(0);
      console.info(`hard limits: limit ${LIMIT_USD * 1e9} nano-USD, recorded ${recorded}, upstream billed ${billedNano}; ${answered} answered (${results.filter((r) => r.capped).length} with output capped), ${REQUESTS - answered} refused; then ${moreAnswered} one at a time until one was capped`);
    } finally {
      redis.disconnect();
    }
  }, 90_000);
});

describe("a replica killed with streams in flight", () => {
  const prefix = uniquePrefix();
  let upstream: FakeUpstream;
  let killed: ProxyProcess | undefined;
  let survivor: TestProxy | undefined;

  beforeAll(async () => {
    // Streams that never finish: the replica dies while they run.
    upstream = await startUpstream(() => ({ kind: "stream", pieces: Array.from({ length: 1000 }, () => "x"), delayMs: 200 }));
  });

  afterAll(async () => {
    await killed?.stop("SIGKILL");
    await survivor?.shutdown();
    await upstream?.close();
    await cleanPrefix(prefix);
  });

  it("charges the dead replica's holds as unreconciled spend instead of releasing them", async () => {
    const input = testConfigInput(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "app", key: KEY, team: "research" }],
      admin_key: "admin",
      budgets: { global: { daily: 100 } },
    });
    killed = await spawnProxy(writeConfigFile(input));
    const client = new OpenAI({ baseURL: `${killed.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const STREAMS = 20;
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `stream ${i}` }], stream: true, max_tokens: 500 })),
    );
    for (const s of streams) await s[Symbol.asyncIterator]().next();
    const redis = new Redis(redisUrl());
    try {
      expect(await redis.zcard(`${prefix}{tg}:holds`)).toBe(STREAMS);
      const held = await redis.hgetall(`${prefix}{tg}:hold-data`);
      const heldNano = Object.values(held).reduce((s, v) => s + Number(v.split(" ")[0]), 0);
      await killed.stop("SIGKILL");
      for (const s of streams) s.controller.abort();

      // Another replica, its clock past the dead one's leases, finds them on its next round.
      const later = Date.parse(JSON.parse(Object.values(held)[0]!.slice(Object.values(held)[0]!.indexOf(" ") + 1)).time) + 60_000;
      survivor = await startTestProxy(testConfig(upstream.baseUrl, input), { clock: new ManualClock(later) });
      expect(await survivor.services.leases.chargeExpired()).toBe(STREAMS);
      expect(await survivor.services.leases.chargeExpired()).toBe(0);

      const recs = records(await redis.xrange(`${prefix}{tg}:usage`, "-", "+"));
      expect(recs.length).toBe(STREAMS);
      expect(recs.every((r) => r.usage_source === "unreconciled" && r.key_id === "app" && r.routed_model === "gpt-4o-mini")).toBe(true);
      expect(recs.reduce((s, r) => s + r.cost_nano, 0)).toBe(heldNano);
      const day = windowsAt(Date.parse(recs[0]!.time), "UTC").day;
      const counters = countersFor(scopesFor(survivor.services.config.budgets, "app", "research"), windowsAt(Date.parse(recs[0]!.time), "UTC"));
      expect(counters[0]!.id).toBe(`c:global::d:${day}`);
      // The spend stays counted (not released), and nothing is held any more.
      expect(await dailySpend(redis, prefix, recs, (d) => `c:global::d:${d}`)).toBe(heldNano);
      expect(await redis.zcard(`${prefix}{tg}:holds`)).toBe(0);
      expect(await redis.hlen(`${prefix}{tg}:hold-data`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
