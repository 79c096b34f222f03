import { describe, expect, it } from "vitest";
import { FEATURE_COUNT, FEATURE_NAMES, MAX_READ, scoreFeatures, type ScoringInput } from "./score-features.js";

function input(text: string, extra: Partial<ScoringInput> = {}): ScoringInput {
  return { text, systemChars: 0, historyChars: 0, messageCount: 1, hasTools: false, hasImages: false, jsonOutput: false, ...extra };
}

/** The features of `text` by name. */
function features(text: string, extra: Partial<ScoringInput> = {}): Record<string, number> {
  const x = scoreFeatures(input(text, extra));
  return Object.fromEntries(FEATURE_NAMES.map((name, i) => [name, x[i]!]));
}

const log1p = Math.log1p;

describe("scoreFeatures", () => {
  it("gives every feature a finite value, in FEATURE_NAMES order", () => {
    expect(FEATURE_NAMES).toHaveLength(FEATURE_COUNT);
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_COUNT);
    for (const text of ["", "hi", "é ü 中文 😀", "x".repeat(20_000)]) expect(Array.from(scoreFeatures(input(text))).every(Number.isFinite)).toBe(true);
  });

  it("counts length and structure", () => {
    const f = features("One two three. Four five? Six seven eight nine ten eleven!");
    expect(f.chars_log).toBeCloseTo(log1p(58), 12);
    expect(f.words_log).toBeCloseTo(log1p(11), 12);
    expect(f.sentences_log).toBeCloseTo(log1p(3), 12);
    expect(f.questions_log).toBeCloseTo(log1p(1), 12);
    expect(f.words_per_sentence).toBeCloseTo(11 / 3 / 10, 12);
    expect(features("internationalization is long").long_word_share).toBeCloseTo(1 / 3, 12);
  });

  it("reads answer options: the stem before them, numeric and combining options", () => {
    const mc = "Which is prime?\nA. 4\nB. 9\nC) 7\n(D) none of the above";
    const f = features(mc);
    expect(f.stem_chars_log).toBeCloseTo(log1p("Which is prime?\n".length), 12);
    expect(f.numeric_options_share).toBeCloseTo(3 / 4, 12);
    expect(f.combined_options).toBeCloseTo(log1p(1), 12);
    expect(features("A. I and II\nB. II only\nC. Both\nD. Neither").combined_options).toBeCloseTo(log1p(4), 12);
    // No options: the stem is the whole text.
    expect(features("plain question").stem_chars_log).toBeCloseTo(log1p(14), 12);
  });

  it("counts labelled parts of a question and list items", () => {
    expect(features("Statement 1 | x. Statement 2 | y.").parts_log).toBeCloseTo(log1p(2), 12);
    expect(features("Part (a) this, part b) that, Step II then, question 3.").parts_log).toBeCloseTo(log1p(4), 12);
    expect(features("(i) one\n(ii) two\n(b) three").parts_log).toBeCloseTo(log1p(3), 12);
    // A part word without a label is no part.
    expect(features("this statement is part of the question").parts_log).toBe(0);
    expect(features("- one\n* two\n1. three\n2) four\n-not a list").list_items_log).toBeCloseTo(log1p(4), 12);
  });

  it("counts numbers, math and code", () => {
    const f = features("Solve 3x + 4 = 19 for x, then compute 2.5 * 1,000.");
    expect(f.numbers_log).toBeCloseTo(log1p(5), 12);
    expect(f.math_symbols_log).toBeCloseTo(log1p(3), 12);
    expect(f.equations_log).toBeCloseTo(log1p(3), 12);
    expect(features("where $x^2$ and \\frac{a}{b}").latex).toBe(1);
    expect(features("it costs $5").latex).toBe(0);
    const code = features("```js\nfunction f() { return 1; }\n```");
    expect(code.code_block).toBe(1);
    // { } ; and the words function and return.
    expect(code.code_log).toBeCloseTo(log1p(5), 12);
  });

  it("matches cue words whole, in any case, and counts a shouted negation three times", () => {
    expect(features("Which is NOT true?").negation_log).toBeCloseTo(log1p(3), 12);
    expect(features("which is not true").negation_log).toBeCloseTo(log1p(1), 12);
    expect(features("nothing notable, knot").negation_log).toBe(0);
    expect(features("If so, then THEREFORE").logic_log).toBeCloseTo(log1p(3), 12);
    expect(features("Explain why and describe how").explain_log).toBeCloseTo(log1p(4), 12);
    expect(features("describes explains").explain_log).toBe(0);
    expect(features("You must return exactly each item").constraint_log).toBeCloseTo(log1p(3), 12);
    expect(features("calculate the total and the average").quantity_log).toBeCloseTo(log1p(3), 12);
  });

  it("reads the conversation so far", () => {
    const f = features("and now?", { systemChars: 99, historyChars: 1234, messageCount: 5, hasTools: true, jsonOutput: true });
    expect(f.system_log).toBeCloseTo(log1p(99), 12);
    expect(f.history_log).toBeCloseTo(log1p(1234), 12);
    expect(f.messages_log).toBeCloseTo(log1p(4), 12);
    expect([f.tools, f.images, f.json_output]).toEqual([1, 0, 1]);
  });

  it("reads a long text only up to MAX_READ characters, scaling its counts to the whole", () => {
    const long = "Why? ".repeat(10_000);
    const f = features(long);
    expect(long.length).toBeGreaterThan(MAX_READ);
    expect(f.chars_log).toBeCloseTo(log1p(long.length), 12);
    // 8192 characters hold 1638 whole "Why? " and a partial one ("Wh"): its word counts too.
    const read = long.slice(0, MAX_READ);
    expect(f.questions_log).toBeCloseTo(log1p(1638 * (long.length / read.length)), 12);
    expect(f.words_log).toBeCloseTo(log1p(1639 * (long.length / read.length)), 12);
  });

  it("fills a given buffer and leaves no value of the previous request", () => {
    const buffer = new Float64Array(FEATURE_COUNT);
    scoreFeatures(input("Statement 1 | NOT 3 + 4 = 7?", { hasTools: true }), buffer);
    expect(Array.from(scoreFeatures(input("hi"), buffer))).toEqual(Array.from(scoreFeatures(input("hi"))));
  });
});
