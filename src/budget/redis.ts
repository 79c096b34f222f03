import type { Logger } from "../log.js";
import type { RedisClient, RedisConnection } from "./redis-client.js";
import { StoreConnection } from "./redis-connection.js";
import type { Nano } from "../money.js";
import type { UsageRecord } from "../usage/record.js";
import {
  AGGREGATE_TTL_MS,
  COUNTER_GRACE_MS,
  SETTLED_BUCKET_MS,
  SETTLED_MEMORY_MS,
  StoreUnavailableError,
  type BudgetStore,
  type Counter,
  type EntrySnapshot,
  type ExpiredHold,
  type RateWindow,
  type ReserveRequest,
  type ReserveResult,
  type SettleRequest,
  type SettleResult,
} from "./interface.js";
import { Batcher, reserveCall, reserveResults, sameThresholds, settleCall, settleResults } from "./redis-batch.js";
import { ENTRY_SCRIPT, LEASE_SCRIPT, RATE_SCRIPT, RESERVE_SCRIPT, SETTLE_SCRIPT, TRANSFER_SCRIPT } from "./scripts.js";
import { IDLE_MS, LEASE_FRACTION, LeaseSlices, type LeaseRequest } from "./lease-slices.js";

/** Cool-down keys (reserve.ts `cooldownKey`), seen by the slices. */
const COOLDOWN_PREFIX = "cool:";
/** A hold meant to live longer than this (a submitted batch's) is never taken from a slice. */
const MAX_SLICED_HOLD_MS = 60_000;
/** How long a model another replica reported cooling down is not sent requests reserved on a slice. */
const COOLING_MEMORY_MS = 1000;
/** Settled ids are looked for in enough buckets to cover SETTLED_MEMORY_MS, however far into the current one. */
const SETTLED_MARKERS = { bucketMs: SETTLED_BUCKET_MS, buckets: SETTLED_MEMORY_MS / SETTLED_BUCKET_MS + 1 };
/** A slice's meta, in place of a request's record header: charged whole, with no record, when it expires. */
export const LEASE_META = JSON.stringify({ lease: true });

type ScriptRunner = (...args: Array<string | number>) => Promise<unknown>;

type ScriptedRedis = RedisClient & {
  tollgateReserve: ScriptRunner;
  tollgateSettle: ScriptRunner;
  tollgateLease: ScriptRunner;
  tollgateTransfer: ScriptRunner;
  tollgateRate: ScriptRunner;
  tollgateEntry: ScriptRunner;
};

