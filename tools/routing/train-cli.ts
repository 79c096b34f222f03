import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { crossValidate, groupFolds, randomFolds, type CrossValidation } from "./cross-validate.js";
import { promptFeatures, promptChars, readDataset } from "./dataset.js";
import { scoringInput } from "../../src/routing/features.js";
import { FEATURE_NAMES } from "../../src/routing/score-features.js";
import { DEFAULT_L2, DEFAULT_LENGTH_WEIGHT, featureMatrix, trainFromMatrix } from "./train.js";

const USAGE = `usage: npm run train:routing -- --data FILE.jsonl[.gz] [--out router.json]
    [--exclude-group NAME]... [--group-field subject] [--l2 ${DEFAULT_L2}] [--length-weight ${DEFAULT_LENGTH_WEIGHT}]
    [--cv K] [--cv-groups K] [--seed 1]
Trains the scored router on {prompt, weak, strong} lines and writes the model (default ./router.json;
point routing.model_file at it). --exclude-group leaves those groups out of training (not out of
the cross-validation's test folds); --cv K reports K-fold cross-validated APGR, --cv-groups K the same
with whole groups held out (train on some subjects, test on the others). --length-weight is the share
of the prompt's length beside what the fit learns (0: the fit alone).`;

function printCv(title: string, cv: CrossValidation, names?: string[][]): void {
  process.stdout.write(`\n${title}\n  fold   rows   APGR   length baseline\n`);
  cv.folds.forEach((f, i) => {
    const groups = names ? `   ${names[i]!.join(", ")}` : "";
    const show = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "  n/a");
    process.stdout.write(`  ${String(i + 1).padStart(4)} ${String(f.rows).padStart(6)}  ${show(f.apgr)}  ${show(f.lengthApgr)}${groups}\n`);
  });
  process.stdout.write(`  mean          ${cv.meanApgr.toFixed(3)}  ${cv.meanLengthApgr.toFixed(3)}\n`);
  const pgr = (values: number[]) => values.map((v) => v.toFixed(3)).join(" / ");
  process.stdout.write(`  mean PGR at 20 / 30 / 50 %: ${pgr(cv.meanPgr)} (length baseline ${pgr(cv.meanLengthPgr)})\n`);
}

function main(): number {
  const { values } = parseArgs({
    options: {
      data: { type: "string" },
      out: { type: "string", default: "router.json" },
      "exclude-group": { type: "string", multiple: true, default: [] },
      "group-field": { type: "string", default: "subject" },
      l2: { type: "string", default: String(DEFAULT_L2) },
      "length-weight": { type: "string", default: String(DEFAULT_LENGTH_WEIGHT) },
      cv: { type: "string" },
      "cv-groups": { type: "string" },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.data) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const started = performance.now();
  const rows = readDataset(values.data, values["group-field"]);
  const excluded = new Set(values["exclude-group"]);
  const l2 = Number(values.l2);
  const lengthWeight = Number(values["length-weight"]);
  const seed = Number(values.seed);
  const outcomes = rows.map((r) => ({ weak: r.weak, strong: r.strong }));
  const x = featureMatrix(rows.map((r) => ({ input: scoringInput(promptFeatures(r)) })));
  const trainable = (i: number) => !excluded.has(rows[i]!.group ?? "");
  const trainRows = rows.map((_, i) => i).filter(trainable);

  const cvResults: Record<string, unknown> = {};
  const lengths = rows.map(promptChars);
  if (values.cv) {
    const k = Number(values.cv);
    const cv = crossValidate(x, outcomes, lengths, randomFolds(rows.length, k, seed), { l2, lengthWeight }, trainable);
    printCv(`${k}-fold cross-validation (random prompts, seed ${seed})`, cv);
    cvResults[`cv_${k}_fold_apgr`] = Number(cv.meanApgr.toFixed(4));
    cvResults[`cv_${k}_fold_length_apgr`] = Number(cv.meanLengthApgr.toFixed(4));
  }
  if (values["cv-groups"]) {
    const k = Number(values["cv-groups"]);
    const { folds, names } = groupFolds(rows.map((r) => r.group), k, seed);
    const cv = crossValidate(x, outcomes, lengths, folds, { l2, lengthWeight }, trainable);
    printCv(`${k}-fold cross-validation by ${values["group-field"]} (whole groups held out, seed ${seed})`, cv, names);
    cvResults[`cv_${k}_groups_apgr`] = Number(cv.meanApgr.toFixed(4));
    cvResults[`cv_${k}_groups_length_apgr`] = Number(cv.meanLengthApgr.toFixed(4));
  }

  const trainX = new Float64Array(trainRows.length * FEATURE_NAMES.length);
  trainRows.forEach((i, r) => trainX.set(x.subarray(i * FEATURE_NAMES.length, (i + 1) * FEATURE_NAMES.length), r * FEATURE_NAMES.length));
  const model = trainFromMatrix(trainX, trainRows.map((i) => outcomes[i]!), {
    l2,
    lengthWeight,
    trained: {
      data: basename(values.data),
      data_sha256: createHash("sha256").update(readFileSync(values.data)).digest("hex"),
      ...(excluded.size > 0 ? { excluded_groups: [...excluded].sort() } : {}),
      ...cvResults,
    },
  });
  writeFileSync(values.out, `${JSON.stringify(model, null, 2)}\n`);

  process.stdout.write(`\ntrained on ${trainRows.length} of ${rows.length} prompts in ${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${values.out}\n`);
  process.stdout.write("weights (standardised features; 0: left out, as a negative weight would have been):\n");
  model.features.forEach((name, i) => {
    if (model.weights[i] !== 0) process.stdout.write(`  ${name.padEnd(22)} ${model.weights[i]!.toFixed(4)}\n`);
  });
  const q = model.score_quantiles;
  process.stdout.write(`score quantiles 10/20/50/80/90 %: ${[10, 20, 50, 80, 90].map((p) => q[p]!.toFixed(3)).join(" / ")}\n`);
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`train:routing: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
