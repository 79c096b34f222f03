import type { Config, ModelConfig } from "../config/schema.js";
import { tokensCost, type Nano } from "../money.js";
import { batchPrice } from "./cost.js";
import { ratesFor } from "./rates.js";

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

/** Input plus `outputTokens` for each of `choices` answers, at the rates of the input's size (long context). */
export function requestCost(model: ModelConfig, inputTokens: number, outputTokens: number, choices: number): Nano {
  const rates = ratesFor(model.price, inputTokens);
  return tokensCost(inputTokens, rates.input) + tokensCost(outputTokens * choices, rates.output);
}

/** The most output tokens per answer that `room` pays for after the input; 0 when not even the input fits. */
export function affordableOutput(model: ModelConfig, inputTokens: number, choices: number, room: Nano): number {
  const rates = ratesFor(model.price, inputTokens);
  const left = room - tokensCost(inputTokens, rates.input);
  if (left <= 0) return 0;
  if (rates.output === 0) return Infinity;
  let tokens = Math.floor(left / (rates.output * 1000 * choices));
  // Rounding in tokensCost: step down until the request's own cost fits.
  while (tokens > 0 && requestCost(model, inputTokens, tokens, choices) > room) tokens--;
  return tokens;
}

/** Input plus output at the model's batch prices (the provider's Batch API). */
export function batchRequestCost(model: Pick<ModelConfig, "price">, inputTokens: number, outputTokens: number, choices: number): Nano {
  const price = batchPrice(model);
  return tokensCost(inputTokens, price.input) + tokensCost(outputTokens * choices, price.output);
}
