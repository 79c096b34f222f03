import { describe, expect, it } from "vitest";
import { createScorer, loadRouterModel, MODEL_FORMAT, parseRouterModel, type RouterModel } from "./model.js";
import { FEATURE_COUNT, FEATURE_NAMES, type ScoringInput } from "./score-features.js";

const shipped = loadRouterModel("");

function input(text: string, extra: Partial<ScoringInput> = {}): ScoringInput {
  return { text, systemChars: 0, historyChars: 0, messageCount: 1, hasTools: false, hasImages: false, jsonOutput: false, ...extra };
}

/** A model whose only weight is on one feature, with no standardisation. */
function oneWeight(feature: string, weight: number, features = [...FEATURE_NAMES]): RouterModel {
  return {
    format: MODEL_FORMAT,
    label: "gain",
    features,
    mean: features.map(() => 0),
    scale: features.map(() => 1),
    weights: features.map((f) => (f === feature ? weight : 0)),
    bias: -1,
    calibration: { slope: 1, intercept: 0 },
    score_quantiles: Array.from({ length: 101 }, (_, i) => i / 100),
    trained: {},
  };
}

describe("the shipped model", () => {
  it("is a valid model over this build's features, with non-negative weights", () => {
    expect(shipped.features).toEqual([...FEATURE_NAMES]);
    expect(shipped.weights.every((w) => w >= 0)).toBe(true);
    expect(shipped.weights.some((w) => w > 0)).toBe(true);
    expect(shipped.score_quantiles).toHaveLength(101);
    expect([...shipped.score_quantiles].sort((a, b) => a - b)).toEqual(shipped.score_quantiles);
  });

  it("scores in [0, 1], a greeting below a question in several parts", () => {
    const scorer = createScorer(shipped);
    const hi = scorer.score(input("hi"));
    const parts = scorer.score(input("Part 1: prove that the square root of 2 is irrational. Part 2: explain whether the proof still holds for the square root of 4, and if not, why not. Part 3: compare both arguments."));
    expect(hi).toBeGreaterThan(0);
    expect(parts).toBeLessThan(1);
    expect(parts).toBeGreaterThan(hi);
    expect(scorer.score(input(""))).toBeGreaterThan(0);
  });

  it("never scores a longer prompt with the same make-up lower (every weight is non-negative)", () => {
    const scorer = createScorer(shipped);
    const base = "Suppose the function is continuous. Is it then differentiable? Explain why, if not.";
    expect(scorer.score(input(`${base} ${base}`))).toBeGreaterThanOrEqual(scorer.score(input(base)));
  });
});

describe("createScorer", () => {
  it("computes sigmoid(slope * (bias + weights . standardised x) + intercept)", () => {
    const model = { ...oneWeight("questions_log", 2), mean: FEATURE_NAMES.map(() => 0.5), scale: FEATURE_NAMES.map(() => 2), calibration: { slope: 3, intercept: 0.25 } };
    const x = new Float64Array(FEATURE_COUNT).fill(0.5);
    x[FEATURE_NAMES.indexOf("questions_log")] = 4.5;
    // (4.5 - 0.5) / 2 * 2 = 4; linear = -1 + 4 = 3; score = sigmoid(3 * 3 + 0.25).
    expect(createScorer(model).scoreFeatures(x)).toBeCloseTo(1 / (1 + Math.exp(-9.25)), 12);
  });

  it("reads a model's features by name, in whatever order the file lists them", () => {
    const reversed = [...FEATURE_NAMES].reverse();
    const text = input("Why? Why not? How?");
    expect(createScorer(oneWeight("questions_log", 1.5, reversed)).score(text)).toBeCloseTo(createScorer(oneWeight("questions_log", 1.5)).score(text), 12);
  });

  it("gives a feature the model does not list weight 0", () => {
    const model = oneWeight("questions_log", 1, ["questions_log"]);
    expect(createScorer(model).score(input("Why?"))).toBeCloseTo(1 / (1 + Math.exp(-(-1 + Math.log1p(1)))), 12);
  });
});

describe("parseRouterModel", () => {
  it("names what is wrong with a file", () => {
    expect(() => parseRouterModel({ format: "other" }, "m.json")).toThrow(/^m\.json: not a router model: format/);
    expect(() => parseRouterModel({ ...oneWeight("questions_log", 1), weights: [1] }, "m.json")).toThrow("m.json: features, mean, scale and weights must have the same length");
    expect(() => parseRouterModel(oneWeight("x", 1, ["sparkle_count"]), "m.json")).toThrow(/m\.json: unknown features sparkle_count/);
    expect(() => parseRouterModel({ ...oneWeight("questions_log", 1), calibration: { slope: -1, intercept: 0 } }, "m.json")).toThrow(/calibration\.slope/);
  });

  it("loads a file named by routing.model_file, and reports one that is missing", () => {
    expect(() => loadRouterModel("/nonexistent/router.json")).toThrow(/ENOENT/);
  });
});
