import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { stringify } from "yaml";
import { type Config } from "../../src/config/schema.js";
import { configSchema } from "../../src/config/resolve.js";
import { MemoryLogger } from "../../src/log.js";
import { startProxy, type RunningProxy } from "../../src/server/start.js";
import type { ServiceOptions } from "../../src/app.js";

/** The example configuration's models and tiers, every upstream pointed at the fake. */
export function testConfigInput(upstreamUrl: string, overrides: Record<string, unknown> = {}): Record<string, any> {
  // Counters hold exactly what each request holds and spent, unless a test turns budget leases on.
  const { store, ...rest } = overrides as { store?: Record<string, unknown> };
  return {
    store: { budget_leases: false, ...store },
    server: { host: "127.0.0.1", port: 0 },
    upstreams: {
      openai: { base_url: upstreamUrl, api_key: "sk-upstream-openai", timeout_ms: 5000 },
      anthropic: { base_url: upstreamUrl, api_key: "sk-upstream-anthropic", timeout_ms: 5000 },
    },
    models: {
      "gpt-4o-mini": { upstream: "openai", tier: "economy", price: { input: 0.15, cached_input: 0.075, output: 0.6 }, context_window: 128000, max_output_tokens: 16384 },
      "gpt-4o": { upstream: "openai", tier: "standard", price: { input: 2.5, cached_input: 1.25, output: 10 }, context_window: 128000 },
      "gpt-4-turbo": { upstream: "openai", tier: "premium", price: { input: 10, output: 30 }, context_window: 128000, encoding: "cl100k_base" },
      "claude-3-haiku": { upstream: "anthropic", upstream_model: "claude-3-haiku-20240307", tier: "economy", price: { input: 0.25, output: 1.25 }, context_window: 200000 },
      "claude-3-sonnet": { upstream: "anthropic", upstream_model: "claude-3-5-sonnet-20241022", tier: "standard", price: { input: 3, output: 15 }, context_window: 200000 },
      "o3-mini": { upstream: "openai", tier: "premium", reasoning: true, price: { input: 1.1, cached_input: 0.55, output: 4.4 }, context_window: 200000 },
    },
    tiers: { economy: ["gpt-4o-mini", "claude-3-haiku"], standard: ["gpt-4o", "claude-3-sonnet"], premium: ["gpt-4-turbo", "o3-mini"] },
    ...rest,
  };
}

export function testConfig(upstreamUrl: string, overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse(testConfigInput(upstreamUrl, overrides));
}

export interface TestProxy extends RunningProxy {
  logger: MemoryLogger;
  client(apiKey?: string): OpenAI;
}

/** The proxy in this process, on a free port, logging to memory. */
export async function startTestProxy(config: Config, options: ServiceOptions = {}): Promise<TestProxy> {
  const logger = new MemoryLogger();
  const proxy = await startProxy(config, { logger, ...options });
  return {
    ...proxy,
    logger,
    client: (apiKey = "unused-in-open-mode") => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey, maxRetries: 0 }),
  };
}

export interface ProxyProcess {
  url: string;
  child: ChildProcess;
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes a configuration file for child processes. */
export function writeConfigFile(input: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-test-"));
  const path = join(dir, "config.yaml");
  writeFileSync(path, stringify(input));
  return path;
}

/** A proxy replica in its own process, as `npm start` runs it. */
export async function spawnProxy(configFile: string, env: Record<string, string> = {}): Promise<ProxyProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--config", configFile], {
    cwd: join(import.meta.dirname, "../.."),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${output.join("")}`)), 60_000);
    child.stdout!.on("data", (data: Buffer) => {
      const text = data.toString();
      output.push(text);
      buffer += text;
      const match = /"event":"listening","url":"([^"]+)"/.exec(buffer);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.stderr!.on("data", (data: Buffer) => output.push(data.toString()));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code}:\n${output.join("")}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    url,
    child,
    output,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
