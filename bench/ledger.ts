import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { Registry } from "prom-client";
import { stringify } from "yaml";
import { RedisBudgetStore } from "../src/budget/redis.js";
import { MemoryLogger } from "../src/log.js";
import { LedgerMetrics } from "../src/ledger/metrics.js";
import { LedgerDb } from "../src/ledger/postgres.js";
import { RedisLedgerQueue } from "../src/ledger/redis-queue.js";
import { usageRecordOf } from "../src/usage/record.js";
import { LedgerWriter } from "../src/ledger/writer.js";
import { ROOT } from "./processes.js";

/**
 * `npm run bench:ledger`: the ledger's two numbers on this machine.
 *  1. Write throughput: a backlog of records in the Redis queue, drained into PostgreSQL by one
 *     writer, per batch size (records/s from the first take to an empty queue).
 *  2. CSV export memory: a million rows in the ledger, exported through a proxy process; its peak
 *     resident memory (VmHWM) against its resident memory before the export.
 * Environment: REDIS_URL (default redis://127.0.0.1:6379), POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/test), LEDGER_BENCH_RECORDS (default 200000),
 * LEDGER_BENCH_ROWS (default 1000000), LEDGER_BENCH_NODE_FLAGS (flags for the proxy process, e.g.
 * --max-old-space-size=64 to show the export runs in a small heap). Uses a key prefix and a schema of its own, dropped at the end.
 */

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const POSTGRES_URL = process.env.POSTGRES_URL || "postgres://postgres@127.0.0.1:5432/test";
const RECORDS = Number(process.env.LEDGER_BENCH_RECORDS || 200_000);
const ROWS = Number(process.env.LEDGER_BENCH_ROWS || 1_000_000);
const ADMIN = "sk-ledger-bench-admin";

function record(i: number, run: string) {
  const header = {
    time: new Date(Date.UTC(2026, 5, 1) + i * 1000).toISOString(),
    request_id: `${run}-${i}`,
    endpoint: "/v1/chat/completions",
    key_id: `key-${i % 50}`,
    team: `team-${i % 7}`,
    request_type: "chat",
    tier: "economy" as const,
    requested_model: "auto",
    routed_model: "gpt-4o-mini",
    route: "heuristic",
    stream: i % 2 === 0,
  };
  return usageRecordOf(header, {
    status: 200,
    input_tokens: 1000 + (i % 500),
    output_tokens: 100,
    estimated_cost_nano: 200_000,
    cost_nano: 210_000 + (i % 1000),
    requested_model_cost_nano: 3_500_000,
    latency_ms: 120,
  });
}

