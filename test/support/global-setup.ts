import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { freePort, redisAnswers, waitForRedis } from "./ports.js";
import { postgresAnswers, postgresBinDir, startOwnPostgres, type OwnPostgres } from "./own-postgres.js";

/**
 * Makes sure the tests have a real Redis: REDIS_URL, else 127.0.0.1:6379, else a redis-server
 * started on a free port for this run. Fails with what to install when there is none.
 */
let started: ChildProcess | undefined;
let ownPostgres: OwnPostgres | undefined;

/**
 * And a real PostgreSQL: POSTGRES_URL, else 127.0.0.1:5432 database `test` (what .ci/run starts),
 * else a cluster of this run's own when the server binaries exist. Without any, only the tests
 * that need it fail, with what to install.
 */
async function findPostgres(): Promise<string> {
  const url = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  if (await postgresAnswers(url)) return url;
  if (!postgresBinDir()) return "";
  ownPostgres = await startOwnPostgres();
  return ownPostgres.url;
}

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
  provide("postgresUrl", await findPostgres());
  return async () => {
    started?.kill();
    await ownPostgres?.destroy();
  };
}
