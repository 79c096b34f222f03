import type { Outcome } from "./evaluate.js";
import { MODEL_FORMAT, type RouterModel } from "../../src/routing/model.js";
import { FEATURE_COUNT, FEATURE_NAMES, scoreFeatures, type ScoringInput } from "../../src/routing/score-features.js";

/**
 * Fits the scored router: L2-regularised logistic regression with non-negative weights, by Newton's
 * method (a handful of steps over a FEATURE_COUNT-square system), so the same data always gives
 * the same weights.
 *
 * The label is the gain of the strong model over the weak one, scaled to [0, 1]:
 * y = ((strong - weak) / range + 1) / 2, with `range` the spread of the qualities (1 for
 * correctness). The fitted score is then a monotone map of the expected gain, which is exactly the
 * order PGR rewards: a prompt the weak model fails and the strong one solves pulls its score up, one
 * the weak model solves and the strong one fails pulls it down, and one both solve (or both fail)
 * pulls it to the middle. The prompt's length is then added beside the fit (`blendLength`), and a
 * one-variable fit turns the order into the probability that the strong model is needed
 * (`fitCalibration`), which is what `routing_score` reports. Every step is linear in the features,
 * so the file keeps one weight per feature.
 */

export interface TrainingRow extends Outcome {
  input: ScoringInput;
}

export interface TrainOptions {
  /** L2 penalty on standardised weights, per row. */
  l2?: number;
  iterations?: number;
  /** Weight of the prompt's standardised log length beside the fitted part (see `blendLength`). */
  lengthWeight?: number;
  /** Notes stored with the model. */
  trained?: Record<string, unknown>;
}

export const DEFAULT_L2 = 1e-3;
export const DEFAULT_LENGTH_WEIGHT = 1;

/** Feature matrix of the rows, row-major. */
export function featureMatrix(rows: readonly { input: ScoringInput }[]): Float64Array {
  const x = new Float64Array(rows.length * FEATURE_COUNT);
  const buffer = new Float64Array(FEATURE_COUNT);
  rows.forEach((row, r) => x.set(scoreFeatures(row.input, buffer), r * FEATURE_COUNT));
  return x;
}

export function gainLabels(rows: readonly Outcome[]): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r.weak, r.strong);
    hi = Math.max(hi, r.weak, r.strong);
  }
  const range = hi > lo ? hi - lo : 1;
  return Float64Array.from(rows, (r) => ((r.strong - r.weak) / range + 1) / 2);
}

/** Solves a * x = b for a symmetric positive definite `a` (d x d, row-major) by Cholesky. */
function solve(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j]!;
      for (let k = 0; k < j; k++) s -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j * d + j]!;
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * d + k]! * y[k]!;
    y[i] = s / l[i * d + i]!;
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < d; k++) s -= l[k * d + i]! * x[k]!;
    x[i] = s / l[i * d + i]!;
  }
  return x;
}

/**
 * Logistic regression on the standardised features in `active` (the others keep weight 0), with
 * soft labels `y` in [0, 1]. Returns weights for the standardised features and the bias; the
 * bias is not penalised.
 */
