import { apgr, gainCurve, pgrAt, REPORT_SHARES, seededRandom, type Outcome } from "./evaluate.js";
import { createScorer } from "../../src/routing/model.js";
import { FEATURE_COUNT } from "../../src/routing/score-features.js";
import { trainFromMatrix, type TrainOptions } from "./train.js";

/**
 * How well the training recipe does on prompts it did not see: k folds, each scored by a model
 * trained on the others. Folds are either random prompts, or whole groups (MMLU subjects) so the
 * test prompts come from kinds of question absent from training. Each fold also scores the
 * prompt-length baseline on the same prompts, so the two are compared like for like. A fold where
 * the strong model gains nothing overall has no APGR (NaN) and is left out of the means.
 */

export interface FoldResult {
  rows: number;
  apgr: number;
  lengthApgr: number;
  /** PGR at REPORT_SHARES (20, 30, 50 %), the router's and the length baseline's. */
  pgr: number[];
  lengthPgr: number[];
}

export interface CrossValidation {
  folds: FoldResult[];
  meanApgr: number;
  meanLengthApgr: number;
  meanPgr: number[];
  meanLengthPgr: number[];
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** k folds of row indices, dealt at random. */
export function randomFolds(n: number, k: number, seed: number): number[][] {
  const order = shuffled(Array.from({ length: n }, (_, i) => i), seed);
  return Array.from({ length: k }, (_, f) => order.filter((_, i) => i % k === f).sort((a, b) => a - b));
}

/** k folds of whole groups (rows without a group form one group of their own). */
export function groupFolds(groups: ReadonlyArray<string | undefined>, k: number, seed: number): { folds: number[][]; names: string[][] } {
  const names = shuffled([...new Set(groups.map((g) => g ?? ""))].sort(), seed);
  const foldOf = new Map(names.map((g, i) => [g, i % k]));
  const folds: number[][] = Array.from({ length: k }, () => []);
  groups.forEach((g, i) => folds[foldOf.get(g ?? "")!]!.push(i));
  return { folds, names: Array.from({ length: k }, (_, f) => names.filter((_, i) => i % k === f).sort()) };
}

/** NaN for a fold where the strong model gains nothing overall (PGR is undefined there). */
function foldMetric(scores: ArrayLike<number>, outcomes: readonly Outcome[], metric: (curve: ReturnType<typeof gainCurve>) => number): number {
  const curve = gainCurve(scores, outcomes);
  return curve.totalGain > 0 ? metric(curve) : NaN;
}

function rowsOf(x: Float64Array, indices: readonly number[]): Float64Array {
  const out = new Float64Array(indices.length * FEATURE_COUNT);
  indices.forEach((i, r) => out.set(x.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), r * FEATURE_COUNT));
  return out;
}

/**
 * `x`: the feature matrix of every row; `lengths`: each row's prompt length (the baseline);
 * `trainable`: rows a model may learn from (the others are only tested on).
 */
export function crossValidate(
  x: Float64Array,
  outcomes: readonly Outcome[],
  lengths: readonly number[],
  folds: readonly number[][],
  options: TrainOptions = {},
  trainable: (row: number) => boolean = () => true,
): CrossValidation {
  const results: FoldResult[] = folds.map((test) => {
    const inTest = new Set(test);
    const train = outcomes.map((_, i) => i).filter((i) => !inTest.has(i) && trainable(i));
    const model = trainFromMatrix(rowsOf(x, train), train.map((i) => outcomes[i]!), options);
    const scorer = createScorer(model);
    const features = rowsOf(x, test);
    const scores = test.map((_, r) => scorer.scoreFeatures(features.subarray(r * FEATURE_COUNT, (r + 1) * FEATURE_COUNT)));
    const tested = test.map((i) => outcomes[i]!);
    const lengthScores = test.map((i) => lengths[i]!);
    return {
      rows: test.length,
      apgr: foldMetric(scores, tested, apgr),
      lengthApgr: foldMetric(lengthScores, tested, apgr),
      pgr: REPORT_SHARES.map((s) => foldMetric(scores, tested, (c) => pgrAt(c, s))),
      lengthPgr: REPORT_SHARES.map((s) => foldMetric(lengthScores, tested, (c) => pgrAt(c, s))),
    };
  });
  const mean = (f: (r: FoldResult) => number) => {
    const defined = results.map(f).filter(Number.isFinite);
    return defined.reduce((s, v) => s + v, 0) / defined.length;
  };
  return {
    folds: results,
    meanApgr: mean((r) => r.apgr),
    meanLengthApgr: mean((r) => r.lengthApgr),
    meanPgr: REPORT_SHARES.map((_, k) => mean((r) => r.pgr[k]!)),
    meanLengthPgr: REPORT_SHARES.map((_, k) => mean((r) => r.lengthPgr[k]!)),
  };
}
