import { anthropicErrorType } from "../errors.js";
import type { RequestBody } from "../endpoints/shape.js";
import { invalid } from "../request/parse.js";

/**
 * The Anthropic Messages API's values as tollgate reads them, and the words the two APIs use for
 * the same thing (stop reasons, errors). Only the fields tollgate reads are typed; every other
 * field passes to an Anthropic upstream untouched.
 */

export interface AnthropicBlock {
  type: string;
  [field: string]: unknown;
}

export interface AnthropicMessage {
  role: "user" | "assistant" | "system";
  content: string | AnthropicBlock[];
}

export interface MessagesBody extends RequestBody {
  messages: AnthropicMessage[];
  system?: string | AnthropicBlock[];
  /** Mandatory on this API: the request's output limit and its hold. */
  max_tokens: number;
  tools?: Array<Record<string, unknown>>;
}

/** A whole Messages answer (non-streamed). */
export interface AnthropicAnswer {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: AnthropicBlock[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: Record<string, unknown>;
}

const TO_FINISH: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

const TO_STOP: Record<string, string> = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use", function_call: "tool_use", content_filter: "refusal" };

/** An Anthropic `stop_reason` as an OpenAI `finish_reason`. */
export const finishReasonOf = (stop: unknown): string | null => (typeof stop === "string" ? (TO_FINISH[stop] ?? "stop") : null);

/** An OpenAI `finish_reason` as an Anthropic `stop_reason`. */
export const stopReasonOf = (finish: unknown): string | null => (typeof finish === "string" ? (TO_STOP[finish] ?? "end_turn") : null);

/** Anthropic's usage as OpenAI's: the prompt is every input token, cache reads and writes included. */
export function chatUsageOf(usage: Record<string, unknown> | undefined): Record<string, unknown> {
  const n = (v: unknown) => (typeof v === "number" ? v : 0);
  const read = n(usage?.cache_read_input_tokens);
  const prompt = n(usage?.input_tokens) + read + n(usage?.cache_creation_input_tokens);
  const completion = n(usage?.output_tokens);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: read } };
}

/** OpenAI's usage as Anthropic's: cached prompt tokens are cache reads, the rest plain input. */
export function anthropicUsageOf(usage: Record<string, unknown> | undefined | null): Record<string, number> {
  const n = (v: unknown) => (typeof v === "number" ? v : 0);
  const cached = n((usage?.prompt_tokens_details as Record<string, unknown> | undefined)?.cached_tokens);
  return { input_tokens: n(usage?.prompt_tokens) - cached, cache_creation_input_tokens: 0, cache_read_input_tokens: cached, output_tokens: n(usage?.completion_tokens) };
}

/** An error body of either API, as the other's. Bodies that are neither are wrapped whole as the message. */
export function translateError(text: string, status: number, to: "openai" | "anthropic"): string {
  let parsed: { type?: unknown; error?: { type?: unknown; message?: unknown; code?: unknown } } | undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const message = typeof parsed?.error?.message === "string" ? parsed.error.message : text.slice(0, 2000);
  if (to === "anthropic") return JSON.stringify({ type: "error", error: { type: anthropicErrorType(status), message } });
  const type = typeof parsed?.error?.type === "string" ? parsed.error.type : "upstream_error";
  return JSON.stringify({ error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", param: null, code: type } });
}

/** The 400 for a field one API has and the other has not: it would otherwise be dropped and change the answer. */
export function noCounterpart(field: string, target: "OpenAI" | "Anthropic", why = "has no counterpart"): Error {
  return invalid(`'${field}' ${why} in the ${target} API that serves the routed model, so the request cannot be translated; send it to a model of its own API`, field);
}

/** Splits a data URL into its media type and base64 data; undefined for any other URL. */
export function splitDataUrl(url: string): { media_type: string; data: string } | undefined {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return match ? { media_type: match[1]!, data: match[2]! } : undefined;
}
