import { readFileSync } from "node:fs";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import { maskUrl } from "./redis-errors.js";

/**
 * The connection to Redis as it is deployed: one server by URL (`redis://`, `rediss://` for TLS),
 * the primary a Sentinel names (it follows a failover), or a Redis Cluster from any of its nodes.
 * TLS takes its certificates from files; user and password come from the URL or the store's own fields.
 */
export interface RedisConnection {
  url?: string;
  /** Nodes of a Redis Cluster (`host:port` or URLs): any one is enough, the others are discovered. */
  cluster?: string[];
  sentinel?: { name: string; sentinels: string[]; password?: string };
  tls?: { ca_file?: string; cert_file?: string; key_file?: string; servername?: string };
  username?: string;
  password?: string;
}

/** The options every connection of the store shares: fail fast, reconnect in the background. */
export function baseOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    // After a failover the old primary answers READONLY until ioredis asks the Sentinel again.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
    lazyConnect: false,
  };
}

/** TLS options from the configured files; read once, at start, so a missing file stops the start. */
export function tlsOptions(tls: RedisConnection["tls"]): ConnectionOptions | undefined {
  if (!tls) return undefined;
  const read = (path: string | undefined, what: string) => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`store.tls.${what}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const ca = read(tls.ca_file, "ca_file");
  const cert = read(tls.cert_file, "cert_file");
  const key = read(tls.key_file, "key_file");
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(tls.servername ? { servername: tls.servername } : {}) };
}

/** `host:port` as ioredis takes it (IPv6 in brackets). */
export function hostPort(text: string): { host: string; port: number } {
  const parsed = new URL(text.includes("://") ? text : `redis://${text}`);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 6379) };
}

/** Either client: both run the same commands and scripts (a Cluster routes each by its keys' slot). */
export type RedisClient = Redis | Cluster;

/** Where the store is, for logs and errors: the URL with its password masked, or the Sentinel's primary. */
export function describeConnection(connection: RedisConnection): string {
  if (connection.cluster) return `cluster ${connection.cluster.map(maskUrl).join(",")}`;
  if (connection.sentinel) return `sentinel primary "${connection.sentinel.name}" via ${connection.sentinel.sentinels.join(",")}`;
  return maskUrl(connection.url ?? "");
}

export function connectRedis(connection: RedisConnection, options: RedisOptions): RedisClient {
  const tls = tlsOptions(connection.tls);
  const auth = { ...(connection.username ? { username: connection.username } : {}), ...(connection.password ? { password: connection.password } : {}) };
  if (connection.cluster) return connectCluster(connection.cluster, { ...options, ...auth, ...(tls ? { tls } : {}) });
  if (connection.sentinel) {
    const { name, sentinels, password } = connection.sentinel;
    return new Redis({
      ...options,
      ...auth,
      name,
      sentinels: sentinels.map(hostPort),
      ...(password ? { sentinelPassword: password } : {}),
      ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    });
  }
  const url = connection.url ?? "";
  // rediss:// turns TLS on; the files add what the server's certificate needs to be trusted.
  const secure = url.startsWith("rediss://") || tls !== undefined;
  return new Redis(url, { ...options, ...auth, ...(secure ? { tls: tls ?? {} } : {}) });
}

/**
 * A Cluster client: commands go to the node that owns their keys' slot, and follow MOVED and a
 * resharding. Nodes given as URLs lend their user, password and TLS to every node.
 */
function connectCluster(nodes: string[], options: RedisOptions): Cluster {
  const first = nodes.find((n) => n.includes("://"));
  const parsed = first ? new URL(first) : undefined;
  const fromUrl: RedisOptions = {
    ...(parsed?.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed?.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed?.protocol === "rediss:" && !options.tls ? { tls: {} } : {}),
  };
  const { enableOfflineQueue, enableAutoPipelining, retryStrategy, ...redisOptions } = options;
  const clusterOptions: ClusterOptions = {
    redisOptions: { ...redisOptions, ...fromUrl },
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: (times) => retryStrategy?.(times) ?? 2000,
    // The slots are read again when a node goes away or a MOVED says they moved.
    slotsRefreshTimeout: 2000,
    // Its ready check is a command sent before the nodes' connections are up; without an offline
    // queue it fails at random and the client reconnects in a loop. The slot map read is check enough.
    enableReadyCheck: false,
  };
  return new Cluster(nodes.map(hostPort), clusterOptions);
}

/** A connection of its own for blocking reads (they hold it), that waits for a reconnect instead of failing at once. */
export function blockingDuplicate(client: RedisClient, commandTimeoutMs: number): RedisClient {
  if (client instanceof Cluster) {
    return client.duplicate([], { enableOfflineQueue: true, redisOptions: { ...client.options.redisOptions, commandTimeout: commandTimeoutMs } });
  }
  return client.duplicate({ commandTimeout: commandTimeoutMs, enableOfflineQueue: true, lazyConnect: false });
}
