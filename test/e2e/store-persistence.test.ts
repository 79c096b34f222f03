import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startTestProxy, testConfig } from "../support/proxy.js";
import { startOwnRedis, type OwnRedis } from "../support/own-redis.js";
import { uniquePrefix } from "../support/redis.js";

/**
 * The start checks that Redis keeps the budgets on disk: without, it warns (or, with
 * `store.require_persistence`, refuses to start), and /ready shows what it found. Against
 * redis-servers of this file's own: one with an append-only file, one with it turned off.
 */

let persistent: OwnRedis;
let volatile: OwnRedis;
/** Nothing is sent upstream here. */
const upstreamUrl = "http://127.0.0.1:9/v1";

beforeAll(async () => {
  [persistent, volatile] = await Promise.all([startOwnRedis(), startOwnRedis()]);
  const admin = new Redis(volatile.url);
  await admin.config("SET", "appendonly", "no");
  // A user that may not run CONFIG, as on managed Redis.
  await admin.call("ACL", "SETUSER", "noconfig", "on", "nopass", "~*", "&*", "+@all", "-config");
  admin.disconnect();
});

afterAll(async () => {
  await Promise.all([persistent?.stop(), volatile?.stop()]);
});

const config = (redisUrl: string, requirePersistence: boolean) =>
  testConfig(upstreamUrl, { store: { redis_url: redisUrl, key_prefix: uniquePrefix(), require_persistence: requirePersistence } });

async function startReady(redisUrl: string, requirePersistence: boolean) {
  const proxy = await startTestProxy(config(redisUrl, requirePersistence));
  onTestFinished(() => proxy.shutdown());
  const ready = await fetch(`${proxy.url}/ready`);
  return { proxy, status: ready.status, body: (await ready.json()) as Record<string, unknown> };
}

describe("Redis persistence at start", () => {
  it("warns when Redis keeps nothing on disk, and /ready shows it while staying ready", async () => {
    const { proxy, status, body } = await startReady(volatile.url, false);
    expect(proxy.logger.lines.filter((l) => l.event === "store_not_persistent")).toEqual([
      expect.objectContaining({ level: "warn", appendonly: "no", save: "", detail: expect.stringContaining("store.require_persistence") }),
    ]);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ready", store: "redis", store_persistent: false });
  });

  it("refuses to start with store.require_persistence when Redis keeps nothing on disk", async () => {
    await expect(startTestProxy(config(volatile.url, true))).rejects.toThrow(/^store\.require_persistence is true, but Redis keeps nothing on disk/);
  });

  it("starts without a warning when Redis has an append-only file", async () => {
    const { proxy, status, body } = await startReady(persistent.url, true);
    expect(proxy.logger.lines.filter((l) => l.event.startsWith("store_"))).toEqual([]);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ready", store: "redis", store_persistent: true });
  });

  it("starts when CONFIG is not allowed, even with store.require_persistence, and logs it as info", async () => {
    const { proxy, status, body } = await startReady(volatile.url.replace("redis://", "redis://noconfig@"), true);
    expect(proxy.logger.lines.filter((l) => l.event.startsWith("store_"))).toEqual([
      expect.objectContaining({ level: "info", event: "store_persistence_unknown", error: expect.stringMatching(/^NOPERM/) }),
    ]);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ready", store: "redis", store_persistent: "unknown" });
  });
});
