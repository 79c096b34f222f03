import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RedisOptions } from "ioredis";
import { freePort, waitForRedis } from "./ports.js";

/**
 * A redis-server of a test's own (on a free port, with AOF in a temporary folder), for tests
 * that stop and restart Redis, or need a password or TLS: the shared server is never touched.
 */
export interface OwnRedis {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface OwnRedisOptions {
  /** `--requirepass`: the URL carries it. */
  password?: string;
  /** TLS only (no plain port), with these PEM files; the URL is rediss://. */
  tls?: { cert: string; key: string; ca: string };
  /** More redis-server arguments. */
  args?: string[];
}

export async function startOwnRedis(options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tollgate-redis-"));
  const auth = options.password ? `:${options.password}@` : "";
  const url = `${options.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`;
  const listen = options.tls
    ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", options.tls.cert, "--tls-key-file", options.tls.key, "--tls-ca-cert-file", options.tls.ca, "--tls-auth-clients", "no"]
    : ["--port", String(port)];
  const args = [...listen, "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""];
  if (options.password) args.push("--requirepass", options.password);
  args.push(...(options.args ?? []));
  const probe: RedisOptions = options.tls ? { tls: { ca: readFileSync(options.tls.ca) } } : {};
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    url,
    port,
    dir,
    async start() {
      child = spawn("redis-server", args, { stdio: "ignore" });
      await waitForRedis(url, 10_000, probe);
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await exited;
    },
  };
  await own.start();
  return own;
}
