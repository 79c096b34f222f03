import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, ROOT } from "./processes.js";

/**
 * Idle memory as a deployment runs it: the build (`npm run build`) started with node, as the
 * Dockerfile does, on the example configuration (config.yaml: the memory store, its models and
 * their encodings), its RSS read from /proc a second after it first answers /health.
 */
export async function idleRssMb(): Promise<number> {
  execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tollgate-idle-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, readFileSync(join(ROOT, "config.yaml"), "utf8").replace(/port: 8787/, `port: ${port}`));
  const child = spawn(process.execPath, [join(ROOT, "dist/main.js"), "--config", file], { stdio: "ignore", env: { ...process.env, REDIS_URL: "" } });
  try {
    for (let tries = 0; ; tries++) {
      const up = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (up) break;
      if (tries > 300) throw new Error("the build did not answer /health");
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  } finally {
    child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}
