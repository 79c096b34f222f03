import type { ChatBody } from "../request/parse.js";
import { countTextTokens, type EncodingName } from "./count.js";
import { countMessagesTokens, REPLY_PRIMER_TOKENS } from "./messages.js";
import { DEFAULT_IMAGE_FORMULA, inputAudioTokens, type ImageFormula } from "./media.js";

/**
 * Fields of a chat request the upstream does not bill as input: sampling settings, limits and
 * bookkeeping. Every other field (tools, functions, tool_choice, response_format and its schema,
 * and any field added after this list was written) is counted by its JSON text, so a field nobody
 * thought of cannot carry a free prompt past the budget.
 */
const NOT_BILLED = new Set([
  "model", "messages", "stream", "stream_options", "temperature", "top_p", "n", "max_tokens", "max_completion_tokens",
  "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed", "user", "metadata", "store",
  "service_tier", "parallel_tool_calls", "reasoning_effort", "modalities", "prompt_cache_key", "safety_identifier",
  "verbosity", "stop", "prediction", "audio", "web_search_options", "max_tool_calls",
  // The Responses API's settings and references.
  "max_output_tokens", "reasoning", "previous_response_id", "truncation", "include", "background", "conversation",
  "encoding_format", "dimensions",
]);

export interface RequestTokens {
  /** Each message's tokens, its overhead included. */
  messages: number[];
  /** The reply primer and every billed field outside the messages. */
  fixed: number;
  /** A predicted output's tokens: billed as output when the prediction is rejected. */
  prediction: number;
  /** Input audio tokens (of the messages' counts), billed at the model's audio price. */
  audio: number;
}

export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Every token of a chat request the upstream bills, in one encoding and image formula (SPEC 7, SPEC 5.3 hard limits). */
export async function countChatRequest(body: ChatBody, encoding: EncodingName, images: ImageFormula = DEFAULT_IMAGE_FORMULA): Promise<RequestTokens> {
  const messages = await countMessagesTokens(body.messages, encoding, images);
  let fixed = REPLY_PRIMER_TOKENS;
  for (const field of Object.keys(body)) {
    const value = body[field];
    if (NOT_BILLED.has(field) || value === undefined || value === null) continue;
    fixed += await countTextTokens(typeof value === "string" ? value : JSON.stringify(value), encoding);
  }
  let prediction = 0;
  const predicted = (body.prediction as { content?: unknown } | undefined)?.content;
  if (predicted !== undefined && predicted !== null) {
    prediction = await countTextTokens(typeof predicted === "string" ? predicted : JSON.stringify(predicted), encoding);
  }
  return { messages, fixed, prediction, audio: audioTokens(body) };
}

/** Input audio tokens of a chat body's `input_audio` parts. */
function audioTokens(body: ChatBody): number {
  let tokens = 0;
  for (const message of body.messages) {
    if (!Array.isArray(message.content)) continue;
    for (const part of message.content as Array<Record<string, unknown> | null>) {
      if (part?.type === "input_audio") tokens += inputAudioTokens(part.input_audio as { data?: unknown; format?: unknown } | undefined);
    }
  }
  return tokens;
}

/**
 * Characters per token below which no real text goes (English runs about 4; code, numbers and
 * other scripts fewer). A body of N characters is estimated at N / this at least, whatever its fields.
 */
const FLOOR_CHARS_PER_TOKEN = 6;

/** Characters of binary payloads (data URLs, base64 audio and files), which are priced by what they hold, not their length. */
function binaryChars(body: ChatBody): number {
  let chars = 0;
  for (const message of body.messages) {
    if (!Array.isArray(message.content)) continue;
    for (const part of message.content as Array<Record<string, any>>) {
      if (part === null || typeof part !== "object") continue;
      const url = typeof part.image_url === "string" ? part.image_url : part.image_url?.url;
      if (typeof url === "string" && url.startsWith("data:")) chars += url.length;
      if (typeof part.input_audio?.data === "string") chars += part.input_audio.data.length;
      const file = part.file ?? part;
      if (typeof file?.file_data === "string") chars += file.file_data.length;
    }
  }
  return chars;
}

/** The fewest input tokens a body of `bodyChars` characters can hold (the hard limits' floor). */
export function sizeFloorTokens(bodyChars: number, body: ChatBody): number {
  return Math.ceil(Math.max(0, bodyChars - binaryChars(body)) / FLOOR_CHARS_PER_TOKEN);
}