async function withSchema<T>(run: (schema: string) => Promise<T>): Promise<T> {
  const schema = `tgbench_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
  try {
    return await run(schema);
  } finally {
    const client = new pg.Client(POSTGRES_URL);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

async function writeThroughput(batchSize: number): Promise<number> {
  return withSchema(async (schema) => {
    const prefix = `tgbench:${randomUUID().slice(0, 8)}:`;
    const store = new RedisBudgetStore({ url: REDIS_URL, keyPrefix: prefix, ledger: true });
    await store.waitUntilReady(5000);
    const logger = new MemoryLogger();
    const db = new LedgerDb({ postgres_url: POSTGRES_URL, schema, batch_size: batchSize, poll_ms: 200, claim_idle_ms: 60_000 }, logger);
    await db.migrate();
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < RECORDS; i += 5000) {
      const pipeline = store.redis.pipeline();
      for (let j = i; j < Math.min(RECORDS, i + 5000); j++) pipeline.xadd(store.ledgerStream, "*", "r", JSON.stringify(record(j, run)));
      await pipeline.exec();
    }
    const queue = new RedisLedgerQueue({ redis: store.redis, stream: store.ledgerStream, pollMs: 200, claimIdleMs: 60_000 });
    const writer = new LedgerWriter(queue, db, logger, new LedgerMetrics(new Registry(), () => queue.backlog()), batchSize);
    const started = performance.now();
    writer.start();
    while ((await queue.backlog()).queued > 0) await new Promise((r) => setTimeout(r, 20));
    const seconds = (performance.now() - started) / 1000;
    await writer.stop();
    const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM usage_records");
    if (rows[0].n !== RECORDS) throw new Error(`wrote ${rows[0].n} of ${RECORDS}`);
    await db.close();
    await store.redis.del(store.ledgerStream);
    await store.close();
    return RECORDS / seconds;
  });
}

function vm(pid: number, field: "VmRSS"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]) / 1024;
}

async function exportMemory(): Promise<{ rows: number; bytes: number; seconds: number; rssBefore: number; rssPeak: number }> {
  return withSchema(async (schema) => {
    const db = new LedgerDb({ postgres_url: POSTGRES_URL, schema, batch_size: 500, poll_ms: 200, claim_idle_ms: 60_000 }, new MemoryLogger());
    await db.migrate();
    // A million rows over the 30 days of June 2026, written by PostgreSQL itself.
    await db.pool.query(
      `INSERT INTO usage_records (request_id, time, endpoint, key_id, team, request_type, tier, route, requested_model, routed_model, stream,
         status, input_tokens, cached_tokens, output_tokens, usage_source, estimated_cost_nano, cost_nano, requested_model_cost_nano, cache_hit,
         optimizer_saved_tokens, optimizer_saved_nano, context_dropped_messages, context_dropped_tokens, context_saved_nano, latency_ms, priced)
       SELECT 'bench-' || i, timestamptz '2026-06-01 00:00:00+00' + (i * interval '2591 milliseconds'), '/v1/chat/completions', 'key-' || (i % 50),
         'team-' || (i % 7), 'chat', 'economy', 'heuristic', 'auto', 'gpt-4o-mini', false, 200, 1000, 0, 100, 'upstream', 200000, 210000, 3500000,
         false, 0, 0, 0, 0, 0, 120, true
       FROM generate_series(1, $1) AS i`,
      [ROWS],
    );
    await db.pool.query("ANALYZE usage_records");
    await db.close();

    const dir = mkdtempSync(join(tmpdir(), "tollgate-ledger-bench-"));
    const file = join(dir, "config.yaml");
    writeFileSync(
      file,
      stringify({
        server: { host: "127.0.0.1", port: 0 },
        upstreams: { openai: { base_url: "http://127.0.0.1:9/v1" } },
        models: { "gpt-4o-mini": { upstream: "openai", tier: "economy", price: { input: 0.15, output: 0.6 } } },
        tiers: { economy: ["gpt-4o-mini"] },
        admin_key: ADMIN,
        ledger: { postgres_url: POSTGRES_URL, schema },
      }),
    );
    const flags = (process.env.LEDGER_BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
    const child = spawn(process.execPath, [...flags, "--import", "tsx", "src/main.ts", "--config", file], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /"event":"listening","url":"([^"]+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (code) => reject(new Error(`proxy exited with ${code}`)));
    });
    try {
      // Warm the process (JIT, pool, first page) so "before" is its settled size, not its cold one.
      await (await fetch(`${url}/v1/costs/export.csv?from=2026-06-01&to=2026-06-01`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
      const rssBefore = vm(child.pid!, "VmRSS");
      const started = performance.now();
      const res = await fetch(`${url}/v1/costs/export.csv?from=2026-06-01&to=2026-06-30`, { headers: { authorization: `Bearer ${ADMIN}` } });
      let bytes = 0;
      let newlines = 0;
      let peak = 0;
      const trace: string[] = [];
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        const before = newlines;
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) newlines++;
        const rss = vm(child.pid!, "VmRSS");
        peak = Math.max(peak, rss);
        // Resident memory every 100,000 rows: flat means bounded, a slope means buffering.
        if (Math.floor(newlines / 100_000) > Math.floor(before / 100_000)) trace.push(`${Math.floor(newlines / 100_000) * 100}k: ${rss.toFixed(0)} MB`);
      }
      console.log(`proxy RSS while exporting: ${trace.join(", ")}`);
      const seconds = (performance.now() - started) / 1000;
      return { rows: newlines - 1, bytes, seconds, rssBefore, rssPeak: Math.max(peak, rssBefore) };
    } finally {
      child.kill("SIGTERM");
    }
  });
}

const redis = new Redis(REDIS_URL);
await redis.ping();
redis.disconnect();
for (const batch of [100, 500, 2000]) {
  const rate = await writeThroughput(batch);
  console.log(`write throughput, batch ${batch}: ${Math.round(rate).toLocaleString("en-US")} records/s (${RECORDS.toLocaleString("en-US")} records)`);
}
const e = await exportMemory();
console.log(
  `CSV export: ${e.rows.toLocaleString("en-US")} rows, ${(e.bytes / 1e6).toFixed(0)} MB in ${e.seconds.toFixed(1)} s; ` +
    `proxy RSS ${e.rssBefore.toFixed(0)} MB before, ${e.rssPeak.toFixed(0)} MB peak during the export (+${(e.rssPeak - e.rssBefore).toFixed(0)} MB)`,
);
