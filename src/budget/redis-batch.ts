import { COUNTER_GRACE_MS, type Counter, type CrossedThreshold, type ReserveRequest, type ReserveResult, type SettleRequest, type SettleResult } from "./interface.js";

/**
 * Batching for the Redis store: calls made in the same turn of the event loop go to Redis as one
 * script call (see scripts.ts), and these pure functions lay a batch out as the scripts' KEYS and
 * ARGV and read their replies back per request.
 */

/** Requests per script call: enough to share the fixed cost, few enough to keep each call short. */
export const MAX_BATCH = 64;

interface Pending<Req, Res> {
  request: Req;
  resolve(result: Res): void;
  reject(err: unknown): void;
}

/**
 * Queues calls and runs them in batches, in the order they were made: once the current turn of the
 * event loop is over (setImmediate: after every I/O callback of the turn), or `delayMs` after the
 * first call of a batch when set, and never while the previous batches are still at Redis. An idle
 * proxy so sends each call at once (or each `delayMs`); a busy one sends what queued during a round
 * trip as the next batch, so the busier Redis is the bigger its batches.
 */
export class Batcher<Req, Res> {
  private queue: Array<Pending<Req, Res>> = [];
  private scheduled: { timer: NodeJS.Timeout } | { immediate: NodeJS.Immediate } | undefined;
  private inFlight = 0;

  constructor(
    private readonly run: (requests: Req[]) => Promise<Res[]>,
    /** Requests that may not share a call (their key differs) go to separate batches. */
    private readonly compatible: (a: Req, b: Req) => boolean = () => true,
    /** How long a call may wait for others to share its batch (0: only the current turn). */
    private readonly delayMs = 0,
  ) {}

  /** Calls not answered yet. */
  private readonly unanswered = new Set<Promise<unknown>>();

