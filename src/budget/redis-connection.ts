import type { Logger } from "../log.js";
import { StoreUnavailableError } from "./interface.js";
import { baseOptions, connectRedis, describeConnection, type RedisClient, type RedisConnection } from "./redis-client.js";
import { saysNothing, shortReason } from "./redis-errors.js";

/**
 * The store's connection and what it knows of its health. ioredis answers a command refused
 * while the connection is down with "Stream isn't writeable", whatever the cause: the cause is the
 * connection's own last error (refused, wrong password, untrusted certificate), kept here for the
 * errors of those commands, and logged once per outage and cause, with the recovery.
 */
export class StoreConnection {
  readonly client: RedisClient;
  /** Where the store is, password masked: named in every error and log line about it. */
  readonly where: string;
  /** A Redis Cluster: keys no script reads may spread over its nodes. */
  readonly cluster: boolean;
  private failure: Error | undefined;

  constructor(connection: RedisConnection, commandTimeoutMs: number, logger?: Logger) {
    this.where = describeConnection(connection);
    this.cluster = connection.cluster !== undefined;
    this.client = connectRedis(connection, baseOptions(commandTimeoutMs));
    this.client.on("error", (err: Error) => {
      const changed = this.failure?.message !== err.message;
      this.failure = err;
      if (changed) logger?.log("error", "budget_store_connection_failed", { store: this.where, reason: shortReason(err.message), error: err.message });
    });
    this.client.on("ready", () => {
      if (this.failure) logger?.log("info", "budget_store_connected", { store: this.where });
      this.failure = undefined;
    });
  }

  /** Why the store is unreachable now, when it is. */
  get unavailable(): StoreUnavailableError | undefined {
    return this.failure ? new StoreUnavailableError(this.failure, this.where) : undefined;
  }

  /** The error a failed command is reported as: its own, or, when it says nothing, the connection's. */
  unavailableFor(err: unknown): StoreUnavailableError {
    const silent = saysNothing((err as Error)?.message ?? "");
    return new StoreUnavailableError(silent ? (this.failure ?? new Error(`not connected (${this.client.status})`)) : err, this.where);
  }

  /** Resolves once connected, or false after `timeoutMs` (the store then reports unready). */
  waitUntilReady(timeoutMs: number): Promise<boolean> {
    if (this.client.status === "ready") return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off("ready", onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.client.once("ready", onReady);
    });
  }

  /**
   * A plain connection to a node of a Redis Cluster: the budgets work only if that node owns their
   * slot, and then every key lands there. The start says so (store.redis_cluster is the fix).
   */
  async isLoneClusterNode(): Promise<boolean> {
    if (this.cluster) return false;
    try {
      return /cluster_enabled:1/.test(await this.client.info("cluster"));
    } catch {
      return false;
    }
  }
}
