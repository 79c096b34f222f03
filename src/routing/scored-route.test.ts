import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryBudgetStore } from "../budget/memory.js";
import { ManualClock } from "../clock.js";
import { type Config } from "../config/schema.js";
import { configSchema } from "../config/resolve.js";
import { testConfig, testConfigInput } from "../../test/support/proxy.js";
import { compileRules } from "./classify.js";
import { extractFeatures } from "./features.js";
import { MODEL_FORMAT } from "./model.js";
import { createRouter, type RouteInput, type RouterOptions } from "./route.js";
import { DEFAULT_THRESHOLDS } from "./scored.js";
import { FEATURE_NAMES } from "./score-features.js";
import { tierModels } from "./tiers.js";

const UPSTREAM = "http://upstream.test/v1";
const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const MULTI_PART =
  "Part 1: prove that the square root of 2 is irrational. Part 2: explain whether the proof still holds for the square root of 4, and if not, why not. Part 3: compare both arguments.";

function routerFor(config: Config, options: RouterOptions = {}) {
  const router = createRouter(config, compileRules(config.routing.rules), tierModels(config), options);
  router.start();
  return router;
}

function request(text: string, extra: Partial<RouteInput> = {}): RouteInput {
  return { clientModel: "auto", features: extractFeatures({ model: "auto", messages: [{ role: "user", content: text }] }, 10, "chat"), ...extra };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the scored router by default", () => {
  const router = routerFor(testConfig(UPSTREAM));

  it("gives every request a score and takes the tier from the default thresholds", () => {
    const hi = router.route(request("hi"));
    expect(hi.score).toBeGreaterThan(0);
    expect(hi.score).toBeLessThan(DEFAULT_THRESHOLDS.standard);
    expect(hi).toMatchObject({ tier: "economy", model: "gpt-4o-mini", route: `score:${hi.score!.toFixed(3)}` });
    const parts = router.route(request(MULTI_PART));
    expect(parts.score).toBeGreaterThan(DEFAULT_THRESHOLDS.premium);
    expect(parts).toMatchObject({ tier: "premium", model: "gpt-4-turbo", route: `score:${parts.score!.toFixed(3)}` });
    expect(router.scoreTiers()).toEqual({ thresholds: DEFAULT_THRESHOLDS });
  });

  it("scores requests a rule, a header or a pinned model decides too, without letting the score decide", () => {
    const config = testConfig(UPSTREAM, { routing: { rules: [{ name: "proofs", when: { keywords: ["prove"] }, tier: "standard" }] } });
    const ruled = routerFor(config).route(request(MULTI_PART));
    expect(ruled).toMatchObject({ tier: "standard", route: "proofs" });
    expect(ruled.score).toBeGreaterThan(DEFAULT_THRESHOLDS.premium);
    const forced = router.route(request(MULTI_PART, { headerTier: "economy" }));
    expect(forced).toMatchObject({ tier: "economy", route: "header", score: ruled.score });
  });

  it("caps the score's tier like any other class", () => {
    expect(router.route(request(MULTI_PART, { keyMaxTier: "standard" }))).toMatchObject({ tier: "standard", route: "tier-cap" });
    expect(router.route(request(MULTI_PART, { clientModel: "gpt-4o" }))).toMatchObject({ tier: "standard", model: "gpt-4o", route: "client-model" });
  });
});

