import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem, type } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { resetConnections } from "./load.js";
import { cpuSnapshot, otherLoad } from "./machine.js";
import { measurePaired, measureTarget, PHASES, type PairedRound, type Phase, type Plan, type TargetResult, type TargetUnderTest } from "./measure.js";
import { freePort, ROOT, spawnServer, type ServerProcess } from "./processes.js";
import { checks, renderReport, type RunInfo, type TargetCheck } from "./report.js";
import { MODEL } from "./workload.js";
import { idleRssMb } from "./idle.js";

/**
 * `npm run bench`: the upstream, a bare Hono + undici pass-through, tollgate on the memory store
 * and tollgate on Redis with budgets in three scopes, each measured alone beside the upstream,
 * then docs/benchmarks.md. Environment:
 *   REDIS_URL        the Redis to use (default redis://127.0.0.1:6379)
 *   BENCH_ONLY       comma-separated server names to run (the pass-through always runs: it is the base)
 * A run limited by BENCH_ONLY or BENCH_PHASES prints its numbers and leaves docs/benchmarks.md alone.
 *   BENCH_COMPARE_ROOT  another checkout: its tollgate on Redis joins the paired rounds, for before/after
 *   BENCH_CPU_PROF   a directory: tollgate runs with --cpu-prof and writes its profiles there
 *   BENCH_NODE_FLAGS extra node flags for tollgate (space-separated)
 *   BENCH_TOLLGATE_ROOT  run tollgate from another checkout (a before/after comparison)
 *   BENCH_PHASES     comma-separated phases to run (throughput,memory,ttfb,conversation,large,parts,paired), for profiling
 *   BENCH_NO_WRITE   set to leave docs/benchmarks.md alone
 *   BENCH_REPORT_FROM  a results file a run wrote (docs/benchmarks.json): renders docs/benchmarks.md from
 *                      it again, after bench/profile-notes.md changed, without running anything
 */

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const BENCH_KEY = "sk-bench-client-key";
const ADMIN_KEY = "sk-bench-admin-key";
const BASE = "passthrough";
const BASE_AGAIN = "passthrough (again)";

const plan: Plan = {
  connections: 32,
  warmupSeconds: 2,
  throughputSeconds: 8,
  ttfbRequests: 200,
  conversationTurns: 50,
  conversationBytes: 100 * 1024,
  conversationRepeats: 480,
  largeBytes: 1024 * 1024,
  largeSeconds: 5,
  largeSmallRate: 400,
  manyParts: 200_000,
  pairedRounds: 12,
  pairedSeconds: 2,
  pairedLatencyRequests: 60,
  memoryWarmup: 10_000,
  memoryRequests: 100_000,
};

const PRICE = { input: 0.4, cached_input: 0.1, output: 1.6 };

function tollgateConfig(port: number, upstreamUrl: string, redisPrefix: string | undefined): Record<string, unknown> {
  const budgets = { daily: 1_000_000, monthly: 10_000_000 };
  return {
    server: { host: "127.0.0.1", port, body_limit_mb: 10 },
    store: redisPrefix ? { redis_url: REDIS_URL, key_prefix: redisPrefix } : {},
    upstreams: { bench: { base_url: `${upstreamUrl}/v1`, api_key: "sk-bench-upstream", timeout_ms: 30_000 } },
    models: {
      [MODEL]: { upstream: "bench", tier: "economy", price: PRICE, context_window: 1_047_576, max_output_tokens: 32_768 },
      "gpt-4o": { upstream: "bench", tier: "standard", price: { input: 2.5, cached_input: 1.25, output: 10 }, context_window: 128_000 },
      "o3-mini": { upstream: "bench", tier: "premium", reasoning: true, price: { input: 1.1, cached_input: 0.55, output: 4.4 }, context_window: 200_000 },
    },
    tiers: { economy: [MODEL], standard: ["gpt-4o"], premium: ["o3-mini"] },
    ...(redisPrefix
      ? {
          budgets: { global: { ...budgets, per_request: 1000 }, teams: { bench: budgets }, keys: { "bench-key": budgets } },
          keys: [{ id: "bench-key", key: BENCH_KEY, team: "bench" }],
          // With client keys configured, /metrics needs the admin key.
          admin_key: ADMIN_KEY,
        }
      : {}),
  };
}

function installed(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

async function runInfo(seconds: number): Promise<Omit<RunInfo, "otherLoad">> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let redisVersion = "?";
  try {
    await redis.connect();
    redisVersion = /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "?";
  } finally {
    redis.disconnect();
  }
  let commit = "?";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
    if (execFileSync("git", ["status", "--porcelain", "src"], { cwd: ROOT }).toString().trim()) commit += " + uncommitted changes in src/";
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    commit,
    machine: { cpu: cpus()[0]?.model ?? "?", cores: cpus().length, memoryGb: totalmem() / 1024 ** 3, os: `${type()} ${release()}` },
    versions: [
      ["node", process.version],
      ["redis", redisVersion],
      ...Object.keys(pkg.dependencies).map((d): [string, string] => [d, installed(d)]),
      ["autocannon", installed("autocannon")],
    ],
    seconds,
    plan,
  };
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