export function fitLogistic(x: Float64Array, y: Float64Array, mean: Float64Array, scale: Float64Array, l2: number, iterations: number, active: readonly number[]): { weights: Float64Array; bias: number } {
  const n = y.length;
  const d = active.length + 1; // last column: bias
  const beta = new Float64Array(d);
  const z = new Float64Array(d);
  for (let it = 0; it < iterations; it++) {
    const grad = new Float64Array(d);
    const hess = new Float64Array(d * d);
    for (let r = 0; r < n; r++) {
      active.forEach((j, k) => (z[k] = (x[r * FEATURE_COUNT + j]! - mean[j]!) / scale[j]!));
      z[d - 1] = 1;
      let t = 0;
      for (let k = 0; k < d; k++) t += beta[k]! * z[k]!;
      const p = 1 / (1 + Math.exp(-t));
      const w = Math.max(p * (1 - p), 1e-9);
      const e = p - y[r]!;
      for (let i = 0; i < d; i++) {
        grad[i] = grad[i]! + e * z[i]!;
        const wi = w * z[i]!;
        for (let k = 0; k <= i; k++) hess[i * d + k] = hess[i * d + k]! + wi * z[k]!;
      }
    }
    for (let i = 0; i < d; i++) {
      for (let k = 0; k < i; k++) hess[k * d + i] = hess[i * d + k]!;
      if (i < d - 1) {
        grad[i] = grad[i]! + n * l2 * beta[i]!;
        hess[i * d + i] = hess[i * d + i]! + n * l2;
      }
    }
    const step = solve(hess, grad, d);
    let moved = 0;
    for (let i = 0; i < d; i++) {
      beta[i] = beta[i]! - step[i]!;
      moved = Math.max(moved, Math.abs(step[i]!));
    }
    if (moved < 1e-8) break;
  }
  const weights = new Float64Array(FEATURE_COUNT);
  active.forEach((j, k) => (weights[j] = beta[k]!));
  return { weights, bias: beta[d - 1]! };
}

/**
 * Every feature counts something that makes a prompt harder, so no weight may be negative: a
 * negative one would be a quirk of the training set (in MMLU, say, math subjects where both models
 * fail), and would make a longer or more constrained prompt look easier elsewhere. The most
 * negative feature leaves the model and the rest is fitted again, until none is negative.
 */
export function fitNonNegative(x: Float64Array, y: Float64Array, mean: Float64Array, scale: Float64Array, l2: number, iterations: number, varying: readonly boolean[]) {
  let active = FEATURE_NAMES.map((_, j) => j).filter((j) => varying[j]);
  for (;;) {
    const fit = fitLogistic(x, y, mean, scale, l2, iterations, active);
    let worst = -1;
    for (const j of active) if (fit.weights[j]! < 0 && (worst < 0 || fit.weights[j]! < fit.weights[worst]!)) worst = j;
    if (worst < 0) return fit;
    active = active.filter((j) => j !== worst);
  }
}

function standardisation(x: Float64Array, n: number): { mean: Float64Array; scale: Float64Array; varying: boolean[] } {
  const mean = new Float64Array(FEATURE_COUNT);
  const scale = new Float64Array(FEATURE_COUNT);
  for (let r = 0; r < n; r++) for (let j = 0; j < FEATURE_COUNT; j++) mean[j] = mean[j]! + x[r * FEATURE_COUNT + j]! / n;
  for (let r = 0; r < n; r++) for (let j = 0; j < FEATURE_COUNT; j++) scale[j] = scale[j]! + (x[r * FEATURE_COUNT + j]! - mean[j]!) ** 2 / n;
  // A feature that never varies in the data (no conversations in a set of single prompts) keeps weight 0.
  const varying = Array.from(scale, (v) => v > 1e-12);
  for (let j = 0; j < FEATURE_COUNT; j++) scale[j] = Math.sqrt(scale[j]!) || 1;
  return { mean, scale, varying };
}

/** The 0, 1, ..., 100 % quantiles of `scores`. */
export function percentiles(scores: ArrayLike<number>): number[] {
  const sorted = Float64Array.from(scores).sort();
  if (sorted.length === 0) return Array.from({ length: 101 }, () => 0.5);
  return Array.from({ length: 101 }, (_, q) => sorted[Math.min(sorted.length - 1, Math.round((q / 100) * (sorted.length - 1)))]!);
}

/**
 * The prompt's length is the one signal known to carry over between data sets (RouteLLM's MMLU and a
 * held-out math set alike), while what the fit learns beyond it may be a quirk of its data. So the
 * fitted part is rescaled to unit spread over the training prompts and the standardised log length
 * (`chars_log`) is added beside it with `lengthWeight`: a router that keeps the length baseline
 * where its other features do not apply. On MMLU, holding whole subjects out, weight 1 lifts the
 * APGR from below the length baseline to it or above, and costs 0.003 within MMLU (README, Routing).
 */
