import type { ChatBody, ChatMessage } from "../request/parse.js";
import { noCounterpart, type AnthropicBlock, type MessagesBody } from "./anthropic.js";

/**
 * An Anthropic Messages request as an OpenAI chat request, for a model whose upstream speaks
 * OpenAI's API: `system` becomes a system message, `tool_result` blocks tool messages, `tool_use`
 * blocks tool calls, image blocks image parts. What changes the answer and has no counterpart
 * (extended thinking, `top_k`, documents, server tools) is a 400 naming the field. `cache_control`
 * marks are dropped: they ask for a price, not an answer, and OpenAI caches prompts by itself.
 */

/** Fields with a value that means "nothing asked": accepted, and not sent. */
const NEUTRAL: Record<string, (value: unknown) => boolean> = {
  thinking: (v) => (v as { type?: unknown } | null)?.type === "disabled",
  service_tier: (v) => v === "auto",
};

const TRANSLATED = new Set(["model", "messages", "system", "max_tokens", "stream", "temperature", "top_p", "stop_sequences", "metadata", "tools", "tool_choice", "cache_control"]);

export function messagesToChat(body: MessagesBody): ChatBody {
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined || value === null || TRANSLATED.has(field)) continue;
    if (!NEUTRAL[field]?.(value)) throw noCounterpart(field, "OpenAI");
  }
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) {
    const system = typeof body.system === "string" ? body.system : body.system.map((b, i) => textOf(b, `system[${i}]`)).join("\n\n");
    messages.push({ role: "system", content: system });
  }
  body.messages.forEach((message, i) => messages.push(...turnOf(message.role, message.content, i)));
  const out: ChatBody = { model: body.model, messages, max_tokens: body.max_tokens };
  if (body.stream === true) out.stream = true;
  if (typeof body.temperature === "number") out.temperature = body.temperature;
  if (typeof body.top_p === "number") out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) {
    if (body.stop_sequences.length > 4) throw noCounterpart("stop_sequences", "OpenAI", "holds more than the 4 stop sequences allowed");
    out.stop = body.stop_sequences;
  }
  const user = (body.metadata as { user_id?: unknown } | undefined)?.user_id;
  if (typeof user === "string") out.user = user;
  if (Array.isArray(body.tools) && body.tools.length > 0) out.tools = body.tools.map(toolOf);
  if (body.tool_choice != null) Object.assign(out, toolChoiceOf(body.tool_choice as Record<string, unknown>));
  return out;
}

function textOf(block: AnthropicBlock, field: string): string {
  if (block.type !== "text" || typeof block.text !== "string") throw noCounterpart(field, "OpenAI", `(a ${block.type} block) has no counterpart here`);
  return block.text;
}

/** One Anthropic turn as chat messages: a user turn's tool results come first, each its own tool message. */
function turnOf(role: "user" | "assistant" | "system", content: string | AnthropicBlock[], i: number): ChatMessage[] {
  if (typeof content === "string") return [{ role, content }];
  if (role === "system") return [{ role, content: content.map((b, j) => textOf(b, `messages[${i}].content[${j}]`)).join("\n\n") }];
  const out: ChatMessage[] = [];
  const parts: Array<Record<string, unknown>> = [];
  const calls: unknown[] = [];
  content.forEach((block, j) => {
    const field = `messages[${i}].content[${j}]`;
    if (block.type === "text") parts.push({ type: "text", text: block.text });
    else if (block.type === "image" && role === "user") parts.push(imagePart(block, field));
    else if (block.type === "tool_use" && role === "assistant") calls.push({ id: block.id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    else if (block.type === "tool_result" && role === "user") out.push({ role: "tool", tool_call_id: String(block.tool_use_id), content: resultText(block, field) });
    else throw noCounterpart(field, "OpenAI", `(a ${block.type} block) has no counterpart`);
  });
  if (role === "assistant") {
    const text = parts.map((p) => p.text).join("");
    const message: ChatMessage = { role, content: text === "" && calls.length > 0 ? null : text };
    if (calls.length > 0) message.tool_calls = calls;
    out.push(message);
  } else if (parts.length > 0) out.push({ role, content: parts });
  return out;
}

function imagePart(block: AnthropicBlock, field: string): Record<string, unknown> {
  const source = block.source as { type?: unknown; media_type?: unknown; data?: unknown; url?: unknown } | undefined;
  if (source?.type === "base64") return { type: "image_url", image_url: { url: `data:${String(source.media_type)};base64,${String(source.data)}` } };
  if (source?.type === "url") return { type: "image_url", image_url: { url: source.url } };
  throw noCounterpart(`${field}.source`, "OpenAI", "(an image source other than base64 or a URL) has no counterpart");
}

function resultText(block: AnthropicBlock, field: string): string {
  const text = block.content;
  const body = typeof text === "string" ? text : Array.isArray(text) ? (text as AnthropicBlock[]).map((b, k) => textOf(b, `${field}.content[${k}]`)).join("\n") : "";
  // OpenAI's tool message has no error flag: the result says so in its text.
  return block.is_error === true ? `Error: ${body}` : body;
}

function toolOf(tool: Record<string, unknown>, i: number): Record<string, unknown> {
  if (tool.type !== undefined && tool.type !== "custom") throw noCounterpart(`tools[${i}]`, "OpenAI", `(the server tool ${String(tool.type)}) has no counterpart`);
  const fn: Record<string, unknown> = { name: tool.name, parameters: tool.input_schema };
  if (typeof tool.description === "string") fn.description = tool.description;
  return { type: "function", function: fn };
}

function toolChoiceOf(choice: Record<string, unknown>): Partial<ChatBody> {
  const out: Partial<ChatBody> = {};
  if (choice.type === "auto") out.tool_choice = "auto";
  else if (choice.type === "any") out.tool_choice = "required";
  else if (choice.type === "none") out.tool_choice = "none";
  else if (choice.type === "tool") out.tool_choice = { type: "function", function: { name: choice.name } };
  else throw noCounterpart("tool_choice", "OpenAI", `(of type ${String(choice.type)}) has no counterpart`);
  if (choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  return out;
}