interface ServerSpec {
  name: string;
  throughputSeconds?: number;
  /** Phases to run on it; all by default. */
  phases?: Phase[];
  memory: boolean;
  inspectPort?: number;
  headers: Record<string, string>;
  adminHeaders?: Record<string, string>;
  start(upstreamUrl: string): Promise<ServerProcess>;
  cleanup?(): Promise<void>;
}

/** The checkout whose tollgate is measured: this one, or `BENCH_TOLLGATE_ROOT` for before/after runs. */
const tollgateRoot = (): string => process.env.BENCH_TOLLGATE_ROOT ?? ROOT;

function tollgateSpec(name: string, redisPrefix: string | undefined, root = tollgateRoot()): ServerSpec {
  const profileDir = process.env.BENCH_CPU_PROF;
  const spec: ServerSpec = {
    name,
    memory: redisPrefix !== undefined,
    headers: redisPrefix ? { authorization: `Bearer ${BENCH_KEY}` } : {},
    adminHeaders: redisPrefix ? { authorization: `Bearer ${ADMIN_KEY}` } : {},
    async start(upstreamUrl) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "tollgate-bench-"));
      const file = join(dir, "config.json");
      writeFileSync(file, JSON.stringify(tollgateConfig(port, upstreamUrl, redisPrefix), null, 2));
      // One directory per server: node writes a profile per thread (main and tsx's loader).
      const nodeFlags = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, name)}`] : [];
      // The memory phase collects garbage through the inspector before reading RSS.
      if (spec.memory) {
        spec.inspectPort = await freePort();
        nodeFlags.push(`--inspect=127.0.0.1:${spec.inspectPort}`);
      }
      if (process.env.BENCH_NODE_FLAGS) nodeFlags.push(...process.env.BENCH_NODE_FLAGS.split(" "));
      // The build, as the container image runs it (tsx would add its own cost to every closure made per request).
      const main = join(root, "dist/main.js");
      const server = await spawnServer(name, `http://127.0.0.1:${port}`, main, ["--config", file], redisPrefix ? "/ready" : "/health", { nodeFlags });
      return {
        ...server,
        stop: async () => {
          await server.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    cleanup: redisPrefix ? () => deleteKeys(redisPrefix) : undefined,
  };
  return spec;
}

/** Starts every server at once and measures them in paired rounds (measure.ts), then stops them. */
async function runPaired(specs: ServerSpec[], upstreamUrl: string): Promise<PairedRound[]> {
  const started: Array<{ spec: ServerSpec; server: ServerProcess }> = [];
  try {
    for (const spec of specs) started.push({ spec, server: await spec.start(upstreamUrl) });
    const targets: TargetUnderTest[] = started.map(({ spec, server }) => ({ name: spec.name, url: server.url, headers: spec.headers, metrics: true, memory: false, adminHeaders: spec.adminHeaders ?? {} }));
    return await measurePaired(targets, plan);
  } finally {
    for (const { spec, server } of started) {
      await server.stop();
      await spec.cleanup?.();
    }
    await resetConnections();
  }
}

function writeReport(info: RunInfo, results: TargetResult[], targetChecks: TargetCheck[]): void {
  const notesPath = join(ROOT, "bench/profile-notes.md");
  const notes = existsSync(notesPath) ? readFileSync(notesPath, "utf8") : "## Profiles\n\n(none yet)\n";
  mkdirSync(join(ROOT, "docs"), { recursive: true });
  writeFileSync(join(ROOT, "docs/benchmarks.md"), renderReport(info, results, targetChecks, notes));
  process.stderr.write("[bench] wrote docs/benchmarks.md\n");
}

