import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { describe, expect, it, onTestFinished } from "vitest";
import { RedisBudgetStore } from "../budget/redis.js";
import type { SettleRequest } from "../budget/interface.js";
import { MemoryLogger } from "../log.js";
import type { UsageRecord } from "../usage/record.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../../test/support/redis.js";
import { dropSchema, postgresUrl, sql, uniqueSchema } from "../../test/support/postgres.js";
import { usageRecord } from "../../test/support/records.js";
import { LedgerMetrics } from "./metrics.js";
import { LedgerDb } from "./postgres.js";
import { RedisLedgerQueue } from "./redis-queue.js";
import { LedgerWriter, type LedgerSink } from "./writer.js";

/**
 * The ledger's consumer group lost under running writers (Redis restarted without persistence, a
 * FLUSHALL, the stream deleted): each queue command creates it again and the writer goes on. The
 * writer is driven one step at a time, so every assertion follows the step it is about.
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

const records = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => usageRecord({ request_id: `${prefix}-${i}` }));

async function fixture() {
  const prefix = uniquePrefix();
  const schema = uniqueSchema();
  const logger = new MemoryLogger();
  const store = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix, ledger: true });
  const db = new LedgerDb({ postgres_url: postgresUrl(), schema, batch_size: 100, poll_ms: 50, claim_idle_ms: 60_000 }, logger);
  expect(await store.waitUntilReady(5000)).toBe(true);
  const queues: RedisLedgerQueue[] = [];
  onTestFinished(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await store.close();
    await db.close();
    await cleanPrefix(prefix);
    await dropSchema(postgresUrl(), schema);
  });
  const f = {
    store,
    db,
    logger,
    stream: store.ledgerStream,
    queue(options: { redis?: Redis; pollMs?: number; logger?: MemoryLogger } = {}) {
      const q = new RedisLedgerQueue({ redis: options.redis ?? store.redis, stream: store.ledgerStream, pollMs: options.pollMs ?? 50, claimIdleMs: 60_000, logger: options.logger ?? logger });
      queues.push(q);
      return q;
    },
    writer(queue: RedisLedgerQueue, sink: LedgerSink = db) {
      return new LedgerWriter(queue, sink, logger, new LedgerMetrics(new Registry(), () => queue.backlog()), 100);
    },
    settle: (batch: UsageRecord[]) => Promise.all(batch.map((r) => store.settle(settleOf(r)))),
    written: async () => (await sql<{ request_id: string }>(postgresUrl(), schema, "SELECT request_id FROM usage_records ORDER BY request_id")).map((r) => r.request_id),
    recreations: () => logger.lines.filter((l) => l.event === "ledger_group_recreated"),
  };
  return f;
}

const ids = (batch: UsageRecord[]) => batch.map((r) => r.request_id).sort();

describe("ledger queue when Redis loses its consumer group", () => {
  it("writes the records queued after the stream was deleted", async () => {
    const f = await fixture();
    const queue = f.queue();
    const writer = f.writer(queue);
    const before = records("before", 5);
    await f.settle(before);
    await writer.step();
    expect(await f.written()).toEqual(ids(before));

    // What a FLUSHALL or a Redis restart without persistence does to the ledger's keys.
    await f.store.redis.del(f.stream);
    const after = records("after", 5);
    await f.settle(after);
    await writer.step();

    expect(await f.written()).toEqual(ids([...before, ...after]));
    expect(await queue.backlog()).toEqual({ queued: 0, pending: 0 });
    expect(f.recreations()).toEqual([expect.objectContaining({ level: "warn", stream: f.stream, error: expect.stringMatching(/^NOGROUP/) })]);
  });

  it("writes the batch a writer held when the group was destroyed, then the records after it", async () => {
    const f = await fixture();
    const queue = f.queue();
    // PostgreSQL refuses the first insert: the writer keeps the batch and renews it on its next step.
    let failures = 1;
    const writer = f.writer(queue, {
      migrate: () => f.db.migrate(),
      insert: (batch) => (failures-- > 0 ? Promise.reject(new Error("connection reset")) : f.db.insert(batch)),
    });
    const held = records("held", 4);
    await f.settle(held);
    await expect(writer.step()).rejects.toThrow("connection reset");
    expect(await queue.backlog()).toEqual({ queued: 4, pending: 4 });

    await f.store.redis.call("XGROUP", "DESTROY", f.stream, "ledger");
    await writer.step();
    expect(await f.written()).toEqual(ids(held));
    expect(f.recreations()).toHaveLength(1);

    const next = records("next", 3);
    await f.settle(next);
    await writer.step();
    expect(await f.written()).toEqual(ids([...held, ...next]));
    expect(await queue.backlog()).toEqual({ queued: 0, pending: 0 });
    expect(f.recreations()).toHaveLength(1);
  });

  it("ends a blocked read whose stream was deleted and reads what is queued next", async () => {
    const f = await fixture();
    // A connection name of this test's own, to find the reader (its duplicate) among Redis's clients.
    const name = `tgtest-reader-${f.stream.split(":")[1]}`;
    const redis = new Redis(redisUrl(), { connectionName: name });
    onTestFinished(() => redis.disconnect());
    const queue = f.queue({ redis, pollMs: 10_000 });
    const taking = queue.take(10);
    const blocked = async () => ((await f.store.redis.call("CLIENT", "LIST")) as string).split("\n").some((c) => c.includes(` name=${name} `) && / flags=\S*b/.test(c));
    await expect.poll(blocked, { timeout: 5000 }).toBe(true);

    await f.store.redis.del(f.stream);
    const [record] = records("late", 1);
    await f.settle([record!]);

    expect((await taking).map((e) => e.record?.request_id)).toEqual([record!.request_id]);
    expect(f.recreations()).toEqual([expect.objectContaining({ error: expect.stringMatching(/^UNBLOCKED/) })]);
  });

  it("lets replicas that find the group gone at once create it once, one of them logging it", async () => {
    const f = await fixture();
    const loggers = [new MemoryLogger(), new MemoryLogger()];
    const [a, b] = loggers.map((logger) => f.queue({ logger }));
    await f.settle(records("r", 2));
    const taken = [...(await a!.take(1)), ...(await b!.take(1))];
    expect(taken).toHaveLength(2);

    await f.store.redis.call("XGROUP", "DESTROY", f.stream, "ledger");
    await Promise.all([a!.renew([taken[0]!.id]), b!.renew([taken[1]!.id])]);

    expect(loggers.flatMap((l) => l.lines.filter((line) => line.event === "ledger_group_recreated"))).toHaveLength(1);
    const groups = (await f.store.redis.call("XINFO", "GROUPS", f.stream)) as unknown[][];
    expect(groups).toHaveLength(1);
  });
});
