import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfigFile } from "../../src/config/load.js";
import { type Config } from "../../src/config/schema.js";
import { configSchema } from "../../src/config/resolve.js";
import { classifyTier, compileRules, type RequestFeatures } from "../../src/routing/classify.js";
import { promptChars, promptFeatures, readDataset, type LabelledPrompt } from "./dataset.js";
import { permutationBand, reportFor, type Outcome, type PermutationBand, type RouterReport } from "./evaluate.js";
import { scoringInput } from "../../src/routing/features.js";
import { createScorer, loadRouterModel } from "../../src/routing/model.js";
import { DEFAULT_THRESHOLDS } from "../../src/routing/scored.js";
import { BUCKETS, bucketOf, thresholdsFor, tierForScore, type Thresholds } from "../../src/routing/share.js";
import { TIER_RANK } from "../../src/routing/tiers.js";

const USAGE = `usage: npm run eval:routing -- --data FILE.jsonl[.gz] [--config FILE] [--model router.json]
    [--group NAME]... [--exclude-group NAME]... [--group-field subject] [--rounds 1000] [--seed 1] [--json]
Reads {prompt, weak, strong} lines (booleans, or numbers such as judge scores) and prints PGR at
20/30/50 % and APGR of the configured router beside random and the prompt-length baseline, with a
permutation band: the APGR range a router with the same scores reaches by chance (95 %).
The configuration is --config, else TOLLGATE_CONFIG, else ./config.yaml when present, else the defaults.`;

interface Row extends RouterReport {
  band?: PermutationBand;
}

function loadConfig(path: string | undefined): { config: Config; source: string } {
  const file = path ?? process.env.TOLLGATE_CONFIG ?? (existsSync("config.yaml") ? "config.yaml" : undefined);
  if (!file) return { config: configSchema.parse({ upstreams: {}, models: {} }), source: "defaults" };
  return { config: loadConfigFile(file).config, source: file };
}

/** Tiers as ranks, so "ties within a tier" are taken in random order by the metric. */
const tierRank = (tier: keyof typeof TIER_RANK) => TIER_RANK[tier];

/**
 * Time per routing decision as the proxy makes it (the request's features, the score, the rules,
 * the tier), after a warm-up pass, averaged over every prompt; and the score alone.
 */
function timeDecisions(rows: LabelledPrompt[], score: (f: RequestFeatures) => number, decide: (f: RequestFeatures, score: number) => unknown) {
  const run = () => {
    for (const row of rows) {
      const f = promptFeatures(row);
      decide(f, score(f));
    }
  };
  run();
  const started = performance.now();
  run();
  const decideMicros = ((performance.now() - started) * 1000) / rows.length;
  const features = rows.map(promptFeatures);
  const scoreStarted = performance.now();
  for (const f of features) score(f);
  return { decideMicros, scoreMicros: ((performance.now() - scoreStarted) * 1000) / rows.length };
}

