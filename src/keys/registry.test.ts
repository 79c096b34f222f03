import { describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { MemoryLogger } from "../log.js";
import { MemoryBudgetStore } from "../budget/memory.js";
import { scopesFor } from "../budget/scopes.js";
import { testConfig } from "../../test/support/proxy.js";
import { keyEntry, sha256Hex, teamEntry, type StoredKey } from "./record.js";
import { KeyRegistry } from "./registry.js";

const T0 = Date.UTC(2026, 5, 15, 12);

function stored(id: string, extra: Partial<StoredKey> = {}): StoredKey {
  return { id, team: null, budgets: {}, max_tier: null, models: null, endpoints: null, expires_at: null, metadata: {}, created_at: "", secret_sha256: sha256Hex(`secret-${id}`), secret_hint: "", ...extra };
}

function setup() {
  const clock = new ManualClock(T0);
  const config = testConfig("http://upstream.test/v1", {
    keys: [{ id: "yaml-bot", key: "sk-yaml", team: "research" }],
    budgets: { global: { daily: 50 }, keys: { "yaml-bot": { daily: 2 } }, teams: { research: { daily: 20 } } },
  });
  const store = new MemoryBudgetStore(clock);
  return { clock, config, store, registry: new KeyRegistry(config, store, clock, new MemoryLogger(), 60_000) };
}

describe("KeyRegistry", () => {
  it("refuses to start when a stored key has an id the configuration has, naming it", async () => {
    const { store, registry } = setup();
    await store.putEntry(keyEntry("yaml-bot"), JSON.stringify(stored("yaml-bot")));
    expect(await registry.start()).toMatch(/"yaml-bot" both in the configuration's keys and in the store/);
    registry.stop();
  });

  it("has a key made during a poll's read in force once the write's refresh resolves", async () => {
    const { store, registry } = setup();
    await registry.start();
    await store.putEntry(keyEntry("first"), JSON.stringify(stored("first")));
    // The poll's read has the entries as they were, and is slow to finish.
    let release: () => void = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    let taken: () => void = () => {};
    const snapshotTaken = new Promise<void>((resolve) => (taken = resolve));
    const entries = store.entries.bind(store);
    store.entries = async () => {
      const snapshot = await entries();
      taken();
      await slow;
      return snapshot;
    };
    const poll = registry.refresh();
    await snapshotTaken;
    await store.putEntry(keyEntry("second"), JSON.stringify(stored("second")));
    const written = registry.refresh(true);
    release();
    await Promise.all([poll, written]);
    expect(registry.find(sha256Hex("secret-second"))).toMatchObject({ keyId: "second" });
    expect(registry.find(sha256Hex("secret-first"))).toMatchObject({ keyId: "first" });
    registry.stop();
  });

  it("lays stored budgets over the configuration's, where the scopes read them", async () => {
    const { config, store, registry } = setup();
    await store.putEntry(keyEntry("acme"), JSON.stringify(stored("acme", { team: "resellers", budgets: { daily: 5, rpm: 10 } })));
    await store.putEntry(teamEntry("resellers"), JSON.stringify({ id: "resellers", budgets: { monthly: 100 }, metadata: {}, created_at: "" }));
    await store.putEntry("global", JSON.stringify({ budgets: { daily: 70 } }));
    expect(await registry.start()).toBeUndefined();
    expect(scopesFor(config.budgets, "acme", "resellers").map((s) => s.limits)).toEqual([{ daily: 70 }, { monthly: 100 }, { daily: 5, rpm: 10 }]);
    expect(scopesFor(config.budgets, "yaml-bot", "research").map((s) => s.limits)).toEqual([{ daily: 70 }, { daily: 20 }, { daily: 2 }]);
    await store.removeEntry("global");
    await registry.refresh();
    expect(config.budgets.global).toEqual({ daily: 50 });
    registry.stop();
  });

  it("finds a key by its secret's digest, until it expires; a rotated secret until its grace ends", async () => {
    const { clock, store, registry } = setup();
    await store.putEntry(
      keyEntry("acme"),
      JSON.stringify(stored("acme", { expires_at: new Date(T0 + 10_000).toISOString(), previous: { secret_sha256: sha256Hex("old"), until: new Date(T0 + 5000).toISOString() } })),
    );
    await registry.start();
    expect(registry.find(sha256Hex("secret-acme"))).toMatchObject({ keyId: "acme" });
    expect(registry.find(sha256Hex("old"))).toMatchObject({ keyId: "acme" });
    expect(registry.find(sha256Hex("sk-yaml"))).toMatchObject({ keyId: "yaml-bot", team: "research" });
    clock.advance(5000);
    expect(registry.find(sha256Hex("old"))).toBeUndefined();
    expect(registry.find(sha256Hex("secret-acme"))).toBeDefined();
    clock.advance(5000);
    expect(registry.find(sha256Hex("secret-acme"))).toBeUndefined();
    registry.stop();
  });

  it("keeps serving the configuration's keys while the store does not answer, and reads it once it does", async () => {
    const clock = new ManualClock(T0);
    const config = testConfig("http://upstream.test/v1", { keys: [{ id: "yaml-bot", key: "sk-yaml" }] });
    const store = new MemoryBudgetStore(clock);
    await store.putEntry(keyEntry("acme"), JSON.stringify(stored("acme")));
    let down = true;
    const flaky = {
      entriesVersion: () => (down ? Promise.reject(new Error("down")) : store.entriesVersion()),
      entries: () => (down ? Promise.reject(new Error("down")) : store.entries()),
      putEntry: store.putEntry.bind(store),
      removeEntry: store.removeEntry.bind(store),
    };
    const logger = new MemoryLogger();
    const registry = new KeyRegistry(config, flaky, clock, logger, 60_000);
    expect(await registry.start()).toBeUndefined();
    expect(logger.lines.filter((l) => l.event === "keys_store_unavailable")).toHaveLength(1);
    expect(registry.find(sha256Hex("sk-yaml"))).toBeDefined();
    expect(registry.find(sha256Hex("secret-acme"))).toBeUndefined();
    down = false;
    await registry.refresh();
    expect(registry.find(sha256Hex("secret-acme"))).toMatchObject({ keyId: "acme" });
    registry.stop();
  });
});
