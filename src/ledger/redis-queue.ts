import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { parseQueued, type LedgerBacklog, type LedgerQueue, type QueuedRecord } from "./queue.js";

const GROUP = "ledger";
/** Records PostgreSQL refused, kept for an operator (XRANGE <prefix>{tg}:ledger:rejected). */
const REJECTED_KEPT = 100_000;

type StreamEntry = [id: string, fields: string[]];

export interface RedisLedgerQueueOptions {
  /** The store's connection: confirmations and backlog reads. */
  redis: Redis;
  /** The stream the settle script adds every record to (`RedisBudgetStore.ledgerStream`). */
  stream: string;
  /** How long a take waits for new records (a blocking read, on a connection of its own). */
  pollMs: number;
  /** Entries another writer took and left unconfirmed this long are taken over. */
  claimIdleMs: number;
}

/**
 * The ledger queue shared by every replica: a Redis stream read through one consumer group.
 * Each replica's writer is a consumer of its own name; what it takes stays in the group's
 * pending list until it confirms it (XACK, and XDEL: the stream holds only records not yet
 * written, so its length is the backlog, and nothing trims it). A replica that dies leaves its
 * entries pending; any live writer takes them over (XAUTOCLAIM) once idle for `claimIdleMs`.
 */
export class RedisLedgerQueue implements LedgerQueue {
  readonly kind = "redis";
  readonly consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** A blocking read holds its connection: the writer reads on one of its own. */
  private readonly reader: Redis;
  private readonly redis: Redis;
  private readonly stream: string;
  private groupReady = false;
  private claimCursor = "0-0";
  private nextClaimScan = 0;

  constructor(private readonly options: RedisLedgerQueueOptions) {
    this.redis = options.redis;
    this.stream = options.stream;
    // Its commands may wait for the connection (up to the command timeout): nothing on the request path waits on them.
    this.reader = options.redis.duplicate({ commandTimeout: options.pollMs + 5000, enableOfflineQueue: true, lazyConnect: false });
    this.reader.on("error", () => {});
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      // From the stream's start: records queued before any writer existed are written too.
      await this.reader.call("XGROUP", "CREATE", this.stream, GROUP, "0", "MKSTREAM");
    } catch (err) {
      if (!String((err as Error).message).startsWith("BUSYGROUP")) throw err;
    }
    this.groupReady = true;
  }

  async take(count: number): Promise<QueuedRecord[]> {
    try {
      await this.ensureGroup();
      const claimed = await this.claimAbandoned(count);
      if (claimed.length > 0) return claimed;
      const reply = (await this.reader.call("XREADGROUP", "GROUP", GROUP, this.consumer, "COUNT", count, "BLOCK", this.options.pollMs, "STREAMS", this.stream, ">")) as
        | Array<[string, StreamEntry[]]>
        | null;
      return (reply?.[0]?.[1] ?? []).map(toQueued);
    } catch (err) {
      // The group went away with the key (a FLUSHALL, a deleted stream): create it again next time.
      if (String((err as Error).message).startsWith("NOGROUP")) this.groupReady = false;
      throw err;
    }
  }

  /**
   * Entries other writers took and left unconfirmed for `claimIdleMs`: their replica died. The
   * pending list is scanned in pieces, one per take, and the scan starts over twice per idle period.
   */
  private async claimAbandoned(count: number): Promise<QueuedRecord[]> {
    const now = performance.now();
    if (this.claimCursor === "0-0" && now < this.nextClaimScan) return [];
    const [next, entries, deleted] = (await this.reader.call(
      "XAUTOCLAIM",
      this.stream,
      GROUP,
      this.consumer,
      this.options.claimIdleMs,
      this.claimCursor,
      "COUNT",
      count,
    )) as [string, Array<StreamEntry | null>, string[] | undefined];
    this.claimCursor = next;
    if (next === "0-0") {
      this.nextClaimScan = now + this.options.claimIdleMs / 2;
      await this.forgetIdleConsumers();
    }
    // Pending entries whose data is gone cannot be written by anyone: clear them from the pending list.
    if (deleted && deleted.length > 0) await this.redis.xack(this.stream, GROUP, ...deleted);
    return entries.filter((e): e is StreamEntry => e !== null).map(toQueued);
  }

  /**
   * Every replica start adds a consumer name to the group; the names of replicas gone for good,
   * holding nothing, are removed. A live writer reads every `pollMs`, so it is never that idle (and
   * a consumer removed by mistake would only be created again by its next read).
   */
  private async forgetIdleConsumers(): Promise<void> {
    const consumers = (await this.reader.call("XINFO", "CONSUMERS", this.stream, GROUP)) as Array<Array<string | number>>;
    const idleLimit = Math.max(this.options.claimIdleMs, 10 * this.options.pollMs);
    for (const fields of consumers) {
      const info = new Map<string, string | number>();
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]!);
      if (info.get("name") === this.consumer || Number(info.get("pending")) > 0 || Number(info.get("idle")) < idleLimit) continue;
      await this.reader.call("XGROUP", "DELCONSUMER", this.stream, GROUP, String(info.get("name")));
    }
  }

  async renew(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // Claiming one's own entries resets their idle time, so no other writer takes them over.
    await this.redis.call("XCLAIM", this.stream, GROUP, this.consumer, 0, ...ids, "JUSTID");
  }

  async confirm(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const replies = await this.redis.multi().xack(this.stream, GROUP, ...ids).xdel(this.stream, ...ids).exec();
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (!replies || failed) throw failed ?? new Error("ledger confirmation was discarded");
  }

  async setAside(entries: QueuedRecord[], reason: string): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const e of entries) pipeline.xadd(`${this.stream}:rejected`, "MAXLEN", "~", REJECTED_KEPT, "*", "r", e.raw, "reason", reason);
    const replies = await pipeline.exec();
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
    await this.confirm(entries.map((e) => e.id));
  }

  async backlog(): Promise<LedgerBacklog> {
    const [length, pending] = await Promise.all([
      this.redis.xlen(this.stream),
      this.redis.xpending(this.stream, GROUP).catch((err: Error) => {
        if (err.message.startsWith("NOGROUP")) return [0];
        throw err;
      }),
    ]);
    return { queued: length, pending: Number((pending as unknown[])[0] ?? 0) };
  }

  async close(): Promise<void> {
    // Ends a blocking read in progress; the store's own connection is the store's to close.
    this.reader.disconnect();
  }
}

function toQueued([id, fields]: StreamEntry): QueuedRecord {
  const at = fields.indexOf("r");
  return parseQueued(id, at >= 0 ? (fields[at + 1] ?? "") : "");
}
