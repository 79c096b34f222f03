import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeConfigFile } from "./support/proxy.js";

/**
 * The `tollgate` command as a child process: src/main.ts is what dist/main.js (the bin's target)
 * is compiled from, run here through tsx so the suite needs no build.
 */

const root = join(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; bin: Record<string, string>; files: string[]; scripts: Record<string, string> };
const version = pkg.version;

function tollgate(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { cwd: root, encoding: "utf8", timeout: 20_000, env: { ...process.env, TOLLGATE_CONFIG: "" } });
}

describe("tollgate check-config", () => {
  it("prints config.yaml's resolved models, tiers and prices with their sources", () => {
    const run = tollgate("check-config", "config.yaml");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/^config\.yaml: valid$/m);
    expect(out).toMatch(/^ {2}model +tier +upstream +sent as +input +cached +output +context +max output +price from$/m);
    // One row per model, with its catalogue source and the entry it matched.
    expect(out).toMatch(/^ {2}gpt-5-mini +economy +openai +gpt-5-mini +[\d.]+ +[\d.]+ +[\d.]+ +400000 +128000 +catalogue:genai-prices@[\d.]+ \(openai\/gpt-5-mini\)$/m);
    expect(out).toMatch(/^ {2}claude-sonnet-4-5 +standard +anthropic +claude-sonnet-4-5-20250929 .* \(anthropic\/claude-sonnet-4-5\)$/m);
    expect(out).toMatch(/^ +above 200000 input tokens +[\d.]+ +[\d.]+ +[\d.]+$/m);
    expect(out).toMatch(/^ {2}economy +gpt-5-mini, claude-haiku-4-5$/m);
    expect(out).toMatch(/^ {2}premium +gpt-5\.2, claude-opus-4-5$/m);
  });

  it("shows a configured price as such, and where it differs from the catalogue's", () => {
    const file = writeConfigFile({
      upstreams: { openai: { base_url: "https://api.openai.com/v1" } },
      models: { "gpt-5-mini": { upstream: "openai", tier: "economy", price: { input: 9, output: 9 }, max_output_tokens: 1000 } },
    });
    const run = tollgate("check-config", file);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ {2}gpt-5-mini +economy +openai +gpt-5-mini +9 +- +9 +400000 +1000 +config$/m);
    expect(run.stdout).toMatch(/model "gpt-5-mini": the configured price is used; it differs from the catalogue's \(openai\/gpt-5-mini\): input 9/);
  });

  it("rejects a file with a model it cannot price, naming it, and exits 1", () => {
    const file = writeConfigFile({
      upstreams: { house: { base_url: "http://127.0.0.1:9/v1" } },
      models: { "house-model-x": { upstream: "house", tier: "economy" } },
    });
    const run = tollgate("check-config", file);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`invalid configuration in ${file}`);
    expect(run.stderr).toMatch(/models\.house-model-x\.price: model "house-model-x" has no price/);
  });
});

describe("tollgate --version, --help, and an unknown command", () => {
  it("prints the package version", () => {
    const run = tollgate("--version");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${version}\n`);
  });

  it("prints the usage", () => {
    const run = tollgate("--help");
    expect(run.status).toBe(0);
    for (const command of ["tollgate [--config FILE]", "tollgate check-config [FILE]", "tollgate demo", "--version"]) expect(run.stdout).toContain(command);
  });

  it("refuses an unknown command with the usage, exit 2", () => {
    const run = tollgate("chek-config");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/unknown command "chek-config"/);
  });
});

describe("tollgate demo", () => {
  it("starts, prints what to try, answers through its demo upstream, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "demo", "--port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    // "close" comes after the last output, "exit" may not.
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          output += d.toString();
          const match = /the proxy on (http:\/\/127\.0\.0\.1:\d+),/.exec(output);
          if (match && output.includes("Ctrl-C stops the demo")) resolve(match[1]!);
        });
        child.on("exit", (code) => reject(new Error(`the demo exited with ${code}:\n${output}`)));
      });
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer tg-demo-key", "content-type": "application/json" },
        body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: "Say hello in French." }] }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toMatch(/^Demo answer from/);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    // The routing score decided (issue 14): a short greeting scores below the standard threshold.
    expect(output).toMatch(/← 200 demo → economy\/gpt-5-mini \(score:0\.\d{3}\)/);
  });
});

describe("the installed command", () => {
  it("is the bin `tollgate`, a plain-node launcher of the compiled dist/main.js, shipped with dist/", () => {
    expect(pkg.bin).toEqual({ tollgate: "bin/tollgate.js" });
    const launcher = readFileSync(join(root, "bin/tollgate.js"), "utf8");
    expect(launcher.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(launcher).toContain('new URL("../dist/main.js", import.meta.url)');
    expect(launcher).not.toMatch(/tsx/);
    expect(pkg.files).toEqual(expect.arrayContaining(["bin", "dist"]));
    // tsconfig.build.json compiles src/ to dist/, so src/main.ts becomes dist/main.js.
    expect(pkg.scripts.build).toContain("tsc -p tsconfig.build.json");
    expect(pkg.scripts.demo).toMatch(/src\/main\.ts demo$/);
  });

  it("tells to build first when dist/ is missing", () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-bin-"));
    mkdirSync(join(dir, "bin"));
    copyFileSync(join(root, "bin/tollgate.js"), join(dir, "bin/tollgate.js"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    const run = spawnSync(process.execPath, [join(dir, "bin/tollgate.js"), "--version"], { encoding: "utf8", timeout: 20_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/dist\/ is missing\. Run `npm run build`/);
  });
});
