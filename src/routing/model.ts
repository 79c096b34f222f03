import { readFileSync } from "node:fs";
import { z } from "zod";
import shipped from "./router.json" with { type: "json" };
import { FEATURE_COUNT, FEATURE_NAMES, scoreFeatures, type ScoringInput } from "./score-features.js";

/**
 * The scored router's model: a logistic regression over the features of score-features.ts, kept as
 * data (router.json beside this file, or `routing.model_file`). The score is the model's estimate
 * of how likely the stronger tier is needed; see train.ts for what it was fitted to.
 */

export const MODEL_FORMAT = "tollgate-router/1";

export const routerModelSchema = z.object({
  format: z.literal(MODEL_FORMAT),
  /** What the label was: "gain" = (strong - weak) scaled to [0, 1]. */
  label: z.string(),
  features: z.array(z.string()),
  /** Standardisation: each feature is (x - mean) / scale before its weight applies. */
  mean: z.array(z.number()),
  scale: z.array(z.number().positive()),
  weights: z.array(z.number()),
  bias: z.number(),
  /** score = sigmoid(slope * (bias + weights . x) + intercept): the probability that the strong model is needed. */
  calibration: z.object({ slope: z.number().positive(), intercept: z.number() }),
  /** Scores of the training prompts at 0, 1, ..., 100 %: the starting point of target-share thresholds. */
  score_quantiles: z.array(z.number().min(0).max(1)).length(101),
  /** Free-form notes: data, rows, cross-validated APGR. */
  trained: z.record(z.string(), z.unknown()).default({}),
});

export type RouterModel = z.infer<typeof routerModelSchema>;

/** A model ready to score: weights folded with the standardisation, features in this build's order. */
export interface Scorer {
  score(input: ScoringInput): number;
  /** The score of features already extracted (FEATURE_COUNT values, in FEATURE_NAMES order). */
  scoreFeatures(x: ArrayLike<number>): number;
  /** Score quantiles of the training data (101 values). */
  readonly quantiles: readonly number[];
}

export function parseRouterModel(value: unknown, source: string): RouterModel {
  const parsed = routerModelSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${source}: not a router model: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const model = parsed.data;
  const d = model.features.length;
  if (model.mean.length !== d || model.scale.length !== d || model.weights.length !== d) {
    throw new Error(`${source}: features, mean, scale and weights must have the same length`);
  }
  const unknown = model.features.filter((f) => !(FEATURE_NAMES as readonly string[]).includes(f));
  if (unknown.length > 0) throw new Error(`${source}: unknown features ${unknown.join(", ")} (this build knows ${FEATURE_NAMES.join(", ")})`);
  return model;
}

/** `path` empty: the model shipped with tollgate. */
export function loadRouterModel(path: string): RouterModel {
  if (path === "") return parseRouterModel(shipped, "src/routing/router.json");
  return parseRouterModel(JSON.parse(readFileSync(path, "utf8")), path);
}

export function createScorer(model: RouterModel): Scorer {
  // Fold (x - mean) / scale into the weights once, in this build's feature order.
  const weights = new Float64Array(FEATURE_COUNT);
  let bias = model.bias;
  model.features.forEach((name, i) => {
    const w = model.weights[i]! / model.scale[i]!;
    weights[FEATURE_NAMES.indexOf(name as (typeof FEATURE_NAMES)[number])] = w;
    bias -= w * model.mean[i]!;
  });
  const { slope, intercept } = model.calibration;
  const buffer = new Float64Array(FEATURE_COUNT);
  const fromFeatures = (x: ArrayLike<number>) => {
    let z = bias;
    for (let i = 0; i < FEATURE_COUNT; i++) z += weights[i]! * x[i]!;
    return 1 / (1 + Math.exp(-(slope * z + intercept)));
  };
  return {
    quantiles: model.score_quantiles,
    scoreFeatures: fromFeatures,
    score: (input) => fromFeatures(scoreFeatures(input, buffer)),
  };
}
