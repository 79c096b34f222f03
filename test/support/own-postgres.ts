import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./ports.js";

const run = promisify(execFile);

/**
 * A PostgreSQL of a test's own: a cluster made with initdb in a temporary folder and run with
 * pg_ctl on a free port, for tests that stop and restart PostgreSQL (the machine's shared server
 * is never touched). PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
 */
export interface OwnPostgres {
  url: string;
  /** "immediate" is a crash: no checkpoint, connections cut. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** Stops it and deletes its folder. */
  destroy(): Promise<void>;
}

/** The newest PostgreSQL server binaries installed (Debian keeps them out of PATH). */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

async function asServerUser(file: string, args: string[]): Promise<void> {
  const root = process.getuid?.() === 0;
  const [cmd, cmdArgs] = root ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
  await run(cmd, cmdArgs, { timeout: 60_000 });
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL's server binaries are not installed (apt-get install postgresql)");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tollgate-pg-"));
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, "data");
  await asServerUser(join(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const pgCtl = join(bin, "pg_ctl");
  const own: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asServerUser(pgCtl, ["start", "-w", "-t", "60", "-D", data, "-l", join(dir, "log"), "-o", options]);
    },
    async stop(mode = "fast") {
      await asServerUser(pgCtl, ["stop", "-w", "-t", "60", "-D", data, "-m", mode]).catch((err: Error) => {
        // Already stopped is fine; anything else is not.
        if (!/not running|No such file/i.test(String((err as { stderr?: string }).stderr ?? err.message))) throw err;
      });
    },
    async destroy() {
      await own.stop("immediate");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}

/** True when a PostgreSQL at `url` answers a query. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
