import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { startFakeAnthropic, type FakeAnthropic } from "../support/anthropic-upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";

/**
 * Claude Code itself (`@anthropic-ai/claude-code`, its native binary), run non-interactively
 * through tollgate against the loopback fake Anthropic upstream. Telemetry, updates and every
 * other call it would make elsewhere are turned off by its own environment variables.
 */

const KEY = "tg-claude-code-key";
const ADMIN = "tg-claude-code-admin";
let openai: FakeUpstream;
let claude: FakeAnthropic;
let proxy: TestProxy;

beforeEach(async () => {
  openai = await startUpstream();
  claude = await startFakeAnthropic(() => ({ kind: "answer", text: "hi from tollgate's fake Claude", noTools: true }));
  const base = testConfig(openai.baseUrl);
  proxy = await startTestProxy(
    testConfig(openai.baseUrl, {
      upstreams: { ...base.upstreams, claude: { base_url: claude.baseUrl, api_key: "sk-ant-upstream-0123456789abcdef", protocol: "anthropic", timeout_ms: 5000 } },
      models: {
        "gpt-4o-mini": { upstream: "openai", tier: "economy", price: { input: 0.15, output: 0.6 }, context_window: 128000 },
        "claude-haiku-4-5": { upstream: "claude", tier: "economy", price: { input: 1, output: 5 }, context_window: 200000, max_output_tokens: 64000 },
        "claude-sonnet-4-5": { upstream: "claude", tier: "standard", price: { input: 3, output: 15 }, context_window: 200000, max_output_tokens: 64000 },
        "claude-opus-4-1": { upstream: "claude", tier: "premium", price: { input: 15, output: 75 }, context_window: 200000, max_output_tokens: 32000 },
      },
      tiers: { economy: ["gpt-4o-mini", "claude-haiku-4-5"], standard: ["claude-sonnet-4-5"], premium: ["claude-opus-4-1"] },
      keys: [{ id: "claude-code", key: KEY }],
      admin_key: ADMIN,
    }),
  );
});

afterEach(async () => {
  await proxy.shutdown();
  await openai.close();
  await claude.close();
});

function runClaude(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), "tollgate-claude-home-"));
  const bin = join(import.meta.dirname, "../../node_modules/.bin/claude");
  const child = spawn(bin, ["-p", "say hi", "--output-format", "text"], {
    cwd: home,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      ANTHROPIC_BASE_URL: proxy.url,
      DISABLE_TELEMETRY: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_ERROR_REPORTING: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

async function costs(): Promise<{ total_requests: number; total_cost: number; by_key: Record<string, { cost: number; requests: number }> }> {
  const res = await fetch(`${proxy.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.json()) as never;
}

for (const variable of ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]) {
  it(`claude -p with ${variable} set to a tollgate key: answered through tollgate, its spend in /v1/costs`, { timeout: 120_000 }, async () => {
    const run = await runClaude({ [variable]: KEY });
    expect(run, run.stderr).toMatchObject({ code: 0 });
    expect(run.stdout).toContain("hi from tollgate's fake Claude");
    // Every call it made went through tollgate to the fake, with the upstream's key and never the client's.
    expect(claude.requests.length).toBeGreaterThan(0);
    for (const sent of claude.requests) {
      expect(sent.headers["x-api-key"]).toBe("sk-ant-upstream-0123456789abcdef");
      expect(sent.headers.authorization).toBeUndefined();
      expect(sent.headers["anthropic-beta"]).toBeDefined();
    }
    await expect.poll(async () => (await costs()).total_requests).toBe(claude.requests.filter((r) => r.path === "/v1/messages").length);
    const spent = await costs();
    expect(spent.total_cost).toBeGreaterThan(0);
    expect(JSON.stringify(spent.by_key)).toContain("claude-code");
  });
}