function main(): number {
  const { values } = parseArgs({
    options: {
      data: { type: "string" },
      config: { type: "string" },
      model: { type: "string" },
      group: { type: "string", multiple: true, default: [] },
      "exclude-group": { type: "string", multiple: true, default: [] },
      "group-field": { type: "string", default: "subject" },
      rounds: { type: "string", default: "1000" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.data) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const { config, source } = loadConfig(values.config);
  const routing = config.routing;
  const modelFile = values.model ?? routing.model_file;
  const scorer = createScorer(loadRouterModel(modelFile));
  const rules = compileRules(routing.rules);
  const only = new Set(values.group);
  const excluded = new Set(values["exclude-group"]);
  const rows: LabelledPrompt[] = readDataset(values.data, values["group-field"]).filter(
    (r) => (only.size === 0 || only.has(r.group ?? "")) && !excluded.has(r.group ?? ""),
  );
  if (rows.length === 0) throw new Error("no prompts to evaluate");
  const outcomes: Outcome[] = rows.map((r) => ({ weak: r.weak, strong: r.strong }));

  const features = rows.map(promptFeatures);
  const scores = features.map((f) => scorer.score(scoringInput(f)));

  // A target share's thresholds settle at the quantiles of the traffic's own scores.
  let thresholds: Thresholds = routing.thresholds ?? DEFAULT_THRESHOLDS;
  if (routing.target_share) {
    const histogram = new Float64Array(BUCKETS);
    for (const s of scores) histogram[bucketOf(s)] = histogram[bucketOf(s)]! + 1;
    thresholds = thresholdsFor(histogram, routing.target_share);
  }
  const decide = (f: (typeof features)[number], score: number) =>
    classifyTier(f, rules, routing, routing.scored ? { score, tier: tierForScore(score, thresholds) } : undefined).tier;
  const tiers = features.map((f, i) => decide(f, scores[i]!));
  const { decideMicros, scoreMicros } = timeDecisions(rows, (f) => scorer.score(scoringInput(f)), decide);
  const heuristics = features.map((f) => classifyTier(f, [], { ...routing, heuristics: true }).tier);

  const rounds = Number(values.rounds);
  const seed = Number(values.seed);
  const withBand = (name: string, ranking: number[]): Row => ({ ...reportFor(name, ranking, outcomes), band: permutationBand(ranking, outcomes, rounds, seed) });
  const report: Row[] = [
    withBand(`routing_score (${modelFile || "shipped model"})`, scores),
    withBand("configured tiers (ties at random)", tiers.map(tierRank)),
    withBand("keyword heuristics", heuristics.map(tierRank)),
    withBand("prompt length (characters)", rows.map(promptChars)),
    { name: "random", pgr: { "20%": 0.2, "30%": 0.3, "50%": 0.5 }, apgr: 0.5 },
  ];
  const share = (tier: string) => tiers.filter((t) => t === tier).length / rows.length;
  const tierShare = { economy: share("economy"), standard: share("standard"), premium: share("premium") };
  const weak = outcomes.reduce((s, o) => s + o.weak, 0) / rows.length;
  const strong = outcomes.reduce((s, o) => s + o.strong, 0) / rows.length;

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ data: values.data, prompts: rows.length, config: source, weak, strong, thresholds, tier_share: tierShare, routers: report, micros_per_decision: decideMicros, micros_per_score: scoreMicros }, null, 2)}\n`);
    return 0;
  }
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out(`${rows.length} prompts from ${values.data}; weak quality ${weak.toFixed(3)}, strong ${strong.toFixed(3)}; configuration: ${source}`);
  out();
  out(`${"router".padEnd(48)} PGR@20%  PGR@30%  PGR@50%   APGR   chance band (95 %, ${rounds} permutations)`);
  for (const r of report) {
    const cells = ["20%", "30%", "50%"].map((s) => r.pgr[s]!.toFixed(3).padStart(7)).join("  ");
    const band = r.band ? `  [${r.band.low.toFixed(3)}, ${r.band.high.toFixed(3)}] ${r.apgr > r.band.high ? "beats random" : r.apgr < r.band.low ? "worse than random" : "not distinguishable from random"}` : "";
    out(`${r.name.padEnd(48)} ${cells}  ${r.apgr.toFixed(3).padStart(6)}${band}`);
  }
  out();
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : "never");
  out(`tiers: premium at score >= ${fmt(thresholds.premium)}, standard >= ${fmt(thresholds.standard)}${routing.target_share ? " (the target share's quantiles of these scores)" : ""}${routing.scored ? "" : " (routing.scored is off)"}`);
  out(`share per tier: economy ${(tierShare.economy * 100).toFixed(1)} %, standard ${(tierShare.standard * 100).toFixed(1)} %, premium ${(tierShare.premium * 100).toFixed(1)} %`);
  out(`time per routing decision: ${decideMicros.toFixed(1)} µs (the score alone: ${scoreMicros.toFixed(1)} µs)`);
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`eval:routing: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
