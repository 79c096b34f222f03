import type { Config, ModelConfig } from "../config/schema.js";
import { tokensCost, type Nano } from "../money.js";
import { ratesFor } from "./rates.js";

/** Token counts as the upstream reports them (OpenAI `usage`). */
export interface TokenUsage {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

/**
 * Output tokens expected from a request: the client's own limit when given, else
 * `budgets.output_estimate` (half the input by default), capped by the model's maximum.
 * With `n` choices the upstream produces that many answers.
 */
export function expectedOutputTokens(
  inputTokens: number,
  clientLimit: number | undefined,
  outputEstimate: Config["budgets"]["output_estimate"],
  model: ModelConfig,
): number {
  let tokens = clientLimit ?? (outputEstimate === "half_input" ? Math.ceil(inputTokens / 2) : outputEstimate);
  if (model.max_output_tokens !== undefined) tokens = Math.min(tokens, model.max_output_tokens);
  return tokens;
}

export function estimateCost(model: ModelConfig, inputTokens: number, outputTokens: number, choices = 1): Nano {
  const rates = ratesFor(model.price, inputTokens);
  return tokensCost(inputTokens, rates.input) + tokensCost(outputTokens * choices, rates.output);
}

/**
 * Cost = (prompt − cached) × input + cached × cached_input + completion × output (SPEC 6), at the
 * long-context rates when the prompt is above their threshold.
 */
export function usageCost(model: Pick<ModelConfig, "price">, usage: TokenUsage): Nano {
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  const rates = ratesFor(model.price, usage.promptTokens);
  return (
    tokensCost(usage.promptTokens - cached, rates.input) +
    tokensCost(cached, rates.cached_input ?? rates.input) +
    tokensCost(usage.completionTokens, rates.output)
  );
}

/**
 * Reads an OpenAI `usage` object: chat and completions (`prompt_tokens`, `completion_tokens`), the
 * Responses API (`input_tokens`, `output_tokens`), embeddings (`prompt_tokens` only). Undefined
 * when it is missing or malformed.
 */
export function readUsage(raw: unknown): TokenUsage | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const u = raw as Record<string, unknown>;
  const prompt = u.prompt_tokens ?? u.input_tokens;
  const completion = u.completion_tokens ?? u.output_tokens ?? (typeof prompt === "number" && u.total_tokens === prompt ? 0 : undefined);
  if (typeof prompt !== "number" || typeof completion !== "number") return undefined;
  const details = (u.prompt_tokens_details ?? u.input_tokens_details) as Record<string, unknown> | null | undefined;
  const cached = details && typeof details.cached_tokens === "number" ? details.cached_tokens : 0;
  return { promptTokens: prompt, cachedTokens: cached, completionTokens: completion };
}