  add(request: Req): Promise<Res> {
    const answer = new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      // A full batch does not wait out its delay.
      if (this.delayMs > 0 && this.queue.length >= MAX_BATCH && this.inFlight === 0 && this.scheduled !== undefined) this.flushNow();
      else this.schedule();
    });
    this.unanswered.add(answer);
    const forget = () => this.unanswered.delete(answer);
    answer.then(forget, forget);
    return answer;
  }

  /**
   * Resolves once every call made so far has had its answer (calls made later are not waited for).
   * A batch waiting out its delay goes at once.
   */
  async idle(): Promise<void> {
    if (this.delayMs > 0 && this.scheduled !== undefined && this.inFlight === 0) this.flushNow();
    if (this.unanswered.size > 0) await Promise.allSettled([...this.unanswered]);
  }

  private schedule(): void {
    if (this.scheduled !== undefined || this.inFlight > 0 || this.queue.length === 0) return;
    // A full batch waits for nothing more than the end of the turn.
    this.scheduled = this.delayMs > 0 && this.queue.length < MAX_BATCH ? { timer: setTimeout(() => this.flush(), this.delayMs) } : { immediate: setImmediate(() => this.flush()) };
  }

  /** Sends what waits for its timer (or its turn's end) now. */
  private flushNow(): void {
    const scheduled = this.scheduled;
    if (scheduled && "timer" in scheduled) clearTimeout(scheduled.timer);
    else if (scheduled) clearImmediate(scheduled.immediate);
    this.flush();
  }

  private flush(): void {
    this.scheduled = undefined;
    const queue = this.queue;
    this.queue = [];
    let start = 0;
    while (start < queue.length) {
      let end = start + 1;
      while (end < queue.length && end - start < MAX_BATCH && this.compatible(queue[start]!.request, queue[end]!.request)) end++;
      this.inFlight++;
      void this.runBatch(queue.slice(start, end)).finally(() => {
        this.inFlight--;
        this.schedule();
      });
      start = end;
    }
  }

  private async runBatch(batch: Array<Pending<Req, Res>>): Promise<void> {
    try {
      const results = await this.run(batch.map((p) => p.request));
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}

/**
 * The distinct counters of a batch, with their (limit, ttl) arguments, and the distinct lists of
 * counters its requests use ("1,2,3", indexes into the counters): every request of one caller
 * shares one list, which the script then reads once.
 */
class BatchCounters {
  readonly keys: string[] = [];
  readonly args: string[] = [];
  readonly lists: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly listIndex = new Map<string, number>();
  private readonly byList = new Map<Counter[], string>();

  constructor(
    private readonly key: (id: string) => string,
    private readonly now: number,
  ) {}

  /** The 1-based index of the request's list of counters. */
  listOf(counters: Counter[]): string {
    // The requests of a key share one list (scopes.ts): its index is found once per batch.
    const known = this.byList.get(counters);
    if (known !== undefined) return known;
    const index = this.indexOf(counters);
    this.byList.set(counters, index);
    return index;
  }

  private indexOf(counters: Counter[]): string {
    let list = "";
    for (const c of counters) {
      let i = this.index.get(c.id);
      if (i === undefined) {
        i = this.keys.push(this.key(c.id));
        this.index.set(c.id, i);
        // A counter lives until a day after its window ends.
        this.args.push(c.limit === null ? "-1" : String(c.limit), String(Math.max(1000, c.windowEnd + COUNTER_GRACE_MS - this.now)));
      }
      list += list ? `,${i}` : String(i);
    }
    let l = this.listIndex.get(list);
    if (l === undefined) {
      l = this.lists.push(list);
      this.listIndex.set(list, l);
    }
    return String(l);
  }
}

export interface ScriptCall {
  keys: string[];
  args: string[];
}

export function reserveCall(requests: ReserveRequest[], key: (id: string) => string): ScriptCall {
  const now = Math.max(...requests.map((r) => r.now));
  const counters = new BatchCounters(key, now);
  const cooldowns: string[] = [];
  const requestArgs: string[] = [];
  for (const r of requests) {
    let cooldown = 0;
    if (r.cooldownKey !== undefined) {
      const coolKey = key(`v:${r.cooldownKey}`);
      cooldown = cooldowns.indexOf(coolKey) + 1 || cooldowns.push(coolKey);
    }
    requestArgs.push(`${r.amount} ${r.expiresAt} ${counters.listOf(r.counters)} ${cooldown} ${r.requestId}`, r.meta);
  }
  return {
    keys: [key("holds"), key("hold-data"), ...counters.keys, ...cooldowns],
    args: [
      String(counters.keys.length),
      String(cooldowns.length),
      String(counters.lists.length),
      String(requests.length),
      ...counters.args,
      ...counters.lists,
      ...requestArgs,
    ],
  };
}

export function reserveResults(replies: unknown): ReserveResult[] {
  return (replies as Array<[number, number?, string?, string?]>).map((reply) => {
    if (reply[0] === 1) return { ok: true };
    if (reply[0] === 2) return { ok: false, cooling: true };
    return { ok: false, counter: Number(reply[1]) - 1, spent: Number(reply[2]), room: Number(reply[3]) };
  });
}

export interface SettleSettings {
  maxRecords: number;
  aggregateTtlMs: number;
  /** Settled markers: sets per bucket of this length, looked for in the last `buckets` buckets (scripts.ts). */
  settled: { bucketMs: number; buckets: number };
  /** Also add every record to the ledger queue (a stream only the ledger writer trims). */
  ledger?: boolean;
}

/**
 * The first bucket of settled markers where an earlier settle of the request could be (0: any).
 * Buckets follow Redis' clock and the hold's time the replica's, so one bucket before the hold's
 * allows for the two clocks to differ by up to a bucket's length.
 */
function sinceBucket(request: SettleRequest, bucketMs: number): number {
  return request.heldAt === undefined ? 0 : Math.max(0, Math.floor(request.heldAt / bucketMs) - 1);
}

export function settleCall(requests: SettleRequest[], key: (id: string) => string, settings: SettleSettings): ScriptCall {
  const counters = new BatchCounters(key, requests[0]!.now);
  const days = new Map<string, Map<string, number>>();
  const requestArgs: string[] = [];
  for (const r of requests) {
    let fields = days.get(r.day);
    if (!fields) days.set(r.day, (fields = new Map()));
    for (const [field, delta] of r.aggregates) fields.set(field, (fields.get(field) ?? 0) + Math.round(delta));
    requestArgs.push(`${r.actual} ${counters.listOf(r.counters)} ${r.lease ?? "-"} ${sinceBucket(r, settings.settled.bucketMs)} ${r.requestId}`, r.record ? JSON.stringify(r.record) : "");
  }
  const dayArgs: string[] = [];
  for (const fields of days.values()) {
    dayArgs.push(String(fields.size));
    for (const [field, delta] of fields) dayArgs.push(field, String(delta));
  }
  return {
    keys: [
      key("holds"),
      key("hold-data"),
      key("usage"),
      ...counters.keys,
      ...[...days.keys()].map((d) => key(`agg:${d}`)),
      ...(settings.ledger ? [key("ledger")] : []),
    ],
    args: [
      requests[0]!.thresholds.join(","),
      String(settings.maxRecords),
      String(settings.aggregateTtlMs),
      `${settings.settled.bucketMs} ${settings.settled.buckets}`,
      key("settled:"),
      String(counters.keys.length),
      String(days.size),
      String(counters.lists.length),
      String(requests.length),
      ...counters.args,
      ...counters.lists,
      ...dayArgs,
      ...requestArgs,
    ],
  };
}

/** Settles of one batch must share their alert thresholds (one argument for the whole call). */
export const sameThresholds = (a: SettleRequest, b: SettleRequest) => a.thresholds.join(",") === b.thresholds.join(",");

/**
 * The results of a settle call, or the indexes (0-based) of requests settled before, which the
 * batch must be sent again without.
 */
export function settleResults(reply: unknown): { results: SettleResult[] } | { settledBefore: number[] } {
  const [status, ...rest] = reply as [number, ...unknown[]];
  if (status === 0) return { settledBefore: (rest as number[]).map((i) => Number(i) - 1) };
  return {
    results: (rest[0] as Array<Array<number | string>>).map((r) => {
      const crossed: CrossedThreshold[] = [];
      for (let i = 1; i + 2 < r.length; i += 3) {
        crossed.push({ counter: Number(r[i]) - 1, threshold: Number(r[i + 1]), spent: Number(r[i + 2]) });
      }
      return { applied: true, crossed };
    }),
  };
}
