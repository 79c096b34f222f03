import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnProxy, writeConfigFile } from "./support/proxy.js";
import { freePort } from "./support/ports.js";

/** What a start says about its environment: a port in use, PORT and HOST, empty upstream keys. */

const root = join(import.meta.dirname, "..");
const base = {
  upstreams: { openai: { base_url: "http://127.0.0.1:9/v1", api_key: "${OPENAI_API_KEY:-}" } },
  models: { "gpt-4o-mini": { upstream: "openai", tier: "economy", price: { input: 0.15, output: 0.6 } } },
};
/** The machine's environment without what these tests set themselves. */
const { OPENAI_API_KEY: _key, PORT: _port, HOST: _host, ...cleanEnv } = process.env;

function tollgate(env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { cwd: root, encoding: "utf8", timeout: 20_000, env: { ...cleanEnv, TOLLGATE_CONFIG: "", ...env } });
}

let taken: Server;
let takenPort: number;

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

describe("a port in use", () => {
  it("stops the start with one line that names it, exit 1", () => {
    const file = writeConfigFile({ ...base, server: { port: takenPort } });
    const run = tollgate({ OPENAI_API_KEY: "sk" }, "--config", file);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`tollgate failed to start: port ${takenPort} on 127.0.0.1 is in use by another process: stop it, or set server.port (or PORT) to a free port\n`);
  });

  it("is the port PORT names, over the file's", () => {
    const file = writeConfigFile({ ...base, server: { port: 0 } });
    const run = tollgate({ OPENAI_API_KEY: "sk", PORT: String(takenPort) }, "--config", file);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`port ${takenPort} on 127.0.0.1 is in use`);
  });
});

describe("PORT and HOST", () => {
  it("are where the proxy listens", async () => {
    const port = await freePort();
    const proxy = await spawnProxy(writeConfigFile({ ...base, server: { host: "0.0.0.0", port: 1 } }), { OPENAI_API_KEY: "sk", PORT: String(port), HOST: "127.0.0.1" });
    try {
      expect(proxy.url).toBe(`http://127.0.0.1:${port}`);
      expect((await fetch(`${proxy.url}/health`)).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});

describe("empty upstream keys", () => {
  it("are listed by check-config and logged at start", async () => {
    const file = writeConfigFile({ ...base, server: { port: 0 } });
    const check = tollgate({}, "check-config", file);
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('  - upstream "openai" has an empty api_key: its models (gpt-4o-mini) go without a key');
    const proxy = await spawnProxy(file, { OPENAI_API_KEY: "", PORT: "", HOST: "" });
    try {
      const warning = proxy.output.join("").split("\n").find((line) => line.includes('"event":"config_warning"'));
      expect(JSON.parse(warning!)).toMatchObject({ level: "warn", detail: expect.stringMatching(/^upstream "openai" has an empty api_key/) });
    } finally {
      await proxy.stop();
    }
  });
});
