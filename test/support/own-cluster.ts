import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { startOwnRedis, type OwnRedis } from "./own-redis.js";

/** A Redis Cluster of a test's own: three masters on free loopback ports, all 16384 slots assigned. */
export interface OwnCluster {
  nodes: OwnRedis[];
  /** `127.0.0.1:port` of each node. */
  addresses: string[];
  stop(): Promise<void>;
}

const run = promisify(execFile);

async function clusterReady(address: string): Promise<boolean> {
  const [host, port] = address.split(":");
  const redis = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.cluster("INFO")).includes("cluster_state:ok");
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

export async function startOwnCluster(): Promise<OwnCluster> {
  const nodes: OwnRedis[] = [];
  for (let i = 0; i < 3; i++) nodes.push(await startOwnRedis({ args: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"] }));
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"]);
  // Every node must agree the slots are covered before a client reads the slot map from any of them.
  const deadline = Date.now() + 20_000;
  for (const address of addresses) {
    while (!(await clusterReady(address))) {
      if (Date.now() > deadline) throw new Error(`the cluster at ${addresses.join(",")} did not become ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { nodes, addresses, stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}
