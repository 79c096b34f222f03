import { scanJson, type ScannedJson } from "./json-scan.js";
import { ProxyError } from "../errors.js";
import { protectBigIntegers } from "./big-integers.js";

/**
 * Parses and validates a chat completion body. Only the fields the proxy reads are checked;
 * every other field passes through to the upstream untouched.
 */

export interface ChatMessage {
  role: string;
  content?: unknown;
  name?: string;
  tool_calls?: unknown;
  tool_call_id?: string;
  [field: string]: unknown;
}

export interface ChatBody {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean; [field: string]: unknown } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  n?: number | null;
  tools?: unknown[];
  response_format?: { type?: string; [field: string]: unknown };
  [field: string]: unknown;
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);
export const MAX_N = 128;
/** OpenAI's own bound on output limits; it also keeps `tokens × n × price` far inside Redis' 64-bit counters. */
export const MAX_OUTPUT_TOKENS = 2 ** 31 - 1;
/**
 * JSON.parse reads any depth, but JSON.stringify and other recursive walks overflow the stack on
 * a body nested some thousands deep (the proxy re-serializes every body it forwards). 128 levels,
 * serde_json's default, leaves room for any real JSON schema.
 */
export const MAX_DEPTH = 128;

export function invalid(message: string, param: string | null): ProxyError {
  return new ProxyError("invalid_request", message, param);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function checkOptionalNumber(body: Record<string, unknown>, field: string, min: number, max: number, integer: boolean): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalid(`'${field}' must be a number, got ${describe(value)}`, field);
  }
  if (integer && !Number.isInteger(value)) throw invalid(`'${field}' must be an integer, got ${value}`, field);
  if (value < min || value > max) throw invalid(`'${field}' must be between ${min} and ${max}, got ${value}`, field);
}

/**
 * True when JSON text nests objects or arrays more than `max` levels deep, read from the text
 * before it is parsed (json-scan.ts): one linear pass, so a body nested millions deep is refused
 * for the cost of reading it, never parsed or walked.
 */
export function textNestedDeeperThan(text: string, max: number): boolean {
  return scanJson(text).maxDepth > max;
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? "a string" : typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function checkContent(content: unknown, role: string, param: string): void {
  if (typeof content === "string") return;
  if (content === null || content === undefined) {
    // An assistant turn that only calls tools carries no content.
    if (role === "assistant" || role === "function") return;
    throw invalid(`'${param}' is required for role '${role}'`, param);
  }
  if (!Array.isArray(content)) throw invalid(`'${param}' must be a string or an array of content parts, got ${describe(content)}`, param);
  content.forEach((part, i) => {
    if (!isObject(part) || typeof part.type !== "string") {
      throw invalid(`'${param}[${i}]' must be an object with a string 'type'`, `${param}[${i}]`);
    }
    if (part.type === "text" && typeof part.text !== "string") {
      throw invalid(`'${param}[${i}].text' must be a string`, `${param}[${i}].text`);
    }
  });
}

function checkMessages(value: unknown): asserts value is ChatMessage[] {
  if (value === undefined) throw invalid("'messages' is required", "messages");
  if (!Array.isArray(value)) throw invalid(`'messages' must be an array, got ${describe(value)}`, "messages");
  if (value.length === 0) throw invalid("'messages' must contain at least one message", "messages");
  value.forEach((message: unknown, i) => {
    const param = `messages[${i}]`;
    if (!isObject(message)) throw invalid(`'${param}' must be an object, got ${describe(message)}`, param);
    if (typeof message.role !== "string" || !ROLES.has(message.role)) {
      throw invalid(`'${param}.role' must be one of ${[...ROLES].join(", ")}`, `${param}.role`);
    }
    checkContent(message.content, message.role, `${param}.content`);
    if (message.name !== undefined && typeof message.name !== "string") throw invalid(`'${param}.name' must be a string`, `${param}.name`);
    if (message.tool_calls !== undefined && message.tool_calls !== null && !Array.isArray(message.tool_calls)) {
      throw invalid(`'${param}.tool_calls' must be an array`, `${param}.tool_calls`);
    }
  });
}

/** Validates a parsed JSON value as a chat completion request. */
export function validateChatBody(value: unknown): ChatBody {
  if (!isObject(value)) throw invalid(`the request body must be a JSON object, got ${describe(value)}`, null);
  if (value.model === undefined) throw invalid("'model' is required", "model");
  if (typeof value.model !== "string" || value.model.length === 0) throw invalid("'model' must be a non-empty string", "model");
  checkMessages(value.messages);
  if (value.stream !== undefined && value.stream !== null && typeof value.stream !== "boolean") {
    throw invalid(`'stream' must be a boolean, got ${describe(value.stream)}`, "stream");
  }
  if (value.stream_options !== undefined && value.stream_options !== null) {
    if (!isObject(value.stream_options)) throw invalid("'stream_options' must be an object", "stream_options");
    const include = value.stream_options.include_usage;
    if (include !== undefined && typeof include !== "boolean") {
      throw invalid("'stream_options.include_usage' must be a boolean", "stream_options.include_usage");
    }
  }
  checkOptionalNumber(value, "max_tokens", 1, MAX_OUTPUT_TOKENS, true);
  checkOptionalNumber(value, "max_completion_tokens", 1, MAX_OUTPUT_TOKENS, true);
  checkOptionalNumber(value, "temperature", 0, 2, false);
  checkOptionalNumber(value, "top_p", 0, 1, false);
  checkOptionalNumber(value, "n", 1, MAX_N, true);
  if (value.tools !== undefined && value.tools !== null && !Array.isArray(value.tools)) {
    throw invalid(`'tools' must be an array, got ${describe(value.tools)}`, "tools");
  }
  if (value.response_format !== undefined && value.response_format !== null && !isObject(value.response_format)) {
    throw invalid(`'response_format' must be an object, got ${describe(value.response_format)}`, "response_format");
  }
  return value as ChatBody;
}

/**
 * Parses request text as JSON, refusing over-deep nesting before parsing. `scanned` is what a scan
 * of its bytes found as they arrived (server/node-request.ts); without it the text is scanned here.
 */
export function parseJsonBody(text: string, scanned: ScannedJson = scanJson(text)): unknown {
  if (scanned.maxDepth > MAX_DEPTH) throw invalid(`the request body is nested more than ${MAX_DEPTH} levels deep`, null);
  try {
    return JSON.parse(scanned.longDigitRun ? protectBigIntegers(text) : text);
  } catch (err) {
    throw new ProxyError("invalid_json", `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Parses request text as JSON and validates it. */
export function parseChatBody(text: string): ChatBody {
  return validateChatBody(parseJsonBody(text));
}

export const isChatObject = isObject;
