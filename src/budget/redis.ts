import { Redis } from "ioredis";
import type { Nano } from "../money.js";
import type { UsageRecord } from "../usage/record.js";
import {
  AGGREGATE_TTL_MS,
  SETTLED_MEMORY_MS,
  StoreUnavailableError,
  type BudgetStore,
  type ExpiredHold,
  type ReserveRequest,
  type ReserveResult,
  type SettleRequest,
  type SettleResult,
} from "./interface.js";
import { Batcher, reserveCall, reserveResults, sameThresholds, settleCall, settleResults } from "./redis-batch.js";
import { RESERVE_SCRIPT, SETTLE_SCRIPT } from "./scripts.js";

type ScriptRunner = (...args: Array<string | number>) => Promise<unknown>;

interface ScriptedRedis extends Redis {
  tollgateReserve: ScriptRunner;
  tollgateSettle: ScriptRunner;
}

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  maxRecords?: number;
  /** How long one command may take before the store counts as unavailable. */
  commandTimeoutMs?: number;
  /** Queue every record for the PostgreSQL ledger too (the stream at `ledgerStream`). */
  ledger?: boolean;
}

/**
 * The store shared by every replica. Reserve and settle are one Lua script each (one round trip,
 * atomic across all counters); the reserves (and the settles) a replica makes in one turn of its
 * event loop share one script call. Commands fail fast while Redis is unreachable (no offline
 * queue), and ioredis keeps reconnecting in the background.
 */
export class RedisBudgetStore implements BudgetStore {
  readonly kind = "redis";
  readonly redis: ScriptedRedis;
  private readonly tag: string;
  private readonly maxRecords: number;
  private readonly ledger: boolean;

