import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { blockingDuplicate, type RedisClient } from "../budget/redis-client.js";
import { jsonLogger, type Logger } from "../log.js";
import { parseQueued, type LedgerBacklog, type LedgerQueue, type QueuedRecord } from "./queue.js";

const GROUP = "ledger";
/** Records PostgreSQL refused, kept for an operator (XRANGE <prefix>{tg}:ledger:rejected). */
const REJECTED_KEPT = 100_000;

type StreamEntry = [id: string, fields: string[]];

export interface RedisLedgerQueueOptions {
  /** The store's connection: confirmations and backlog reads. */
  redis: RedisClient;
  /** The stream the settle script adds every record to (`RedisBudgetStore.ledgerStream`). */
  stream: string;
  /** How long a take waits for new records (a blocking read, on a connection of its own). */
  pollMs: number;
  /** Entries another writer took and left unconfirmed this long are taken over. */
  claimIdleMs: number;
  /** Where a consumer group created again is reported (default: stdout). */
  logger?: Logger;
}

/**
 * The ledger queue shared by every replica: a Redis stream read through one consumer group.
 * Each replica's writer is a consumer of its own name; what it takes stays in the group's
 * pending list until it confirms it (XACK, and XDEL: the stream holds only records not yet
 * written, so its length is the backlog, and nothing trims it). A replica that dies leaves its
 * entries pending; any live writer takes them over (XAUTOCLAIM) once idle for `claimIdleMs`.
 *
 * The group can vanish under a running writer (Redis restarted without persistence, a FLUSHALL,
 * the stream deleted): every command that needs it creates it again when Redis says it is gone,
 * and goes on, so the writers never stop while spend keeps being queued.
 */
export class RedisLedgerQueue implements LedgerQueue {
  readonly kind = "redis";
  readonly consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /** A blocking read holds its connection: the writer reads on one of its own. */
  private readonly reader: RedisClient;
  private readonly redis: RedisClient;
  private readonly stream: string;
  private readonly logger: Logger;
  private groupReady = false;
  private claimCursor = "0-0";
  private nextClaimScan = 0;

  constructor(private readonly options: RedisLedgerQueueOptions) {
    this.redis = options.redis;
    this.stream = options.stream;
    this.logger = options.logger ?? jsonLogger;
    // Its commands may wait for the connection (up to the command timeout): nothing on the request path waits on them.
    this.reader = blockingDuplicate(options.redis, options.pollMs + 5000);
    this.reader.on("error", () => {});
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    await this.createGroup();
    this.groupReady = true;
  }

  /**
   * From the stream's start: records queued before any writer existed, or before the group was
   * lost, are written too. False when the group was there already (another replica was first).
   */
  private async createGroup(): Promise<boolean> {
    try {
      await this.reader.call("XGROUP", "CREATE", this.stream, GROUP, "0", "MKSTREAM");
      return true;
    } catch (err) {
      if (!String((err as Error).message).startsWith("BUSYGROUP")) throw err;
      return false;
    }
  }

  /** Runs `command` on the group; when Redis answers that the group is gone, creates it again and runs it once more. */
  private async withGroup<T>(command: () => Promise<T>): Promise<T> {
    await this.ensureGroup();
    try {
      return await command();
    } catch (err) {
      if (!groupGone(err)) throw err;
      await this.recreateGroup(err as Error);
      return command();
    }
  }

  /** Only the replica whose XGROUP CREATE succeeds logs it: one line per loss of the group. */
  private async recreateGroup(cause: Error): Promise<void> {
    this.claimCursor = "0-0";
    if (!(await this.createGroup())) return;
    this.logger.log("warn", "ledger_group_recreated", {
      stream: this.stream,
      error: cause.message,
      detail:
        "the ledger's consumer group was gone (Redis restarted without persistence, a FLUSHALL, the stream deleted) and is created again; if the stream went too, the records it held that no writer had taken are lost",
    });
  }

  async take(count: number): Promise<QueuedRecord[]> {
    return this.withGroup(async () => {
      const claimed = await this.claimAbandoned(count);
      if (claimed.length > 0) return claimed;
      const reply = (await this.reader.call("XREADGROUP", "GROUP", GROUP, this.consumer, "COUNT", count, "BLOCK", this.options.pollMs, "STREAMS", this.stream, ">")) as
        | Array<[string, StreamEntry[]]>
        | null;
      return (reply?.[0]?.[1] ?? []).map(toQueued);
    });
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
    // Claiming one's own entries resets their idle time, so no other writer takes them over. In a
    // group created again they are pending nowhere: nothing to renew, and the writer still holds them.
    await this.withGroup(() => this.redis.call("XCLAIM", this.stream, GROUP, this.consumer, 0, ...ids, "JUSTID"));
  }

  /** XACK and XDEL never answer NOGROUP (a lost group has nothing pending to acknowledge): no recovery needed. */
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

  /**
   * Only reads, and never waits on the writer's connection: without the group nothing is pending,
   * and the writer's next command creates it again.
   */
  async backlog(): Promise<LedgerBacklog> {
    const [length, pending] = await Promise.all([
      this.redis.xlen(this.stream),
      this.redis.xpending(this.stream, GROUP).catch((err: Error) => {
        if (groupGone(err)) return [0];
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

/**
 * Redis's answers when the group is gone: NOGROUP; UNBLOCKED to a blocking read whose stream was
 * deleted; "no such key" to XINFO on a deleted stream.
 */
function groupGone(err: unknown): boolean {
  const message = String((err as Error).message);
  return message.startsWith("NOGROUP") || message.startsWith("UNBLOCKED") || message === "ERR no such key";
}

function toQueued([id, fields]: StreamEntry): QueuedRecord {
  const at = fields.indexOf("r");
  return parseQueued(id, at >= 0 ? (fields[at + 1] ?? "") : "");
}