describe("routing settings", () => {
  it("takes fixed thresholds from routing.thresholds", () => {
    const router = routerFor(testConfig(UPSTREAM, { routing: { thresholds: { premium: 0.9, standard: 0.01 } } }));
    expect(router.route(request("hi")).tier).toBe("standard");
    expect(router.route(request(MULTI_PART)).tier).toBe("standard");
  });

  it("falls back to default_tier when routing.scored is off, still scoring", () => {
    const decision = routerFor(testConfig(UPSTREAM, { routing: { scored: false, default_tier: "standard" } })).route(request(MULTI_PART));
    expect(decision).toMatchObject({ tier: "standard", route: "default" });
    expect(decision.score).toBeGreaterThan(0);
  });

  it("reads the model routing.model_file names", () => {
    const file = join(mkdtempSync(join(tmpdir(), "tollgate-model-")), "router.json");
    // Only the number of question marks counts: score = sigmoid(-2 + 2 * log1p(questions)).
    writeFileSync(
      file,
      JSON.stringify({
        format: MODEL_FORMAT,
        label: "gain",
        features: [...FEATURE_NAMES],
        mean: FEATURE_NAMES.map(() => 0),
        scale: FEATURE_NAMES.map(() => 1),
        weights: FEATURE_NAMES.map((f) => (f === "questions_log" ? 2 : 0)),
        bias: -2,
        calibration: { slope: 1, intercept: 0 },
        score_quantiles: Array.from({ length: 101 }, (_, i) => i / 100),
      }),
    );
    const router = routerFor(testConfig(UPSTREAM, { routing: { model_file: file } }));
    expect(router.route(request("why? why? why?")).score).toBeCloseTo(1 / (1 + Math.exp(2 - 2 * Math.log1p(3))), 12);
    expect(() => routerFor(testConfig(UPSTREAM, { routing: { model_file: `${file}.missing` } }))).toThrow(/ENOENT/);
  });

  it("refuses thresholds and a target share together, and shares or thresholds that cannot hold", () => {
    const parse = (routing: Record<string, unknown>) => configSchema.safeParse({ ...testConfigInput(UPSTREAM), routing });
    const issues = (routing: Record<string, unknown>) => parse(routing).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(issues({ thresholds: { premium: 0.5, standard: 0.2 }, target_share: { premium: 0.2, standard: 0.3 } })).toEqual(["routing.target_share: set either thresholds or target_share, not both"]);
    expect(issues({ thresholds: { premium: 0.2, standard: 0.5 } })).toEqual(["routing.thresholds.standard: must not be above the premium threshold"]);
    expect(issues({ target_share: { premium: 0.6, standard: 0.5 } })).toEqual(["routing.target_share: premium and standard shares add up to more than 1"]);
    expect(issues({ target_share: { premium: 1.2, standard: 0 } })?.[0]).toMatch(/^routing\.target_share\.premium: /);
    expect(parse({ target_share: { premium: 0.2, standard: 0.3 } }).data?.routing.share_window).toEqual({ seconds: 600, sync_ms: 5000, min_samples: 200 });
  });
});

describe("a target share", () => {
  /** 60 prompts, one to sixty questions long: the score rises with their length. */
  const prompts = Array.from({ length: 60 }, (_, i) => Array.from({ length: i + 1 }, (_, q) => `Is claim ${q} true, and why?`).join(" "));

  function shared() {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const clock = new ManualClock(T0);
    const config = testConfig(UPSTREAM, { routing: { target_share: { premium: 0.2, standard: 0.3 }, share_window: { seconds: 600, sync_ms: 5000, min_samples: 0 } } });
    const router = routerFor(config, { store: new MemoryBudgetStore(clock), clock });
    return { router, clock };
  }

  it("routes the traffic it has seen in the target shares once its window syncs", async () => {
    const { router } = shared();
    for (let round = 0; round < 5; round++) for (const p of prompts) router.route(request(p));
    await vi.advanceTimersByTimeAsync(5000);
    expect(router.scoreTiers()).toMatchObject({ target: { premium: 0.2, standard: 0.3 }, windowCount: 300 });
    const tiers = prompts.map((p) => router.route(request(p)).tier);
    expect(tiers.filter((t) => t === "premium")).toHaveLength(12);
    expect(tiers.filter((t) => t === "standard")).toHaveLength(18);
    // The longest prompts go up.
    expect(tiers.slice(-12).every((t) => t === "premium")).toBe(true);
    router.close();
  });

  it("counts only what the score decided: not estimates, forced tiers or rules", async () => {
    const { router } = shared();
    for (const p of prompts) {
      router.preview(request(p));
      router.route(request(p, { headerTier: "premium" }));
      router.route(request(p, { clientModel: "gpt-4o" }));
    }
    await vi.advanceTimersByTimeAsync(5000);
    // Only the 60 ceiling-mode requests were classified by their score.
    expect(router.scoreTiers().windowCount).toBe(60);
    router.close();
  });
});
