import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { freePort, redisAnswers, waitForRedis } from "./ports.js";

/**
 * Makes sure the tests have a real Redis: REDIS_URL, else 127.0.0.1:6379, else a redis-server
 * started on a free port for this run. Fails with what to install when there is none.
 */
let started: ChildProcess | undefined;

export default async function setup({ provide }: { provide: (key: string, value: unknown) => void }) {
  let url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  if (!(await redisAnswers(url))) {
    if (spawnSync("redis-server", ["--version"]).status !== 0) {
      throw new Error(`Redis does not answer at ${url} and redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL.`);
    }
    const port = await freePort();
    started = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    url = `redis://127.0.0.1:${port}`;
    await waitForRedis(url, 5000);
  }
  provide("redisUrl", url);
  return () => {
    started?.kill();
  };
}
