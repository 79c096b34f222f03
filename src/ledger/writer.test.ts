import { Registry } from "prom-client";
import { describe, expect, it, onTestFinished } from "vitest";
import { ManualClock } from "../clock.js";
import { MemoryBudgetStore } from "../budget/memory.js";
import { RedisBudgetStore } from "../budget/redis.js";
import type { SettleRequest } from "../budget/interface.js";
import { MemoryLogger } from "../log.js";
import type { UsageRecord } from "../usage/record.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import { dropSchema, postgresUrl, sql, uniqueSchema } from "../../test/support/postgres.js";
import { usageRecord } from "../../test/support/records.js";
import { MemoryLedgerQueue } from "./memory-queue.js";
import { LedgerMetrics } from "./metrics.js";
import { LedgerDb } from "./postgres.js";
import type { LedgerQueue } from "./queue.js";
import { RedisLedgerQueue } from "./redis-queue.js";
import { LedgerWriter } from "./writer.js";

/**
 * The writer between a real queue (Redis, or the memory store's) and the real PostgreSQL: every
 * record lands once, a dead writer's batch is taken over, a refused record is set aside.
 */

const settleOf = (record: UsageRecord): SettleRequest => ({
  requestId: record.request_id,
  actual: record.cost_nano,
  counters: [],
  thresholds: [],
  record,
  day: "2026-06-15",
  aggregates: [],
  now: 0,
});

const records = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => usageRecord({ request_id: `${prefix}-${String(i).padStart(4, "0")}`, cost_nano: i }));

interface Fixture {
  store: RedisBudgetStore;
  db: LedgerDb;
  schema: string;
  logger: MemoryLogger;
  writer(queue?: LedgerQueue, batch?: number): { writer: LedgerWriter; queue: LedgerQueue };
  queue(claimIdleMs?: number): RedisLedgerQueue;
  written(): Promise<Array<{ request_id: string }>>;
}

async function redisFixture(): Promise<Fixture> {
  const prefix = uniquePrefix();
  const schema = uniqueSchema();
  const logger = new MemoryLogger();
  const store = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix, ledger: true });
  const db = new LedgerDb({ postgres_url: postgresUrl(), schema, batch_size: 100, poll_ms: 50, claim_idle_ms: 200 }, logger);
  expect(await store.waitUntilReady(5000)).toBe(true);
  const writers: LedgerWriter[] = [];
  const queues: LedgerQueue[] = [];
  onTestFinished(async () => {
    await Promise.all(writers.map((w) => w.stop()));
    await Promise.all(queues.map((q) => q.close()));
    await store.close();
    await db.close();
    await cleanPrefix(prefix);
    await dropSchema(postgresUrl(), schema);
  });
  const fixture: Fixture = {
    store,
    db,
    schema,
    logger,
    queue(claimIdleMs = 200) {
      const q = new RedisLedgerQueue({ redis: store.redis, stream: store.ledgerStream, pollMs: 50, claimIdleMs });
      queues.push(q);
      return q;
    },
    writer(queue = fixture.queue(), batch = 100) {
      const writer = new LedgerWriter(queue, db, logger, new LedgerMetrics(new Registry(), () => queue.backlog()), batch);
      writers.push(writer);
      writer.start();
      return { writer, queue };
    },
    written: () => sql<{ request_id: string }>(postgresUrl(), schema, "SELECT request_id FROM usage_records ORDER BY request_id"),
  };
  return fixture;
}

