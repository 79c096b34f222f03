import type { ChatBody, ChatMessage } from "../request/parse.js";
import { noCounterpart, splitDataUrl, type AnthropicBlock, type AnthropicMessage } from "./anthropic.js";

/**
 * An OpenAI chat request as an Anthropic Messages request, for a model whose upstream speaks
 * Anthropic's API: system and developer messages become `system`, tool results user turns of
 * `tool_result` blocks, tool calls `tool_use` blocks, images image blocks. A field that changes
 * the answer and has no counterpart (`n > 1`, audio, logprobs, penalties...) is a 400 naming it.
 */

/** Fields with a value that means "nothing asked": accepted, and not sent. */
const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  n: (v) => v === 1,
  logprobs: (v) => v === false,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  store: (v) => v === false,
  modalities: (v) => Array.isArray(v) && v.every((m) => m === "text"),
  response_format: (v) => (v as { type?: unknown } | null)?.type === "text",
  service_tier: (v) => v === "auto" || v === "default",
  parallel_tool_calls: () => true,
};

/** Fields that only tag a request (for the client's own bookkeeping) and cannot change its answer. */
const TAGS = new Set(["metadata", "prompt_cache_key", "safety_identifier", "stream_options"]);

/** Fields translated below. */
const TRANSLATED = new Set(["model", "messages", "max_tokens", "max_completion_tokens", "stream", "temperature", "top_p", "stop", "user", "tools", "tool_choice"]);

export function chatToMessages(body: ChatBody, maxTokens: number): Record<string, unknown> {
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null || TRANSLATED.has(field) || TAGS.has(field)) continue;
    if (!NEUTRAL[field]?.(value)) throw noCounterpart(field, "Anthropic");
  }
  const out: Record<string, unknown> = { model: body.model, max_tokens: body.max_completion_tokens ?? body.max_tokens ?? maxTokens };
  const system: AnthropicBlock[] = [];
  const messages: AnthropicMessage[] = [];
  body.messages.forEach((message, i) => {
    if (message.role === "system" || message.role === "developer") system.push(...textBlocks(message.content, `messages[${i}].content`));
    else push(messages, message.role === "assistant" ? "assistant" : "user", blocksOf(message, i));
  });
  if (system.length > 0) out.system = system;
  out.messages = messages;
  if (body.stream === true) out.stream = true;
  if (typeof body.temperature === "number") {
    if (body.temperature > 1) throw noCounterpart("temperature", "Anthropic", "above 1");
    out.temperature = body.temperature;
  }
  if (typeof body.top_p === "number") out.top_p = body.top_p;
  if (body.stop != null) out.stop_sequences = Array.isArray(body.stop) ? body.stop : [body.stop];
  if (typeof body.user === "string") out.metadata = { user_id: body.user };
  if (Array.isArray(body.tools) && body.tools.length > 0) out.tools = body.tools.map(toolOf);
  const choice = toolChoiceOf(body.tool_choice, body.parallel_tool_calls === false);
  if (choice) out.tool_choice = choice;
  return out;
}

/** Consecutive turns of one role are one Anthropic message (tool results and the user's next words). */
function push(messages: AnthropicMessage[], role: "user" | "assistant", blocks: AnthropicBlock[]): void {
  const last = messages.at(-1);
  if (last && last.role === role) (last.content as AnthropicBlock[]).push(...blocks);
  else messages.push({ role, content: blocks });
}

function textBlocks(content: unknown, field: string): AnthropicBlock[] {
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
  if (!Array.isArray(content)) return [];
  return content.map((part: Record<string, unknown>, j) => {
    if (part.type === "text") return { type: "text", text: part.text };
    throw noCounterpart(`${field}[${j}]`, "Anthropic", `(a ${String(part.type)} part) has no counterpart here`);
  });
}

function blocksOf(message: ChatMessage, i: number): AnthropicBlock[] {
  const field = `messages[${i}]`;
  if (message.role === "function" || message.function_call != null) throw noCounterpart(`${field}.function_call`, "Anthropic", "(the legacy function call) has no counterpart");
  if (message.role === "tool") {
    const text = textBlocks(message.content, `${field}.content`);
    return [{ type: "tool_result", tool_use_id: message.tool_call_id, content: text }];
  }
  const blocks: AnthropicBlock[] = [];
  if (typeof message.content === "string") {
    if (message.content !== "") blocks.push({ type: "text", text: message.content });
  } else if (Array.isArray(message.content)) {
    message.content.forEach((part: Record<string, unknown>, j) => blocks.push(partOf(part, `${field}.content[${j}]`)));
  }
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((call: { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } }, j) => {
      if (call.type !== "function") throw noCounterpart(`${field}.tool_calls[${j}]`, "Anthropic", "(not a function call) has no counterpart");
      blocks.push({ type: "tool_use", id: call.id, name: call.function?.name, input: parseArguments(call.function?.arguments, `${field}.tool_calls[${j}].function.arguments`) });
    });
  }
  return blocks;
}

function parseArguments(text: unknown, field: string): unknown {
  if (typeof text !== "string" || text === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw noCounterpart(field, "Anthropic", "is not JSON, and tool input");
  }
}

function partOf(part: Record<string, unknown>, field: string): AnthropicBlock {
  if (part.type === "text") return { type: "text", text: part.text };
  if (part.type === "image_url") {
    const image = part.image_url as { url?: unknown } | string | undefined;
    const url = typeof image === "string" ? image : image?.url;
    if (typeof url !== "string") throw noCounterpart(`${field}.image_url`, "Anthropic", "is not a URL, and an image");
    const data = splitDataUrl(url);
    return { type: "image", source: data ? { type: "base64", ...data } : { type: "url", url } };
  }
  throw noCounterpart(field, "Anthropic", `(a ${String(part.type)} part) has no counterpart`);
}

function toolOf(tool: unknown, i: number): Record<string, unknown> {
  const t = tool as { type?: unknown; function?: { name?: unknown; description?: unknown; parameters?: unknown } };
  if (t.type !== "function" || !t.function) throw noCounterpart(`tools[${i}]`, "Anthropic", "(not a function tool) has no counterpart");
  const out: Record<string, unknown> = { name: t.function.name, input_schema: t.function.parameters ?? { type: "object", properties: {} } };
  if (typeof t.function.description === "string") out.description = t.function.description;
  return out;
}

function toolChoiceOf(choice: unknown, noParallel: boolean): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  if (choice === "auto") out = { type: "auto" };
  else if (choice === "none") out = { type: "none" };
  else if (choice === "required") out = { type: "any" };
  else if (choice !== undefined && choice !== null) {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name !== "string") throw noCounterpart("tool_choice", "Anthropic", "(not a function) has no counterpart");
    out = { type: "tool", name };
  }
  if (noParallel) out = { ...(out ?? { type: "auto" }), disable_parallel_tool_use: true };
  return out;
}
