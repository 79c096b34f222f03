import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { SETTLED_MEMORY_MS, type SettleRequest } from "../src/budget/interface.js";
import { RedisBudgetStore } from "../src/budget/redis.js";
import { freePort } from "./processes.js";

/**
 * Redis memory for the settled markers of a million requests (README, "Bounded bookkeeping"), and
 * the settle throughput of the budget keys' one slot, on a redis-server of its own:
 *
 *   npx tsx bench/settled-markers.ts [requests=1000000]
 *
 * It reserves and releases `requests` requests (timing the reserves), then settles as many with
 * one counter and no record through the store (the scripts production runs), reading `used_memory`
 * before and after, and does the same for the former layout (one `SET ... NX PX` key per request).
 */

const requests = Number(process.argv[2] ?? 1_000_000);
const port = await freePort();
const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", mkdtempSync(join(tmpdir(), "tg-bench-"))], { stdio: "ignore" });
const url = `redis://127.0.0.1:${port}`;
const admin = new Redis(url);
admin.on("error", () => {});
await admin.ping();

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info("memory"))![1]);
const counter = { id: "c:bench:d:2026-11-26", limit: null, windowEnd: Date.UTC(2026, 10, 27) };
const settle = (requestId: string): SettleRequest => ({ requestId, actual: 1, counters: [counter], thresholds: [], record: null, day: "2026-11-26", aggregates: [], now: 0 });

const store = new RedisBudgetStore({ url, keyPrefix: "bench:" });
await store.waitUntilReady(5000);
const inFlight = 2000;
const ids = Array.from({ length: requests }, () => randomUUID());
/** Runs `step` for every id, `inFlight` at a time (one script call per batch); its rate per second. */
async function rate(step: (id: string) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < requests; done += inFlight) await Promise.all(ids.slice(done, done + inFlight).map(step));
  return requests / ((performance.now() - started) / 1000);
}
// Reserves against a limit that never runs out, each with its own hold, as when leases are off.
const limited = { ...counter, limit: Number.MAX_SAFE_INTEGER };
const reserves = await rate((requestId) => store.reserve({ requestId, amount: 1, counters: [limited], expiresAt: 10_000_000_000_000, now: 0, meta: "{}" }));
// The holds are released, so only the settled markers are left to measure.
await rate((requestId) => store.settle({ ...settle(requestId), actual: 0, counters: [limited] }));
await admin.flushall();
const before = await usedMemory();
const settles = await rate((requestId) => store.settle(settle(requestId)));
const bucketed = (await usedMemory()) - before;
const keys = (await admin.dbsize()) - 1;
await store.close();

const legacyBefore = await usedMemory();
for (let done = 0; done < requests; done += 10_000) {
  const pipeline = admin.pipeline();
  for (let i = 0; i < Math.min(10_000, requests - done); i++) pipeline.set(`legacy:{tg}:settled:${randomUUID()}`, "1", "PX", SETTLED_MEMORY_MS, "NX");
  await pipeline.exec();
}
const legacy = (await usedMemory()) - legacyBefore;

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
process.stdout.write(
  [
    `settled markers of ${requests} requests: ${mb(bucketed)} MB in ${keys} sets (${(bucketed / requests).toFixed(1)} bytes per request)`,
    `one key per request (the former layout): ${mb(legacy)} MB (${(legacy / requests).toFixed(1)} bytes per request)`,
    `through the budget slot, batches of up to ${inFlight} from one client: ${Math.round(reserves)} reserves and ${Math.round(settles)} settles per second`,
  ].join("\n") + "\n",
);
admin.disconnect();
child.kill();
