import type { ModelConfig, Price } from "../config/schema.js";
import { tokensCost, usdToNano, type Nano } from "../money.js";
import { ratesFor } from "./rates.js";

/**
 * Token counts as the upstream reports them (OpenAI `usage`). Prompt and completion are totals;
 * the audio and reasoning counts are parts of them, read from their `_details`.
 */
export interface TokenUsage {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  /** Input audio tokens (of promptTokens), and those of them read from the cache (of cachedTokens). */
  audioInputTokens?: number;
  cachedAudioTokens?: number;
  /** Output audio tokens (of completionTokens). */
  audioOutputTokens?: number;
  /** Reasoning tokens (of completionTokens), billed as output. */
  reasoningTokens?: number;
  /** Prompt-cache writes (of promptTokens, not of cachedTokens), 5-minute and 1-hour: Anthropic's `cache_creation`. */
  cacheWriteTokens?: number;
  cacheWrite1hTokens?: number;
}

/** Anthropic's prices of a prompt-cache write, as multiples of the input price, for a model whose price lists none. */
export const CACHE_WRITE_MULTIPLE = { "5m": 1.25, "1h": 2 } as const;

/** What a call is billed for besides its tokens. */
export interface Charges {
  /** The `service_tier` the answer was served at (or was asked for, when the answer does not say). */
  serviceTier?: string;
  /** Web searches the model made. */
  webSearches?: number;
  /** Calls billed (the fee per request): 1 for an answered call, 0 for one nothing was billed for. */
  requests?: number;
}

/**
 * Token price multipliers by service tier as OpenAI publishes them (priority at twice the standard
 * rates, flex at half), for a model whose price does not list its own. `auto`, `default` and
 * `scale` are billed at the standard rates.
 */
export const SERVICE_TIERS: Readonly<Record<string, number>> = { priority: 2, flex: 0.5 };

/** The multiplier of a model's token prices at `tier`. */
export function tierMultiplier(price: Price, tier: string | undefined): number {
  if (tier === undefined) return 1;
  return price.service_tiers?.[tier] ?? SERVICE_TIERS[tier] ?? 1;
}

/**
 * Every cost tollgate computes comes from pricing/: what a usage cost (here), what a request may
 * cost before it runs (estimate.ts), the rates for a request's size (rates.ts), batch and unit prices.
 */

/**
 * Cost = (prompt − cached) × input + cached × cached_input + completion × output (SPEC 6), at the
 * long-context rates when the prompt is above their threshold; prompt-cache writes at their own
 * rates (5-minute and 1-hour); audio tokens at the audio prices
 * (the text ones when the model has none); all of it times the service tier's multiplier; plus the
 * fee per call and per web search.
 */
export function usageCost(model: Pick<ModelConfig, "price">, usage: TokenUsage, charges: Charges = {}): Nano {
  const price = model.price;
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  const audioIn = Math.min(usage.audioInputTokens ?? 0, usage.promptTokens);
  const cachedAudio = Math.min(usage.cachedAudioTokens ?? 0, audioIn, cached);
  const audioOut = Math.min(usage.audioOutputTokens ?? 0, usage.completionTokens);
  const writes1h = Math.min(usage.cacheWrite1hTokens ?? 0, usage.promptTokens - cached - audioIn);
  const writes = Math.min(usage.cacheWriteTokens ?? 0, usage.promptTokens - cached - audioIn - writes1h);
  const rates = ratesFor(price, usage.promptTokens);
  const cachedRate = rates.cached_input ?? rates.input;
  const tokens =
    tokensCost(usage.promptTokens - audioIn - (cached - cachedAudio) - writes - writes1h, rates.input) +
    tokensCost(writes, rates.cache_write ?? rates.input * CACHE_WRITE_MULTIPLE["5m"]) +
    tokensCost(writes1h, rates.cache_write_1h ?? rates.input * CACHE_WRITE_MULTIPLE["1h"]) +
    tokensCost(cached - cachedAudio, cachedRate) +
    tokensCost(audioIn - cachedAudio, price.input_audio ?? rates.input) +
    tokensCost(cachedAudio, price.cached_audio ?? price.input_audio ?? cachedRate) +
    tokensCost(usage.completionTokens - audioOut, rates.output) +
    tokensCost(audioOut, price.output_audio ?? rates.output);
  return Math.round(tokens * tierMultiplier(price, charges.serviceTier)) + feesCost(price, charges.requests ?? 1, charges.webSearches ?? 0);
}

