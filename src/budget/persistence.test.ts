import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { MemoryLogger } from "../log.js";
import { startOwnRedis, type OwnRedis } from "../../test/support/own-redis.js";
import { checkPersistence, persistenceRefusal, type StorePersistence } from "./persistence.js";

/**
 * The persistence check against redis-servers of this file's own, so the shared test Redis's
 * settings play no part: one with an append-only file, one with it turned off (turning it on at
 * run time starts a rewrite during which Redis will not shut down).
 */

let persistent: OwnRedis;
let volatile: OwnRedis;
let withAof: Redis;
let withoutAof: Redis;

beforeAll(async () => {
  [persistent, volatile] = await Promise.all([startOwnRedis(), startOwnRedis()]);
  withAof = new Redis(persistent.url);
  withoutAof = new Redis(volatile.url);
  await withoutAof.config("SET", "appendonly", "no");
});

afterAll(async () => {
  withAof?.disconnect();
  withoutAof?.disconnect();
  await Promise.all([persistent?.stop(), volatile?.stop()]);
});

describe("checkPersistence", () => {
  it("finds no persistence without an append-only file or snapshots", async () => {
    await withoutAof.config("SET", "save", "");
    expect(await checkPersistence(withoutAof)).toEqual({ persistent: false, appendonly: "no", save: "" });
  });

  it("finds persistence with an append-only file", async () => {
    expect(await checkPersistence(withAof)).toEqual({ persistent: true, appendonly: "yes", save: "" });
  });

  it("finds persistence with a snapshot schedule", async () => {
    await withoutAof.config("SET", "save", "3600 1");
    expect(await checkPersistence(withoutAof)).toEqual({ persistent: true, appendonly: "no", save: "3600 1" });
  });

  it("answers unknown when CONFIG is not allowed, as on managed Redis", async () => {
    await withAof.call("ACL", "SETUSER", "noconfig", "on", "nopass", "~*", "&*", "+@all", "-config");
    const limited = new Redis(persistent.url.replace("redis://", "redis://noconfig@"));
    onTestFinished(() => limited.disconnect());
    const found = await checkPersistence(limited);
    expect(found).toMatchObject({ persistent: "unknown", appendonly: null, save: null });
    expect(found.error).toMatch(/^NOPERM/);
  });
});

describe("persistenceRefusal", () => {
  const off: StorePersistence = { persistent: false, appendonly: "no", save: "" };

  it("warns, saying what is lost and how to keep it, when persistence is off and not required", () => {
    const logger = new MemoryLogger();
    expect(persistenceRefusal(off, false, logger)).toBeUndefined();
    expect(logger.lines).toEqual([expect.objectContaining({ level: "warn", event: "store_not_persistent", appendonly: "no", save: "" })]);
    expect(logger.lines[0]!.detail).toMatch(/resets every budget.*ledger records.*appendonly yes.*save/);
  });

  it("refuses, naming the option, when persistence is off and required", () => {
    const refusal = persistenceRefusal(off, true, new MemoryLogger());
    expect(refusal).toMatch(/^store\.require_persistence is true, but Redis keeps nothing on disk/);
    expect(refusal).toMatch(/appendonly yes/);
  });

  it("starts quietly with persistence, and with an unknown answer logs it as info only, even when required", () => {
    const logger = new MemoryLogger();
    expect(persistenceRefusal({ persistent: true, appendonly: "yes", save: "" }, true, logger)).toBeUndefined();
    expect(logger.lines).toEqual([]);
    expect(persistenceRefusal({ persistent: "unknown", appendonly: null, save: null, error: "NOPERM" }, true, logger)).toBeUndefined();
    expect(logger.lines).toEqual([expect.objectContaining({ level: "info", event: "store_persistence_unknown", error: "NOPERM" })]);
  });
});
