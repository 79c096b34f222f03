import type { Config, ModelConfig } from "../config/schema.js";
import { tokensCost, type Nano } from "../money.js";
import { batchPrice, CACHE_WRITE_MULTIPLE, feesCost, tierMultiplier } from "./cost.js";
import { ratesFor, type Rates } from "./rates.js";

/** What a request may cost before it runs: its worst case (the hold), its expected cost, and what fits a budget. */

/** The smallest answer a capped request is still sent for; below it the request is refused. */
export const MIN_CAPPED_OUTPUT = 64;

/** What a request can produce on a model: its output ceiling, the context left after the prompt. */
function outputCeiling(model: ModelConfig, promptTokens: number): number {
  return Math.max(1, Math.min(model.max_output_tokens ?? Infinity, model.context_window - promptTokens));
}

/**
 * The output tokens a request may produce at worst (SPEC 5.3 hard limits): its own limit, else the
 * model's ceiling; a rejected prediction is billed as output too.
 */
export function worstCaseOutput(model: ModelConfig, promptTokens: number, clientLimit: number | undefined): number {
  return Math.min(clientLimit ?? Infinity, outputCeiling(model, promptTokens));
}

/**
 * The output tokens expected, for the estimate shown to the client: its own limit when given, else
 * `budgets.output_estimate` (half the input by default), never above the worst case.
 */
export function expectedOutput(worst: number, inputTokens: number, clientLimit: number | undefined, setting: Config["budgets"]["output_estimate"]): number {
  const guess = clientLimit ?? (setting === "half_input" ? Math.ceil(inputTokens / 2) : setting);
  return Math.min(guess, worst);
}

/** What a request is held for besides its text tokens (src/plan/charges.ts reads them from its body). */
export interface HoldExtras {
  /** Input audio tokens (part of the input tokens), at the model's audio price. */
  audioInput: number;
  /** The answer may be audio: its output is held at the dearer of the text and audio prices. */
  audioOutput: boolean;
  /** Web searches at most, each its fee plus `searchTokens` of search content read as input. */
  webSearches: number;
  searchTokens: number;
  /** The service tier asked for: its multiplier applies to every token. */
  serviceTier?: string;
  /** The prompt marks blocks for Anthropic's cache (the longest lifetime asked): it may all be written at that price. */
  cacheWrite?: "5m" | "1h";
}

export const NO_EXTRAS: HoldExtras = { audioInput: 0, audioOutput: false, webSearches: 0, searchTokens: 0 };

/** The price of one input token: a prompt that asks for cache writes is held as if all of it were written. */
function inputRate(rates: Rates, extras: HoldExtras): number {
  if (extras.cacheWrite === "1h") return Math.max(rates.input, rates.cache_write_1h ?? rates.input * CACHE_WRITE_MULTIPLE["1h"]);
  if (extras.cacheWrite === "5m") return Math.max(rates.input, rates.cache_write ?? rates.input * CACHE_WRITE_MULTIPLE["5m"]);
  return rates.input;
}

/** The price of one output token, USD per 1M, before the tier's multiplier. */
function outputRate(model: ModelConfig, inputTokens: number, extras: HoldExtras): number {
  const text = ratesFor(model.price, inputTokens).output;
  return extras.audioOutput ? Math.max(text, model.price.output_audio ?? text) : text;
}

/**
 * Input plus `outputTokens` for each of `choices` answers, at the rates of the input's size (long
 * context), with what the extras add: audio at its price, web searches, the service tier's
 * multiplier, the fee per call.
 */
export function requestCost(model: ModelConfig, inputTokens: number, outputTokens: number, choices: number, extras: HoldExtras = NO_EXTRAS): Nano {
  const rates = ratesFor(model.price, inputTokens);
  const audio = Math.min(extras.audioInput, inputTokens);
  const tokens =
    tokensCost(inputTokens - audio, inputRate(rates, extras)) +
    tokensCost(extras.webSearches * extras.searchTokens, rates.input) +
    tokensCost(audio, model.price.input_audio ?? rates.input) +
    tokensCost(outputTokens * choices, outputRate(model, inputTokens, extras));
  return Math.round(tokens * tierMultiplier(model.price, extras.serviceTier)) + feesCost(model.price, 1, extras.webSearches);
}

/** The most output tokens per answer that `room` pays for after the input; 0 when not even the input fits. */
export function affordableOutput(model: ModelConfig, inputTokens: number, choices: number, room: Nano, extras: HoldExtras = NO_EXTRAS): number {
  const left = room - requestCost(model, inputTokens, 0, choices, extras);
  if (left <= 0) return 0;
  const rate = outputRate(model, inputTokens, extras) * tierMultiplier(model.price, extras.serviceTier);
  if (rate === 0) return Infinity;
  let tokens = Math.floor(left / (rate * 1000 * choices));
  // Rounding in tokensCost: step down until the request's own cost fits.
  while (tokens > 0 && requestCost(model, inputTokens, tokens, choices, extras) > room) tokens--;
  return tokens;
}

/** Input plus output at the model's batch prices (the provider's Batch API). */
export function batchRequestCost(model: Pick<ModelConfig, "price">, inputTokens: number, outputTokens: number, choices: number): Nano {
  const price = batchPrice(model);
  return tokensCost(inputTokens, price.input) + tokensCost(outputTokens * choices, price.output);
}
