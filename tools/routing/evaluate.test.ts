import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDataset, promptChars, readDataset } from "./dataset.js";
import { apgr, gainCurve, permutationBand, pgrAt, reportFor, type Outcome } from "./evaluate.js";

/**
 * test/fixtures/routing-tiny.jsonl: ten hand-made prompts of 10, 9, ..., 1 characters, so the
 * prompt-length baseline routes them in file order. strong - weak per prompt:
 *   +1 +1 0 0 +1 -1 0 +1 0 0   (total gain 3; weak quality 0.5, strong 0.8)
 * Cumulative gain after k prompts sent up, k = 0..10: 0 1 2 2 2 3 2 2 3 3 3, hence
 *   PGR(20 %) = 2/3, PGR(30 %) = 2/3, PGR(50 %) = 3/3,
 *   APGR = (0+1 + 1+2 + 2+2 + 2+2 + 2+3 + 3+2 + 2+2 + 2+3 + 3+3 + 3+3) / 2 / (10 × 3) = 21.5 / 30 = 43/60.
 * Line 5 gives its qualities as numbers, the last line is a `messages` conversation, one line is blank.
 */
const ROOT = join(import.meta.dirname, "../..");
const TINY = join(ROOT, "test/fixtures/routing-tiny.jsonl");

const rows = readDataset(TINY);
const outcomes: Outcome[] = rows.map((r) => ({ weak: r.weak, strong: r.strong }));