async function main(): Promise<void> {
  const from = process.env.BENCH_REPORT_FROM;
  if (from) {
    const saved = JSON.parse(readFileSync(from, "utf8")) as { info: RunInfo; results: TargetResult[]; checks: TargetCheck[] };
    writeReport(saved.info, saved.results, saved.checks);
    return;
  }
  const started = performance.now();
  execFileSync("npm", ["run", "build"], { cwd: tollgateRoot(), stdio: "ignore" });
  const compareRoot = process.env.BENCH_COMPARE_ROOT;
  if (compareRoot) execFileSync("npm", ["run", "build"], { cwd: compareRoot, stdio: "ignore" });
  const cpuAtStart = await cpuSnapshot(REDIS_URL);
  const phases = (process.env.BENCH_PHASES?.split(",").map((s) => s.trim()) as Phase[] | undefined) ?? PHASES;
  const only = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
  const prefix = `tollgate-bench-${process.pid}-${Date.now()}:`;
  const upstreamPort = await freePort();
  const upstream = await spawnServer("upstream", `http://127.0.0.1:${upstreamPort}`, "bench/upstream.ts", ["--port", String(upstreamPort)], "/health");

  const passthrough = (name: string): ServerSpec => ({
    name,
    memory: false,
    headers: {},
    async start(upstreamUrl) {
      const port = await freePort();
      return spawnServer(name, `http://127.0.0.1:${port}`, "bench/passthrough.ts", ["--port", String(port), "--upstream", upstreamUrl], "/health");
    },
  });
  const all: ServerSpec[] = [
    {
      name: "direct",
      memory: false,
      headers: {},
      // For reference only: a shorter run.
      throughputSeconds: 4,
      start: async () => ({ ...upstream, stop: async () => {} }),
    },
    passthrough(BASE),
    tollgateSpec("tollgate-memory", undefined),
    tollgateSpec("tollgate-redis", prefix),
    // The base's throughput again at the end: the ratios use both, so a drift of the machine during the run shows.
    { ...passthrough(BASE_AGAIN), phases: ["throughput"] },
  ];
  const specs = all.filter((s) => !only || s.name === BASE || s.name === BASE_AGAIN || only.includes(s.name));

  const results: TargetResult[] = [];
  let paired: PairedRound[] | undefined;
  try {
    for (const spec of specs) {
      const targetStarted = performance.now();
      const server = await spec.start(upstream.url);
      try {
        const target: TargetUnderTest = { name: spec.name, url: server.url, headers: spec.headers, metrics: spec.name !== "direct", memory: spec.memory, adminHeaders: spec.adminHeaders ?? {}, inspectPort: spec.inspectPort, throughputSeconds: spec.throughputSeconds };
        results.push(await measureTarget(target, plan, spec.phases ? phases.filter((p) => spec.phases!.includes(p)) : phases));
      } finally {
        await server.stop();
        await resetConnections();
        await spec.cleanup?.();
        process.stderr.write(`[bench] ${spec.name}: done in ${((performance.now() - targetStarted) / 1000).toFixed(0)} s\n`);
      }
    }
    // The paired phase: the pass-through and both tollgates running side by side, measured in rounds.
    if (phases.includes("paired")) {
      const pairedSpecs = specs.filter((s) => s.name === BASE || s.name.startsWith("tollgate"));
      // Another checkout's tollgate on Redis beside this one's, in the same rounds: a before/after comparison.
      if (compareRoot) pairedSpecs.push(tollgateSpec("tollgate-redis-compare", `${prefix}compare:`, compareRoot));
      paired = await runPaired(pairedSpecs, upstream.url);
    }
  } finally {
    await upstream.stop();
  }

  const seconds = (performance.now() - started) / 1000;
  const others = otherLoad(cpuAtStart, await cpuSnapshot(REDIS_URL), cpus().length);
  process.stderr.write(`[bench] other processes used ${others.seconds.toFixed(1)} CPU s (${(others.share * 100).toFixed(0)} % of the machine) during the run\n`);
  const info = { ...(await runInfo(seconds)), otherLoad: others, ...(paired ? { paired } : {}) };
  const subject = results.some((r) => r.name === "tollgate-redis") ? "tollgate-redis" : results[results.length - 1]!.name;
  const targetChecks = checks(results, subject, paired);
  if (!only && !process.env.BENCH_PHASES) {
    const idle = await idleRssMb();
    targetChecks.push({ name: "Idle RSS, example config (node dist/main.js)", measured: `${idle.toFixed(1)} MB`, limit: "≤ 160 MB", holds: idle <= 160 });
  }
  const resultsFile = join(tmpdir(), `tollgate-bench-results-${Date.now()}.json`);
  writeFileSync(resultsFile, JSON.stringify({ info, results, checks: targetChecks }, null, 2));
  process.stderr.write(`[bench] results in ${resultsFile}\n`);
  for (const c of targetChecks) process.stderr.write(`[bench] ${c.holds ? "ok  " : "FAIL"} ${c.name}: ${c.measured} (limit ${c.limit})\n`);
  process.stderr.write(`[bench] finished in ${seconds.toFixed(0)} s\n`);
  if (process.env.BENCH_NO_WRITE || only || process.env.BENCH_PHASES) {
    process.stderr.write("[bench] partial or BENCH_NO_WRITE run: docs/benchmarks.md left alone\n");
    return;
  }
  // The run's data beside the report, to render it again after the profile notes change.
  mkdirSync(join(ROOT, "docs"), { recursive: true });
  writeFileSync(join(ROOT, "docs/benchmarks.json"), `${JSON.stringify({ info, results, checks: targetChecks }, null, 2)}\n`);
  writeReport(info, results, targetChecks);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`[bench] failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