export interface RedisStoreOptions extends RedisConnection {
  keyPrefix: string;
  maxRecords?: number;
  /** How long one command may take before the store counts as unavailable. */
  commandTimeoutMs?: number;
  /** Queue every record for the PostgreSQL ledger too (the stream at `ledgerStream`). */
  ledger?: boolean;
  /**
   * Budget leases (lease-slices.ts): reserve in memory against slices taken from Redis, named by
   * this replica's id. Off: every reserve is a script call.
   */
  leases?: {
    replica: string;
    now: () => number;
    /** How long a settle may wait to share its script call with others (redis-batch.ts); 0: only its turn. */
    settleBatchMs?: number;
  };
  /** Where the connection's own failures are told, once per outage, with their cause. */
  logger?: Logger;
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
  private readonly connection: StoreConnection;
  private readonly prefix: string;
  private readonly tag: string;
  private readonly spread: boolean;
  private readonly maxRecords: number;
  private readonly ledger: boolean;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    this.tag = `${options.keyPrefix}{tg}:`;
    this.maxRecords = options.maxRecords ?? 100_000;
    this.ledger = options.ledger ?? false;
    this.connection = new StoreConnection(options, options.commandTimeoutMs ?? 2000, options.logger);
    this.spread = this.connection.cluster;
    const redis = this.connection.client;
    redis.defineCommand("tollgateReserve", { lua: RESERVE_SCRIPT });
    redis.defineCommand("tollgateSettle", { lua: SETTLE_SCRIPT });
    redis.defineCommand("tollgateLease", { lua: LEASE_SCRIPT });
    redis.defineCommand("tollgateTransfer", { lua: TRANSFER_SCRIPT });
    redis.defineCommand("tollgateRate", { lua: RATE_SCRIPT });
    redis.defineCommand("tollgateEntry", { lua: ENTRY_SCRIPT });
    this.redis = redis as ScriptedRedis;
    this.leaseClock = options.leases?.now ?? (() => 0);
    // Under leases a settle only moves a cost out of a slice already counted: it can wait to share its call.
    this.settles = new Batcher((requests) => this.settleBatch(requests), sameThresholds, options.leases?.settleBatchMs ?? 0);
    if (options.leases) {
      const { replica, now } = options.leases;
      this.slices = new LeaseSlices({ lease: (request) => this.lease(request), giveBack: (slice) => this.giveBack(slice) }, replica);
      this.idleTimer = setInterval(() => this.slices?.returnIdle(now()), IDLE_MS / 2).unref();
    }
  }

  /** Where the store is (password masked), why it is unreachable when it is, and when it is ready: see StoreConnection. */
  get where(): string {
    return this.connection.where;
  }

  get unavailable(): StoreUnavailableError | undefined {
    return this.connection.unavailable;
  }

  waitUntilReady(timeoutMs: number): Promise<boolean> {
    return this.connection.waitUntilReady(timeoutMs);
  }

  isLoneClusterNode(): Promise<boolean> {
    return this.connection.isLoneClusterNode();
  }

  /** Budget leases, when on: reserves made in memory against slices of the budgets. */
  private readonly slices: LeaseSlices | undefined;
  private readonly leaseClock: () => number;
  private readonly idleTimer: NodeJS.Timeout | undefined;

  private async lease(request: LeaseRequest): Promise<Nano | undefined> {
    const counters = request.counters;
    const args: string[] = [String(counters.length), String(request.wanted), String(request.least), String(LEASE_FRACTION), String(request.expiresAt), request.id, LEASE_META];
    for (const c of counters) args.push(c.limit === null ? "-1" : String(c.limit), String(Math.max(1000, c.windowEnd + COUNTER_GRACE_MS - request.now)));
    const keys = [this.key("holds"), this.key("hold-data"), ...counters.map((c) => this.key(c.id))];
    try {
      const [ok, amount] = (await this.redis.tollgateLease(keys.length, ...keys, ...args)) as [number, string];
      return ok === 1 ? Number(amount) : undefined;
    } catch {
      // Redis is away: the request's own reserve reports it.
      return undefined;
    }
  }

  /** A slice goes back: settled at 0 under its id, which takes what is left of it off its counters. */
  private giveBack(slice: { id: string; counters: Counter[] }): void {
    void this.settles
      .add({ requestId: slice.id, actual: 0, counters: slice.counters, thresholds: [], record: null, day: "", aggregates: [], now: 0 })
      .catch(() => {
        // Redis is away: the slice's lease runs out and it is charged whole, as a dead replica's.
      });
  }

  private key(id: string): string {
    return this.tag + id;
  }

  /**
   * A key no script reads (cached answers, idempotency, object owners, histograms): on a Cluster it
   * goes without the hash tag, so these spread over every node instead of crowding the budgets'.
   * Elsewhere it keeps the tag, as it always had, so an upgrade finds what was stored.
   */
  private spreadKey(id: string): string {
    return this.spread ? this.prefix + id : this.key(id);
  }

  /** Cool-downs are read by the reserve script (redis-batch.ts): they stay in the budgets' slot. */
  private valueKey(key: string): string {
    return key.startsWith(COOLDOWN_PREFIX) ? this.key(`v:${key}`) : this.spreadKey(`v:${key}`);
  }

  /** The stream of records waiting for the PostgreSQL ledger (filled only with `ledger: true`). */
  get ledgerStream(): string {
    return this.key("ledger");
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.connection.unavailableFor(err);
    }
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    // A hold that outlives the replica's leases (a submitted batch's) is always one of its own.
    if (this.slices && req.expiresAt - req.now <= MAX_SLICED_HOLD_MS) {
      const local = await this.slices.reserve(req);
      if (local) return local;
    }
    const result = await this.reserves.add(req);
    if (!result.ok && result.cooling && req.cooldownKey) this.slices?.noteCooling(req.cooldownKey, req.now + COOLING_MEMORY_MS);
    return result;
  }

  async settle(req: SettleRequest): Promise<SettleResult> {
    // Only the first settle of a request held on a slice finds it there: a retry, a replay or
    // another path's settle of it is looked for over the whole memory of settled ids.
    const released = this.slices?.release(req.requestId, req.actual);
    if (!released) return this.settles.add(req);
    const result = this.settles.add(Object.assign({}, req, { lease: released.lease, heldAt: released.heldAt }));
    if (released.emptied) this.giveBack(released.emptied);
    return result;
  }

  async keep(requestId: string, until: number): Promise<void> {
    const detached = this.slices?.detach(requestId);
    if (!detached) return this.renew([requestId], until);
    const keys = [this.key("holds"), this.key("hold-data")];
    await this.call(() => this.redis.tollgateTransfer(keys.length, ...keys, detached.lease, requestId, String(detached.amount), detached.meta, String(until)));
    if (detached.emptied) this.giveBack(detached.emptied);
  }

  /** Reserves of one turn of the event loop, in one script call. */
  private readonly reserves = new Batcher<ReserveRequest, ReserveResult>(async (requests) => {
    const { keys, args } = reserveCall(requests, (id) => this.key(id));
    return reserveResults(await this.call(() => this.redis.tollgateReserve(keys.length, ...keys, ...args)));
  });

  /** Settles of one turn of the event loop (under leases, of `settleBatchMs`), in one script call. */
  private readonly settles: Batcher<SettleRequest, SettleResult>;

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
        { maxRecords: this.maxRecords, aggregateTtlMs: AGGREGATE_TTL_MS, settled: SETTLED_MARKERS, ledger: this.ledger },
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

  async takeRate(windows: RateWindow[]): Promise<{ ok: true; counts: number[] } | { ok: false; index: number; count: number }> {
    const keys = windows.map((w) => this.key(w.key));
    const args = windows.flatMap((w) => [String(w.amount), String(w.limit ?? -1), String(w.ttlMs)]);
    const reply = (await this.call(() => this.redis.tollgateRate(keys.length, ...keys, ...args))) as number[];
    return reply[0] === 1 ? { ok: true, counts: reply.slice(1).map(Number) } : { ok: false, index: Number(reply[1]) - 1, count: Number(reply[2]) };
  }

  async renew(requestIds: string[], until: number): Promise<void> {
    // The replica's slices live under leases renewed with its holds.
    if (this.slices) requestIds = [...requestIds, ...this.slices.leaseIds];
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

  /** A read in the budget keys' slot, not PING: a Cluster node that does not own it answers PING but not the budgets. */
  async ping(): Promise<void> {
    await this.call(() => this.redis.exists(this.key("holds")));
  }

  async getValue(key: string): Promise<string | null> {
    return this.call(() => this.redis.get(this.valueKey(key)));
  }

  async deleteValue(key: string): Promise<void> {
    await this.call(() => this.redis.del(this.key(`v:${key}`)));
  }

  async setValue(key: string, value: string, ttlMs: number, onlyIfAbsent = false): Promise<boolean> {
    // A model this replica puts to cool down gets no request reserved on a slice meanwhile.
    if (key.startsWith(COOLDOWN_PREFIX)) this.slices?.noteCooling(key, this.leaseClock() + ttlMs);
    const k = this.valueKey(key);
    const reply = await this.call(() =>
      onlyIfAbsent ? this.redis.set(k, value, "PX", ttlMs, "NX") : this.redis.set(k, value, "PX", ttlMs),
    );
    return reply === "OK";
  }

  async addToHistogram(key: string, counts: ReadonlyMap<number, number>, ttlMs: number): Promise<void> {
    const k = this.spreadKey(`h:${key}`);
    const multi = this.redis.multi();
    for (const [bucket, n] of counts) multi.hincrby(k, String(bucket), n);
    multi.pexpire(k, ttlMs);
    const replies = await this.call(() => multi.exec());
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw new StoreUnavailableError(failed?.[0] ?? new Error("histogram update aborted"), this.where);
  }

  async histograms(keys: string[]): Promise<Array<Map<number, number>>> {
    if (keys.length === 0) return [];
    const replies = await this.call(() => Promise.all(keys.map((key) => this.redis.hgetall(this.spreadKey(`h:${key}`)))));
    return replies.map((fields) => new Map(Object.entries(fields).map(([bucket, n]) => [Number(bucket), Number(n)])));
  }

  async entriesVersion(): Promise<number> {
    return Number((await this.call(() => this.redis.get(this.key("entries-version")))) ?? 0);
  }

  async entries(): Promise<EntrySnapshot> {
    // One MULTI: the version read is the one the entries are at.
    const replies = await this.call(() => this.redis.multi().get(this.key("entries-version")).hgetall(this.key("entries")).exec());
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw new StoreUnavailableError(failed?.[0] ?? new Error("entries read aborted"));
    const [[, version], [, entries]] = replies as [[null, string | null], [null, Record<string, string>]];
    return { version: Number(version ?? 0), entries: new Map(Object.entries(entries)) };
  }

  async putEntry(id: string, value: string, onlyIfAbsent = false): Promise<boolean> {
    return (await this.call(() => this.redis.tollgateEntry(2, this.key("entries"), this.key("entries-version"), id, value, onlyIfAbsent ? "1" : "0"))) === 1;
  }

  async removeEntry(id: string): Promise<boolean> {
    return (await this.call(() => this.redis.tollgateEntry(2, this.key("entries"), this.key("entries-version"), id, "", "0"))) === 1;
  }

  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    if (this.slices) {
      // What this replica did not use goes back to the budgets before it goes.
      this.slices.returnIdle(0, true);
      await this.settles.idle();
    }
    this.redis.disconnect();
  }
}
