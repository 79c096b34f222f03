import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { Redis } from "ioredis";

/**
 * Makes sure the tests have a real Redis: REDIS_URL, else 127.0.0.1:6379, else a redis-server
 * started on a free port for this run. Fails with what to install when there is none.
 */
async function answers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

let started: ChildProcess | undefined;

export default async function setup({ provide }: { provide: (key: string, value: unknown) => void }) {
  let url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  if (!(await answers(url))) {
    if (spawnSync("redis-server", ["--version"]).status !== 0) {
      throw new Error(`Redis does not answer at ${url} and redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL.`);
    }
    const port = await freePort();
    started = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && !(await answers(url)); i++) await new Promise((r) => setTimeout(r, 100));
    if (!(await answers(url))) throw new Error(`started redis-server on port ${port} but it does not answer`);
  }
  provide("redisUrl", url);
  return () => {
    started?.kill();
  };
}
