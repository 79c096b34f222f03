import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { request } from "undici";

/** Child processes of the benchmark: each server runs alone in its own process. */

export const ROOT = new URL("..", import.meta.url).pathname;

/** A port nothing listens on right now (the child binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  name: string;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeFlags?: string[];
  env?: Record<string, string>;
}

/**
 * Starts `node --import tsx <script> <args>` (a built `.js` script without tsx) with stdout discarded (a proxy logs a line per request:
 * nobody must have to read them) and stderr kept for the error message if it dies. Ready once
 * `healthPath` answers 200.
 */
export async function spawnServer(name: string, url: string, script: string, args: string[], healthPath: string, options: SpawnOptions = {}): Promise<ServerProcess> {
  const loader = script.endsWith(".js") ? [] : ["--import", "tsx"];
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ...loader, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not become healthy at ${url}${healthPath}:\n${stderr}`);
    }
    try {
      const res = await request(`${url}${healthPath}`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    url,
    child,
    stop: async () => {
      if (child.exitCode === null) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.kill("SIGTERM");
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
