import type { ModelConfig, Price } from "../config/schema.js";
import { tokensCost, usdToNano, type Nano } from "../money.js";
import { ratesFor } from "./rates.js";

/** Token counts as the upstream reports them (OpenAI `usage`). */
export interface TokenUsage {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

/**
 * Every cost tollgate computes comes from pricing/: what a usage cost (here), what a request may
 * cost before it runs (estimate.ts), the rates for a request's size (rates.ts), batch and unit prices.
 */

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

/** Batch prices (the provider's Batch API): the model's own, else half its regular ones. */
export function batchPrice(model: Pick<ModelConfig, "price">): { input: number; output: number } {
  return { input: model.price.batch_input ?? model.price.input / 2, output: model.price.batch_output ?? model.price.output / 2 };
}

export function batchCost(model: Pick<ModelConfig, "price">, usage: TokenUsage): Nano {
  const price = batchPrice(model);
  return tokensCost(usage.promptTokens, price.input) + tokensCost(usage.completionTokens, price.output);
}

/** What `tokens` of a prompt of `promptTokens` cost as input on `model` (what a saving saved). */
export function inputCost(model: Pick<ModelConfig, "price">, tokens: number, promptTokens: number): Nano {
  return tokensCost(tokens, ratesFor(model.price, promptTokens).input);
}

/** Unit prices of metered calls (`price.per_image`...). */
export type UnitKind = "per_image" | "per_audio_second" | "per_1k_characters" | "per_video_second";

/** `count` units at the price's rate for them; undefined when the price has none. */
export function unitsCost(price: Price | undefined, kind: UnitKind, count: number): Nano | undefined {
  const rate = price?.[kind];
  return rate === undefined ? undefined : usdToNano(rate * count);
}
