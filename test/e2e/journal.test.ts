import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisBudgetStore } from "../../src/budget/redis.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile } from "../support/proxy.js";
import { startOwnRedis, type OwnRedis } from "../support/own-redis.js";

/**
 * Nothing lost on shutdown: a replica (its own process) answers and bills requests while Redis is
 * down (`store.on_error: open`), is SIGTERMed before Redis is back, and the next start on the same
 * journal folder records every one of them, once.
 */

let redis: OwnRedis;
let upstream: FakeUpstream;
let store: RedisBudgetStore;

beforeAll(async () => {
  redis = await startOwnRedis();
  upstream = await startUpstream(() => ({ kind: "json" }));
  store = new RedisBudgetStore({ url: redis.url, keyPrefix: "journal:" });
});

afterAll(async () => {
  await store?.close();
  await upstream?.close();
  await redis?.stop();
});

const lines = (output: string[]) => output.join("").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

describe("the settle journal", () => {
  it("keeps what a replica SIGTERMed while Redis is down billed, and the next start records it exactly once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-journal-"));
    const file = writeConfigFile(testConfigInput(upstream.baseUrl, { store: { redis_url: redis.url, key_prefix: "journal:", on_error: "open", journal_dir: dir }, server: { host: "127.0.0.1", port: 0, shutdown_grace_ms: 500 } }));
    const first = await spawnProxy(file);
    await redis.stop();
    const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: "x", maxRetries: 0 });
    const billed = new Map<string, number>();
    for (let i = 0; i < 5; i++) {
      const { response } = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `hello ${i}` }] }).withResponse();
      billed.set(response.headers.get("x-request-id")!, Math.round(Number(response.headers.get("x-tollgate-cost")) * 1e9));
    }
    expect(await first.stop("SIGTERM")).toBe(0);
    const journaled = lines(first.output).find((l) => l.event === "settles_journaled");
    const total = [...billed.values()].reduce((a, b) => a + b, 0);
    // Each request's settle, and the release of its reserve whose reply was lost (0).
    expect(journaled).toMatchObject({ level: "warn", settles: 10, actual_nano: total, dir });
    expect(readdirSync(dir)).toHaveLength(1);

    await redis.start();
    const second = await spawnProxy(file);
    try {
      expect(lines(second.output).find((l) => l.event === "settle_journal_replaying")).toMatchObject({ settles: 10, actual_nano: total });
      await store.waitUntilReady(5000);
      await expect.poll(async () => (await store.usageRecords(100)).length, { timeout: 10_000 }).toBe(5);
      const records = await store.usageRecords(100);
      expect(new Map(records.map((r) => [r.request_id, r.cost_nano]))).toEqual(billed);
      // The child runs on the system clock: its requests may straddle a midnight (UTC budget days).
      const days = [...new Set(records.map((r) => r.time.slice(0, 10)))];
      await expect.poll(async () => (await store.spent(days.map((day) => `c:global::d:${day}`))).reduce((a, b) => a + b, 0)).toBe(total);
      // Replayed and emptied: nothing is left for a third start.
      await expect.poll(() => readFileSync(join(dir, readdirSync(dir)[0]!), "utf8")).toBe("");
    } finally {
      expect(await second.stop("SIGTERM")).toBe(0);
    }

    const third = await spawnProxy(file);
    expect(await third.stop("SIGTERM")).toBe(0);
    expect(lines(third.output).map((l) => l.event)).not.toContain("settle_journal_replaying");
    expect((await store.usageRecords(100)).length).toBe(5);
  }, 60_000);

  it("without a journal, says at error level what a stop while Redis is down loses", async () => {
    const own = await startOwnRedis();
    const file = writeConfigFile(testConfigInput(upstream.baseUrl, { store: { redis_url: own.url, key_prefix: "lost:", on_error: "open" }, server: { host: "127.0.0.1", port: 0, shutdown_grace_ms: 500 } }));
    const replica = await spawnProxy(file);
    try {
      await own.stop();
      const client = new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: "x", maxRetries: 0 });
      const { response } = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).withResponse();
      const cost = Math.round(Number(response.headers.get("x-tollgate-cost")) * 1e9);
      expect(await replica.stop("SIGTERM")).toBe(0);
      expect(lines(replica.output).find((l) => l.event === "settles_lost")).toMatchObject({ level: "error", settles: 2, actual_nano: cost });
    } finally {
      await replica.stop();
      await own.stop();
    }
  }, 60_000);
});