describe("the tiny hand-made set", () => {
  it("reads booleans, numbers, messages and groups, skipping blank lines", () => {
    expect(rows).toHaveLength(10);
    expect(rows.map(promptChars)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(outcomes.map((o) => o.strong - o.weak)).toEqual([1, 1, 0, 0, 1, -1, 0, 1, 0, 0]);
    expect(rows.map((r) => r.group)).toEqual([...Array(5).fill("long"), ...Array(5).fill("short")]);
    expect(rows[9]!.body.messages).toEqual([{ role: "user", content: "a" }]);
  });

  it("gives the length baseline the PGR and APGR worked out by hand", () => {
    const curve = gainCurve(rows.map(promptChars), outcomes);
    expect(pgrAt(curve, 0.2)).toBeCloseTo(2 / 3, 12);
    expect(pgrAt(curve, 0.3)).toBeCloseTo(2 / 3, 12);
    expect(pgrAt(curve, 0.5)).toBeCloseTo(1, 12);
    expect(pgrAt(curve, 0)).toBe(0);
    expect(pgrAt(curve, 1)).toBe(1);
    // Half-way through the 6th prompt (-1): 3 - 0.5.
    expect(pgrAt(curve, 0.55)).toBeCloseTo(2.5 / 3, 12);
    expect(apgr(curve)).toBeCloseTo(43 / 60, 12);
    expect(reportFor("length", rows.map(promptChars), outcomes)).toEqual({
      name: "length",
      pgr: { "20%": expect.closeTo(2 / 3, 12), "30%": expect.closeTo(2 / 3, 12), "50%": 1 },
      apgr: expect.closeTo(43 / 60, 12),
    });
  });

  it("gives the reversed order (shortest first) its own hand-worked APGR, below chance", () => {
    // Gains +0 +0 +1 +0 -1 +1 +0 +0 +1 +1: cumulative 0 0 0 1 1 0 1 1 1 2 3, trapezoids 17 / 2 = 8.5, over 30.
    expect(apgr(gainCurve(rows.map((r) => -promptChars(r)), outcomes))).toBeCloseTo(8.5 / 30, 12);
  });

  it("gives a router that ties everything exactly the random router's PGR(s) = s and APGR 0.5", () => {
    const curve = gainCurve(rows.map(() => 0.5), outcomes);
    for (const s of [0, 0.2, 0.3, 0.5, 0.77, 1]) expect(pgrAt(curve, s)).toBeCloseTo(s, 12);
    expect(apgr(curve)).toBeCloseTo(0.5, 12);
    expect(permutationBand(rows.map(() => 0.5), outcomes, 50)).toEqual({ low: 0.5, high: 0.5, rounds: 50 });
  });

  it("takes a tie group in random order: its gain grows linearly across it", () => {
    // Two tiers: the five long prompts (gain 3) above the five short ones (gain 0).
    const tiers = rows.map((r) => (r.group === "long" ? 1 : 0));
    const curve = gainCurve(tiers, outcomes);
    expect(pgrAt(curve, 0.2)).toBeCloseTo((3 * 2) / 5 / 3, 12);
    expect(pgrAt(curve, 0.5)).toBeCloseTo(1, 12);
    // Short tier: +0 over its 5 prompts on net (-1 and +1), so the curve stays at 1.
    expect(pgrAt(curve, 0.8)).toBeCloseTo(1, 12);
    // Area: 5 × (0 + 3) / 2 + 5 × (3 + 3) / 2 = 22.5, over 30.
    expect(apgr(curve)).toBeCloseTo(22.5 / 30, 12);
  });
});

describe("the metric on numbers", () => {
  it("reads judge scores as qualities: PGR is the share of the score gap closed", () => {
    const judged = parseDataset(
      ['{"prompt":"x","weak":2,"strong":10}', '{"prompt":"y","weak":5,"strong":7}', '{"prompt":"z","weak":8,"strong":8}'].join("\n"),
      "inline",
    );
    const curve = gainCurve([3, 2, 1], judged);
    // Gains 8, 2, 0 of a total 10.
    expect(pgrAt(curve, 1 / 3)).toBeCloseTo(0.8, 12);
    expect(apgr(curve)).toBeCloseTo((1 * (0 + 8) / 2 + 1 * (8 + 10) / 2 + 1 * (10 + 10) / 2) / (3 * 10), 12);
  });

  it("refuses data where the strong model is not better", () => {
    expect(() => apgr(gainCurve([1, 2], [{ weak: 1, strong: 0 }, { weak: 1, strong: 1 }]))).toThrow(/not better/);
  });

  it("reports a bad line by its number", () => {
    expect(() => parseDataset('{"prompt":"a","weak":true,"strong":true}\n{"prompt":"b","weak":"yes","strong":true}', "f.jsonl")).toThrow("f.jsonl:2: 'weak' must be a boolean or a number");
    expect(() => parseDataset("{oops", "f.jsonl")).toThrow(/^f\.jsonl:1: not JSON/);
    expect(() => parseDataset('{"weak":true,"strong":true}', "f.jsonl")).toThrow("f.jsonl:1: needs 'prompt' (a string) or 'messages'");
  });
});

describe("the permutation band", () => {
  it("is reproducible for a seed and brackets chance", () => {
    const scores = rows.map(promptChars);
    const band = permutationBand(scores, outcomes, 400, 7);
    expect(permutationBand(scores, outcomes, 400, 7)).toEqual(band);
    expect(band.low).toBeLessThan(0.5);
    expect(band.high).toBeGreaterThan(0.5);
    expect(band.low).toBeGreaterThanOrEqual(0);
  });
});

describe("npm run eval:routing", () => {
  it("prints the tiny set's length baseline as worked out by hand, and the other routers", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "tools/routing/eval-cli.ts", "--data", TINY, "--rounds", "50", "--json", "--config", join(ROOT, "config.yaml")], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, TOLLGATE_CONFIG: "" },
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as { prompts: number; weak: number; strong: number; routers: Array<{ name: string; pgr: Record<string, number>; apgr: number }> };
    expect(report).toMatchObject({ prompts: 10, weak: 0.5, strong: 0.8 });
    const length = report.routers.find((r) => r.name.startsWith("prompt length"))!;
    expect(length.pgr["20%"]).toBeCloseTo(2 / 3, 12);
    expect(length.pgr["50%"]).toBeCloseTo(1, 12);
    expect(length.apgr).toBeCloseTo(43 / 60, 12);
    expect(report.routers.map((r) => r.name)).toEqual([
      "routing_score (shipped model)",
      "configured tiers (ties at random)",
      "keyword heuristics",
      "prompt length (characters)",
      "random",
    ]);
  });
});