  constructor(options: RedisStoreOptions) {
    this.tag = `${options.keyPrefix}{tg}:`;
    this.maxRecords = options.maxRecords ?? 100_000;
    this.ledger = options.ledger ?? false;
    const redis = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      enableAutoPipelining: true,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      lazyConnect: false,
    });
    // Errors surface on each command; the connection's own error events would only repeat them.
    redis.on("error", () => {});
    redis.defineCommand("tollgateReserve", { lua: RESERVE_SCRIPT });
    redis.defineCommand("tollgateSettle", { lua: SETTLE_SCRIPT });
    this.redis = redis as ScriptedRedis;
  }

  private key(id: string): string {
    return this.tag + id;
  }

  /** The stream of records waiting for the PostgreSQL ledger (filled only with `ledger: true`). */
  get ledgerStream(): string {
    return this.key("ledger");
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }

  /** Resolves once connected, or after `timeoutMs` without throwing (the store then reports unready). */
  async waitUntilReady(timeoutMs: number): Promise<boolean> {
    if (this.redis.status === "ready") return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.redis.off("ready", onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.redis.once("ready", onReady);
    });
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    return this.reserves.add(req);
  }

  async settle(req: SettleRequest): Promise<SettleResult> {
    return this.settles.add(req);
  }

  /** Reserves of one turn of the event loop, in one script call. */
  private readonly reserves = new Batcher<ReserveRequest, ReserveResult>(async (requests) => {
    const { keys, args } = reserveCall(requests, (id) => this.key(id));
    return reserveResults(await this.call(() => this.redis.tollgateReserve(keys.length, ...keys, ...args)));
  });

  /** Settles of one turn of the event loop, in one script call. */
  private readonly settles = new Batcher<SettleRequest, SettleResult>((requests) => this.settleBatch(requests), sameThresholds);

  /**
   * A settle of a request settled before (a retry) changes nothing: the batch goes again without
   * it. So does a second settle of one request within the batch.
   */
  private async settleBatch(requests: SettleRequest[]): Promise<SettleResult[]> {
    const results: Array<SettleResult | undefined> = requests.map(() => undefined);
    const seen = new Set<string>();
    let pending: Array<{ request: SettleRequest; index: number }> = [];
    requests.forEach((request, index) => {
      if (seen.has(request.requestId)) results[index] = { applied: false, crossed: [] };
      else pending.push({ request, index });
      seen.add(request.requestId);
    });
    while (pending.length > 0) {
      const { keys, args } = settleCall(
        pending.map((p) => p.request),
        (id) => this.key(id),
        { maxRecords: this.maxRecords, aggregateTtlMs: AGGREGATE_TTL_MS, settledTtlMs: SETTLED_MEMORY_MS, ledger: this.ledger },
      );
      const reply = settleResults(await this.call(() => this.redis.tollgateSettle(keys.length, ...keys, ...args)));
      if ("results" in reply) {
        reply.results.forEach((result, i) => (results[pending[i]!.index] = result));
        break;
      }
      for (const i of reply.settledBefore) results[pending[i]!.index] = { applied: false, crossed: [] };
      pending = pending.filter((_, i) => !reply.settledBefore.includes(i));
    }
    return results as SettleResult[];
  }

  async renew(requestIds: string[], until: number): Promise<void> {
    if (requestIds.length === 0) return;
    const args: Array<string | number> = [];
    for (const id of requestIds) args.push(until, id);
    // XX: only holds still there; a settled one must not come back as a lease without an amount.
    await this.call(() => this.redis.zadd(this.key("holds"), "XX", ...args));
  }

  async expiredHolds(now: number, limit: number): Promise<ExpiredHold[]> {
    const ids = await this.call(() => this.redis.zrangebyscore(this.key("holds"), "-inf", now, "LIMIT", 0, limit));
    if (ids.length === 0) return [];
    const data = await this.call(() => this.redis.hmget(this.key("hold-data"), ...ids));
    const holds: ExpiredHold[] = [];
    ids.forEach((requestId, i) => {
      const entry = data[i];
      // Settled between the two reads: nothing left to charge.
      if (entry == null) return;
      const space = entry.indexOf(" ");
      holds.push({ requestId, amount: Number(entry.slice(0, space)), meta: entry.slice(space + 1) });
    });
    return holds;
  }

  /**
   * Reads see this replica's own settles: an answer leaves before its settle lands, so a report
   * asked for right after it waits for the settles already made.
   */
  private readYourWrites(): Promise<void> {
    return this.settles.idle();
  }

  async spent(counterIds: string[]): Promise<Nano[]> {
    if (counterIds.length === 0) return [];
    await this.readYourWrites();
    const values = await this.call(() => this.redis.mget(counterIds.map((id) => this.key(id))));
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  async aggregates(days: string[]): Promise<Record<string, Record<string, number>>> {
    await this.readYourWrites();
    const replies = await this.call(() => Promise.all(days.map((d) => this.redis.hgetall(this.key(`agg:${d}`)))));
    const out: Record<string, Record<string, number>> = {};
    days.forEach((d, i) => {
      const fields: Record<string, number> = {};
      for (const [field, value] of Object.entries(replies[i] ?? {})) fields[field] = Number(value);
      out[d] = fields;
    });
    return out;
  }

  async usageRecords(limit: number): Promise<UsageRecord[]> {
    await this.readYourWrites();
    const entries = await this.call(() => this.redis.xrevrange(this.key("usage"), "+", "-", "COUNT", limit));
    return entries.map(([, fields]) => JSON.parse(fields[1] ?? "null") as UsageRecord);
  }

  async ping(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  async getValue(key: string): Promise<string | null> {
    return this.call(() => this.redis.get(this.key(`v:${key}`)));
  }

  async deleteValue(key: string): Promise<void> {
    await this.call(() => this.redis.del(this.key(`v:${key}`)));
  }

  async setValue(key: string, value: string, ttlMs: number, onlyIfAbsent = false): Promise<boolean> {
    const k = this.key(`v:${key}`);
    const reply = await this.call(() =>
      onlyIfAbsent ? this.redis.set(k, value, "PX", ttlMs, "NX") : this.redis.set(k, value, "PX", ttlMs),
    );
    return reply === "OK";
  }

  async addToHistogram(key: string, counts: ReadonlyMap<number, number>, ttlMs: number): Promise<void> {
    const k = this.key(`h:${key}`);
    const multi = this.redis.multi();
    for (const [bucket, n] of counts) multi.hincrby(k, String(bucket), n);
    multi.pexpire(k, ttlMs);
    const replies = await this.call(() => multi.exec());
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw new StoreUnavailableError(failed?.[0] ?? new Error("histogram update aborted"));
  }

  async histograms(keys: string[]): Promise<Array<Map<number, number>>> {
    if (keys.length === 0) return [];
    const replies = await this.call(() => Promise.all(keys.map((key) => this.redis.hgetall(this.key(`h:${key}`)))));
    return replies.map((fields) => new Map(Object.entries(fields).map(([bucket, n]) => [Number(bucket), Number(n)])));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
