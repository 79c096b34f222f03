/**
 * What the scored router reads in a request: counts meant to carry over between kinds of task
 * (length and structure, numbers and math, code, constraints and steps, reasoning cues, the
 * conversation so far), not the vocabulary of one data set. Every feature measures "more of"
 * something that plausibly makes a prompt harder, so the model's weights can be kept non-negative
 * (see train.ts). One pass over the characters, building no string per word; a long text is read
 * up to MAX_READ characters (lengths still count all of it).
 */

import { countText, CUE, type TextCounts } from "./text-counts.js";

/** What a request offers the scorer (see `scoringInput` in features.ts). */
export interface ScoringInput {
  /** The last user message. */
  text: string;
  /** Characters of system and developer messages. */
  systemChars: number;
  /** Characters of the conversation before the last user message (system excluded). */
  historyChars: number;
  messageCount: number;
  hasTools: boolean;
  hasImages: boolean;
  jsonOutput: boolean;
}

/** What one feature is computed from: the text's counts, the request, and the scale of a text read in part. */
type Extract = (t: TextCounts, input: ScoringInput, scale: number) => number;
const counted = (n: number, scale: number) => Math.log1p(n * scale);

/** Every feature in the model's order, with how it is computed. */
const FEATURES: ReadonlyArray<readonly [name: string, extract: Extract]> = [
  // Length and structure
  ["chars_log", (_, input) => Math.log1p(input.text.length)],
  ["words_log", (t, _, s) => counted(t.words, s)],
  ["sentences_log", (t, _, s) => counted(t.sentences, s)],
  ["words_per_sentence", (t) => Math.min(60, t.words / Math.max(1, t.sentences)) / 10],
  ["long_word_share", (t) => (t.words > 0 ? t.longWords / t.words : 0)],
  ["questions_log", (t, _, s) => counted(t.questions, s)],
  ["list_items_log", (t) => Math.log1p(t.listItems)],
  ["parts_log", (t, _, s) => counted(t.parts, s)],
  ["quotes_log", (t, _, s) => counted(t.quotes, s)],
  ["parentheses_log", (t, _, s) => counted(t.parens, s)],
  // Answer options, when the prompt lists them
  ["stem_chars_log", (t, input) => Math.log1p(t.options > 0 ? t.stemEnd : input.text.length)],
  ["numeric_options_share", (t) => (t.options > 0 ? t.numericOptions / t.options : 0)],
  ["combined_options", (t) => Math.log1p(t.combinedOptions)],
  // Numbers, math and code
  ["numbers_log", (t, _, s) => counted(t.numbers, s)],
  ["math_symbols_log", (t, _, s) => counted(t.math, s)],
  ["equations_log", (t, _, s) => counted(t.equations, s)],
  ["latex", (t) => (t.latex ? 1 : 0)],
  ["code_log", (t, _, s) => counted(t.code + t.cues[CUE.code]!, s)],
  ["code_block", (t) => (t.codeBlock ? 1 : 0)],
  // Cue words (whole words)
  ["negation_log", (t, _, s) => counted(t.cues[CUE.negation]! + 2 * t.shouted, s)],
  ["constraint_log", (t, _, s) => counted(t.cues[CUE.constraint]!, s)],
  ["logic_log", (t, _, s) => counted(t.cues[CUE.logic]!, s)],
  ["quantity_log", (t, _, s) => counted(t.cues[CUE.quantity]!, s)],
  ["explain_log", (t, _, s) => counted(t.cues[CUE.explain]!, s)],
  // The conversation so far
  ["system_log", (_, input) => Math.log1p(input.systemChars)],
  ["history_log", (_, input) => Math.log1p(input.historyChars)],
  ["messages_log", (_, input) => Math.log1p(Math.max(0, input.messageCount - 1))],
  ["tools", (_, input) => (input.hasTools ? 1 : 0)],
  ["images", (_, input) => (input.hasImages ? 1 : 0)],
  ["json_output", (_, input) => (input.jsonOutput ? 1 : 0)],
];

export const FEATURE_NAMES: readonly string[] = FEATURES.map(([name]) => name);
export const FEATURE_COUNT = FEATURES.length;

/** Texts past this are read only up to it; a 100 KB prompt costs what an 8 KB one does. */
export const MAX_READ = 8192;

/** Fills `out` (FEATURE_COUNT long, in FEATURE_NAMES order) with the features of `input`; returns it. */
export function scoreFeatures(input: ScoringInput, out: Float64Array = new Float64Array(FEATURE_COUNT)): Float64Array {
  const whole = input.text;
  const text = whole.length > MAX_READ ? whole.slice(0, MAX_READ) : whole;
  // Counts in the part read stand for the whole text.
  const scale = whole.length / Math.max(1, text.length);
  const counts = countText(text);
  for (let i = 0; i < FEATURES.length; i++) out[i] = FEATURES[i]![1](counts, input, scale);
  return out;
}
