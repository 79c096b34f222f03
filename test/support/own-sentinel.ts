import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./ports.js";
import { startOwnRedis, type OwnRedis } from "./own-redis.js";

/**
 * A primary, its replica and one Sentinel watching them (quorum 1), all of a test's own. The
 * Sentinel fails over when asked (SENTINEL FAILOVER), never on its own: a busy machine must not
 * look like a dead primary.
 */
export interface OwnSentinel {
  name: string;
  /** `127.0.0.1:port` of the Sentinel. */
  sentinel: string;
  primary: OwnRedis;
  replica: OwnRedis;
  /** The port of the primary the Sentinel names now. */
  primaryPort(): Promise<number>;
  /** Asks the Sentinel to fail over now (SENTINEL FAILOVER), to the replica. */
  failover(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnSentinel(name = "tgprimary"): Promise<OwnSentinel> {
  const primary = await startOwnRedis();
  const replica = await startOwnRedis({ args: ["--replicaof", "127.0.0.1", String(primary.port)] });
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tollgate-sentinel-"));
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`, `sentinel down-after-milliseconds ${name} 60000`, `sentinel failover-timeout ${name} 10000`, ""].join("\n"),
  );
  const child: ChildProcess = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  const client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(times * 50, 500) });
  client.on("error", () => {});
  const primaryPort = async () => Number(((await client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)) as string[])[1]);
  // The Sentinel can promote the replica once it has found it (INFO replication on the primary) and
  // sees it in sync: flags "slave" alone (not disconnected or down) and its link to the primary up.
  const promotable = async () => {
    const replicas = (await client.call("SENTINEL", "REPLICAS", name).catch(() => [])) as string[][];
    return replicas.some((fields) => {
      const info = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
      return info.get("flags") === "slave" && info.get("master-link-status") === "ok";
    });
  };
  const deadline = Date.now() + 20_000;
  while (!(await promotable())) {
    if (Date.now() > deadline) throw new Error("the Sentinel did not find the replica in sync");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    sentinel: `127.0.0.1:${port}`,
    primary,
    replica,
    primaryPort,
    failover: async () => void (await client.call("SENTINEL", "FAILOVER", name)),
    stop: async () => {
      client.disconnect();
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      await Promise.all([primary.stop(), replica.stop()]);
    },
  };
}
