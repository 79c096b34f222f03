import { afterAll, describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { jsonLogger } from "../log.js";
import type { EntryStore } from "../budget/interface.js";
import { MemoryBudgetStore } from "../budget/memory.js";
import { RedisBudgetStore } from "../budget/redis.js";
import { LedgerDb } from "../ledger/postgres.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import { dropSchema, postgresUrl, uniqueSchema } from "../../test/support/postgres.js";
import { PostgresEntryStore } from "./postgres.js";

/** One contract for the shared entries (keys and teams made at run time), run against each place they live. */

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const clean of cleanups) await clean();
});

const implementations: Array<[string, () => Promise<EntryStore>]> = [
  ["memory", async () => new MemoryBudgetStore(new ManualClock(0))],
  [
    "redis",
    async () => {
      const prefix = uniquePrefix();
      const store = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix });
      cleanups.push(async () => (await store.close(), await cleanPrefix(prefix)));
      expect(await store.waitUntilReady(5000)).toBe(true);
      return store;
    },
  ],
  [
    "postgres",
    async () => {
      const schema = uniqueSchema();
      const db = new LedgerDb({ postgres_url: postgresUrl(), schema, batch_size: 500, poll_ms: 50, claim_idle_ms: 1000 }, jsonLogger);
      cleanups.push(async () => (await db.close(), await dropSchema(postgresUrl(), schema)));
      await db.migrate();
      return new PostgresEntryStore(db.pool);
    },
  ],
];

for (const [name, make] of implementations) {
  describe(`EntryStore contract: ${name}`, () => {
    it("starts empty at a version", async () => {
      const store = await make();
      const snapshot = await store.entries();
      expect(snapshot.entries.size).toBe(0);
      expect(await store.entriesVersion()).toBe(snapshot.version);
    });

    it("moves the version on every change, and only on a change", async () => {
      const store = await make();
      const v0 = await store.entriesVersion();
      expect(await store.putEntry("key:a", '{"id":"a"}', true)).toBe(true);
      const v1 = await store.entriesVersion();
      expect(v1).not.toBe(v0);
      // Taken: nothing written, the version stays.
      expect(await store.putEntry("key:a", '{"id":"other"}', true)).toBe(false);
      expect(await store.entriesVersion()).toBe(v1);
      expect(await store.putEntry("key:a", '{"id":"a","n":2}')).toBe(true);
      const v2 = await store.entriesVersion();
      expect(v2).not.toBe(v1);
      expect(await store.removeEntry("key:missing")).toBe(false);
      expect(await store.entriesVersion()).toBe(v2);
      expect(await store.removeEntry("key:a")).toBe(true);
      expect(await store.entriesVersion()).not.toBe(v2);
    });

    it("reads every entry with the version it is at", async () => {
      const store = await make();
      await store.putEntry("key:a", '{"id":"a"}');
      await store.putEntry("team:t", '{"id":"t","budgets":{"daily":2}}');
      const snapshot = await store.entries();
      expect(snapshot.version).toBe(await store.entriesVersion());
      expect(new Map([...snapshot.entries].map(([id, v]) => [id, JSON.parse(v)]))).toEqual(
        new Map<string, unknown>([["key:a", { id: "a" }], ["team:t", { id: "t", budgets: { daily: 2 } }]]),
      );
    });
  });
}