describe("ledger writer with the Redis queue", () => {
  it("writes every settled record once, in batches, and empties the queue", async () => {
    const f = await redisFixture();
    const batch = records("a", 250);
    await Promise.all(batch.map((r) => f.store.settle(settleOf(r))));
    expect(await f.store.redis.xlen(f.store.ledgerStream)).toBe(250);
    const { writer, queue } = f.writer();
    await expect.poll(async () => (await f.written()).length, { timeout: 10_000 }).toBe(250);
    await expect.poll(() => queue.backlog(), { timeout: 5000 }).toEqual({ queued: 0, pending: 0 });
    expect((await f.written()).map((r) => r.request_id)).toEqual(batch.map((r) => r.request_id));
    expect(writer.state).toMatchObject({ postgres: "up", written: 250 });
    // The usage stream (the store's recent records) is left as it was.
    expect(await f.store.redis.xlen(f.store.ledgerStream.replace(/ledger$/, "usage"))).toBe(250);
  });

  it("takes over the batch of a writer that died before confirming it", async () => {
    const f = await redisFixture();
    const batch = records("b", 30);
    await Promise.all(batch.map((r) => f.store.settle(settleOf(r))));
    // A writer takes ten records and dies: they stay pending under its name.
    const dead = f.queue();
    expect(await dead.take(10)).toHaveLength(10);
    expect(await dead.backlog()).toEqual({ queued: 30, pending: 10 });
    await dead.close();
    const { queue } = f.writer(f.queue(200));
    await expect.poll(async () => (await f.written()).length, { timeout: 10_000 }).toBe(30);
    await expect.poll(() => queue.backlog(), { timeout: 5000 }).toEqual({ queued: 0, pending: 0 });
    // The dead writer's name leaves the group once it holds nothing and has been idle long enough.
    const names = async () => ((await f.store.redis.call("XINFO", "CONSUMERS", f.store.ledgerStream, "ledger")) as string[][]).map((c) => c[1]);
    await expect.poll(names, { timeout: 10_000 }).toEqual([(queue as RedisLedgerQueue).consumer]);
  });

  it("writes a batch twice as one: a retried or taken-over batch adds nothing", async () => {
    const f = await redisFixture();
    await f.db.migrate();
    const batch = records("c", 5);
    await f.db.insert(batch.slice(0, 3));
    await Promise.all(batch.map((r) => f.store.settle(settleOf(r))));
    const { writer } = f.writer();
    await expect.poll(async () => (await f.written()).length, { timeout: 10_000 }).toBe(5);
    await expect.poll(() => writer.state.written).toBe(2);
  });

  it("sets aside a record PostgreSQL refuses and writes the rest of its batch", async () => {
    const f = await redisFixture();
    const good = records("d", 4);
    const bad = usageRecord({ request_id: "d-bad", status: Number.NaN });
    await Promise.all([...good.slice(0, 2), bad, ...good.slice(2)].map((r) => f.store.settle(settleOf(r))));
    await f.store.redis.xadd(f.store.ledgerStream, "*", "r", "not json");
    const { queue } = f.writer();
    await expect.poll(async () => (await f.written()).length, { timeout: 10_000 }).toBe(4);
    await expect.poll(() => queue.backlog(), { timeout: 5000 }).toEqual({ queued: 0, pending: 0 });
    const rejected = await f.store.redis.xrange(`${f.store.ledgerStream}:rejected`, "-", "+");
    // What cannot be read is set aside before the insert; a refused row after it. Both as queued.
    expect(rejected.map(([, fields]) => fields[1])).toEqual(["not json", JSON.stringify({ ...bad, status: null })]);
    expect(f.logger.lines.filter((l) => l.event === "ledger_record_rejected").map((l) => l.request_id)).toEqual([null, "d-bad"]);
  });

  it("waits for PostgreSQL and writes everything once it answers", async () => {
    const f = await redisFixture();
    const unreachable = new LedgerDb({ ...f.db.config, postgres_url: "postgres://postgres@127.0.0.1:1/none" }, f.logger);
    onTestFinished(() => unreachable.close());
    const queue = f.queue();
    const blocked = new LedgerWriter(queue, unreachable, f.logger, new LedgerMetrics(new Registry(), () => queue.backlog()), 100);
    blocked.start();
    await Promise.all(records("e", 20).map((r) => f.store.settle(settleOf(r))));
    await expect.poll(() => blocked.state.postgres, { timeout: 10_000 }).toBe("down");
    expect((await queue.backlog()).queued).toBe(20);
    await blocked.stop();
    // The blocked writer's batch is pending under its name; the next writer takes it over.
    f.writer(f.queue(100));
    await expect.poll(async () => (await f.written()).length, { timeout: 10_000 }).toBe(20);
    expect(f.logger.lines.filter((l) => l.event === "ledger_write_failed")).toHaveLength(1);
  });
});

describe("ledger writer with the memory store", () => {
  it("queues in the process and writes every record, flushing before it stops", async () => {
    const schema = uniqueSchema();
    const logger = new MemoryLogger();
    const queue = new MemoryLedgerQueue(50, logger);
    const store = new MemoryBudgetStore(new ManualClock(0), 100, queue);
    const db = new LedgerDb({ postgres_url: postgresUrl(), schema, batch_size: 7, poll_ms: 50, claim_idle_ms: 200 }, logger);
    onTestFinished(async () => {
      await db.close();
      await dropSchema(postgresUrl(), schema);
    });
    const writer = new LedgerWriter(queue, db, logger, new LedgerMetrics(new Registry(), () => queue.backlog()), 7);
    writer.start();
    for (const r of records("m", 40)) await store.settle(settleOf(r));
    expect(await writer.flush(10_000)).toBe(true);
    await writer.stop();
    expect(await queue.backlog()).toEqual({ queued: 0, pending: 0 });
    const rows = await sql<{ n: number }>(postgresUrl(), schema, "SELECT count(DISTINCT request_id)::int AS n FROM usage_records");
    expect(rows[0]!.n).toBe(40);
  });
});