export function blendLength(fitted: { weights: Float64Array; bias: number }, linear: Float64Array, lengthWeight: number): { weights: Float64Array; bias: number } {
  const n = linear.length;
  let mu = 0;
  for (const t of linear) mu += t / n;
  let sd = 0;
  for (const t of linear) sd += (t - mu) ** 2 / n;
  sd = Math.sqrt(sd);
  // A fit that learned nothing (every weight 0) leaves the length alone.
  const unit = sd > 1e-12 ? sd : 1;
  const weights = fitted.weights.map((w) => w / unit);
  const length = FEATURE_NAMES.indexOf("chars_log");
  weights[length] = weights[length]! + lengthWeight;
  return { weights, bias: (fitted.bias - mu) / unit };
}

/**
 * Maps the gain model's linear output to the probability that the strong model is needed (it
 * answers better than the weak one): a one-variable logistic fit, so the score reads as a
 * probability while keeping the gain model's order. Falls back to the identity when the data
 * has no such prompt, or all are.
 */
export function fitCalibration(linear: Float64Array, needed: readonly boolean[]): { slope: number; intercept: number } {
  const n = linear.length;
  const positives = needed.filter(Boolean).length;
  if (positives === 0 || positives === n) return { slope: 1, intercept: 0 };
  let a = 1;
  let b = Math.log(positives / (n - positives));
  for (let it = 0; it < 50; it++) {
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    for (let i = 0; i < n; i++) {
      const t = linear[i]!;
      const p = 1 / (1 + Math.exp(-(a * t + b)));
      const e = p - (needed[i] ? 1 : 0);
      const w = Math.max(p * (1 - p), 1e-12);
      ga += e * t;
      gb += e;
      haa += w * t * t;
      hab += w * t;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 1e-12)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-10) break;
  }
  // A calibration may rescale the gain model's order, never reverse it.
  return a > 0 && Number.isFinite(a) && Number.isFinite(b) ? { slope: a, intercept: b } : { slope: 1, intercept: 0 };
}

/** Trains on feature rows already extracted (`featureMatrix`), so cross-validation extracts once. */
export function trainFromMatrix(x: Float64Array, outcomes: readonly Outcome[], options: TrainOptions = {}): RouterModel {
  const n = outcomes.length;
  if (n === 0) throw new Error("no training rows");
  const { mean, scale, varying } = standardisation(x, n);
  const l2 = options.l2 ?? DEFAULT_L2;
  const lengthWeight = options.lengthWeight ?? DEFAULT_LENGTH_WEIGHT;
  const fitted = fitNonNegative(x, gainLabels(outcomes), mean, scale, l2, options.iterations ?? 25, varying);
  const linearOf = (w: Float64Array, b: number) => {
    const out = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let t = b;
      for (let j = 0; j < FEATURE_COUNT; j++) t += (w[j]! * (x[r * FEATURE_COUNT + j]! - mean[j]!)) / scale[j]!;
      out[r] = t;
    }
    return out;
  };
  const { weights, bias } = blendLength(fitted, linearOf(fitted.weights, fitted.bias), lengthWeight);
  const linear = linearOf(weights, bias);
  const calibration = fitCalibration(linear, outcomes.map((o) => o.strong > o.weak));
  const scores = linear.map((t) => 1 / (1 + Math.exp(-(calibration.slope * t + calibration.intercept))));
  const round = (v: number) => Number(v.toPrecision(8));
  return {
    format: MODEL_FORMAT,
    label: "gain",
    features: [...FEATURE_NAMES],
    mean: Array.from(mean, round),
    scale: Array.from(scale, round),
    weights: Array.from(weights, round),
    bias: round(bias),
    calibration: { slope: round(calibration.slope), intercept: round(calibration.intercept) },
    score_quantiles: percentiles(scores).map((v) => Number(v.toFixed(6))),
    trained: { rows: n, l2, length_weight: lengthWeight, ...options.trained },
  };
}

export function trainRouter(rows: readonly TrainingRow[], options: TrainOptions = {}): RouterModel {
  return trainFromMatrix(featureMatrix(rows), rows, options);
}