/** The fees of `requests` calls and `searches` web searches. */
export function feesCost(price: Price, requests: number, searches: number): Nano {
  return usdToNano((price.per_request ?? 0) * requests + (price.web_search ?? 0) * searches);
}

const count = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined);

/**
 * Reads an OpenAI `usage` object: chat and completions (`prompt_tokens`, `completion_tokens`), the
 * Responses API (`input_tokens`, `output_tokens`), embeddings (`prompt_tokens` only), with their
 * details: cached, audio and reasoning tokens. Undefined when it is missing or malformed.
 */
export function readUsage(raw: unknown): TokenUsage | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const u = raw as Record<string, unknown>;
  if ("cache_creation_input_tokens" in u || "cache_read_input_tokens" in u) return readAnthropicUsage(u);
  const prompt = u.prompt_tokens ?? u.input_tokens;
  const completion = u.completion_tokens ?? u.output_tokens ?? (typeof prompt === "number" && u.total_tokens === prompt ? 0 : undefined);
  if (typeof prompt !== "number" || typeof completion !== "number") return undefined;
  // The realtime API's `response.done` names them input_token_details and output_token_details.
  const input = (u.prompt_tokens_details ?? u.input_tokens_details ?? u.input_token_details) as Record<string, unknown> | null | undefined;
  const output = (u.completion_tokens_details ?? u.output_tokens_details ?? u.output_token_details) as Record<string, unknown> | null | undefined;
  const cachedDetails = input?.cached_tokens_details as Record<string, unknown> | null | undefined;
  const usage: TokenUsage = { promptTokens: prompt, cachedTokens: count(input?.cached_tokens) ?? 0, completionTokens: completion };
  const audioIn = count(input?.audio_tokens);
  const cachedAudio = count(cachedDetails?.audio_tokens);
  const audioOut = count(output?.audio_tokens);
  const reasoning = count(output?.reasoning_tokens);
  if (audioIn) usage.audioInputTokens = audioIn;
  if (cachedAudio) usage.cachedAudioTokens = cachedAudio;
  if (audioOut) usage.audioOutputTokens = audioOut;
  if (reasoning) usage.reasoningTokens = reasoning;
  return usage;
}

/**
 * Anthropic's `usage`: `input_tokens` are only the prompt tokens neither read from nor written to
 * the cache, so the prompt is their sum; writes split by lifetime in `cache_creation` (all of them
 * 5-minute ones when it is absent). Its server tools' calls are charges (src/usage/charges.ts).
 */
export function readAnthropicUsage(u: Record<string, unknown>): TokenUsage | undefined {
  const input = count(u.input_tokens);
  const output = count(u.output_tokens);
  if (input === undefined || output === undefined) return undefined;
  const read = count(u.cache_read_input_tokens) ?? 0;
  const written = count(u.cache_creation_input_tokens) ?? 0;
  const split = u.cache_creation as Record<string, unknown> | null | undefined;
  const written1h = Math.min(count(split?.ephemeral_1h_input_tokens) ?? 0, written);
  const usage: TokenUsage = { promptTokens: input + read + written, cachedTokens: read, completionTokens: output };
  if (written - written1h > 0) usage.cacheWriteTokens = written - written1h;
  if (written1h > 0) usage.cacheWrite1hTokens = written1h;
  return usage;
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
