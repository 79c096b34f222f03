import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { crossValidate, groupFolds, randomFolds } from "./cross-validate.js";
import { apgr, gainCurve, seededRandom } from "./evaluate.js";
import { createScorer, loadRouterModel } from "../../src/routing/model.js";
import { FEATURE_NAMES, type ScoringInput } from "../../src/routing/score-features.js";
import { featureMatrix, fitCalibration, gainLabels, trainRouter, type TrainingRow } from "./train.js";

const ROOT = join(import.meta.dirname, "../..");

function input(text: string): ScoringInput {
  return { text, systemChars: 0, historyChars: 0, messageCount: 1, hasTools: false, hasImages: false, jsonOutput: false };
}

/**
 * A made-up task: questions with several labelled parts need the strong model (the weak one
 * fails them three times in four), one-liners do not, and chance adds noise both ways.
 */
function synthetic(n: number, seed: number): TrainingRow[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const parts = Math.floor(random() * 4);
    // Padding of random length, so the prompt's length alone says little.
    const padding = " and so on".repeat(Math.floor(random() * 12));
    const text = parts === 0 ? `What is item ${i}?${padding}` : `${Array.from({ length: parts }, (_, p) => `Part ${p + 1}: settle case ${i}-${p}.`).join(" ")}${padding}`;
    const hard = parts >= 2;
    const strong = random() < 0.9 ? 1 : 0;
    const weak = hard ? (random() < 0.25 ? 1 : 0) : random() < 0.85 ? 1 : 0;
    return { input: input(text), weak, strong };
  });
}

describe("trainRouter", () => {
  const rows = synthetic(600, 3);
  const model = trainRouter(rows);

  it("is deterministic: the same data gives the same file", () => {
    expect(JSON.stringify(trainRouter(rows))).toBe(JSON.stringify(model));
  });

  it("learns the signal, with no negative weight", () => {
    expect(model.weights.every((w) => w >= 0)).toBe(true);
    expect(model.weights[FEATURE_NAMES.indexOf("parts_log")]).toBeGreaterThan(0);
    const scorer = createScorer(model);
    const held = synthetic(400, 4);
    expect(apgr(gainCurve(held.map((r) => scorer.score(r.input)), held))).toBeGreaterThan(0.65);
  });

  it("gives features that never vary weight 0", () => {
    for (const name of ["tools", "images", "json_output", "history_log", "system_log", "messages_log"]) expect(model.weights[FEATURE_NAMES.indexOf(name)]).toBe(0);
  });

  it("calibrates the score to the rate at which the strong model is needed", () => {
    const scorer = createScorer(model);
    const needed = rows.filter((r) => r.strong > r.weak).length / rows.length;
    const mean = rows.reduce((s, r) => s + scorer.score(r.input), 0) / rows.length;
    // A logistic fit with an intercept matches the mean exactly on its own data.
    expect(mean).toBeCloseTo(needed, 6);
    expect(model.score_quantiles[0]).toBeLessThanOrEqual(model.score_quantiles[50]!);
  });
});

describe("the training pieces", () => {
  it("scales the gain of numeric qualities by their range", () => {
    expect(Array.from(gainLabels([{ weak: 0, strong: 1 }, { weak: 1, strong: 0 }, { weak: 1, strong: 1 }]))).toEqual([1, 0, 0.5]);
    expect(Array.from(gainLabels([{ weak: 2, strong: 10 }, { weak: 6, strong: 4 }]))).toEqual([1, 0.375]);
  });

  it("fits a calibration that keeps the order, or none when every prompt says the same", () => {
    const linear = Float64Array.from([-2, -1, 0, 1, 2, 3]);
    const fit = fitCalibration(linear, [false, false, true, false, true, true]);
    expect(fit.slope).toBeGreaterThan(0);
    expect(fitCalibration(linear, Array(6).fill(false))).toEqual({ slope: 1, intercept: 0 });
    expect(fitCalibration(linear, Array(6).fill(true))).toEqual({ slope: 1, intercept: 0 });
  });

  it("holds out whole groups, and scores the length baseline on the same prompts", () => {
    const groups = ["a", "a", "b", "b", "c", "c", undefined];
    const { folds, names } = groupFolds(groups, 2, 1);
    expect(folds.flat().sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const fold of folds) for (const i of fold) expect(fold.filter((j) => groups[j] === groups[i])).toHaveLength(groups.filter((g) => g === groups[i]).length);
    expect(names.flat().sort()).toEqual(["", "a", "b", "c"]);
    expect(randomFolds(10, 3, 1).flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const rows = synthetic(400, 5);
    const x = featureMatrix(rows);
    const cv = crossValidate(x, rows, rows.map((r) => r.input.text.length), randomFolds(rows.length, 4, 1));
    expect(cv.folds).toHaveLength(4);
    expect(cv.meanApgr).toBeGreaterThan(0.65);
    expect(cv.meanApgr).toBeGreaterThan(cv.meanLengthApgr);
  });
});

describe("npm run train:routing", () => {
  it("trains on a file, writes a model routing.model_file can load, and cross-validates", () => {
    const out = join(mkdtempSync(join(tmpdir(), "tollgate-train-")), "router.json");
    const data = join(ROOT, "test/fixtures/routing-tiny.jsonl");
    const run = spawnSync(process.execPath, ["--import", "tsx", "tools/routing/train-cli.ts", "--data", data, "--out", out, "--cv", "2", "--cv-groups", "2"], { cwd: ROOT, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("trained on 10 of 10 prompts");
    expect(run.stdout).toContain("2-fold cross-validation by subject");
    const model = loadRouterModel(out);
    expect(model.trained).toMatchObject({ data: "routing-tiny.jsonl", rows: 10 });
    expect(model.trained.data_sha256).toMatch(/^[0-9a-f]{64}$/);
    // Deterministic: a second run writes the same bytes.
    const again = join(mkdtempSync(join(tmpdir(), "tollgate-train-")), "router.json");
    spawnSync(process.execPath, ["--import", "tsx", "tools/routing/train-cli.ts", "--data", data, "--out", again, "--cv", "2", "--cv-groups", "2"], { cwd: ROOT, encoding: "utf8" });
    expect(readFileSync(again, "utf8")).toBe(readFileSync(out, "utf8"));
  });
});
