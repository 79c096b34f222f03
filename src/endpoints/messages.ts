import { checkOptionalNumber, describe, invalid, isChatObject, type ChatBody, type ChatMessage } from "../request/parse.js";
import type { AnthropicBlock, MessagesBody } from "../translate/anthropic.js";
import { checkOutputLimit, validateCommon } from "./common.js";
import type { EndpointShape } from "./shape.js";

export type { MessagesBody } from "../translate/anthropic.js";

/** Validates a Messages body: the fields tollgate reads; the rest is the upstream's to judge. */
export function validateMessagesBody(value: unknown): MessagesBody {
  const body = validateCommon(value);
  if (body.max_tokens === undefined) throw invalid("'max_tokens' is required", "max_tokens");
  checkOutputLimit(body, "max_tokens");
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw invalid("'messages' must be a non-empty array", "messages");
  messages.forEach((message: unknown, i) => {
    const field = `messages.${i}`;
    if (!isChatObject(message)) throw invalid(`'${field}' must be an object, got ${describe(message)}`, field);
    // Claude Code also sends system turns between the others.
    if (message.role !== "user" && message.role !== "assistant" && message.role !== "system") throw invalid(`'${field}.role' must be user, assistant or system`, `${field}.role`);
    checkBlocks(message.content, `${field}.content`);
  });
  if (body.system !== undefined && typeof body.system !== "string") checkBlocks(body.system, "system");
  if (body.tools !== undefined && !(Array.isArray(body.tools) && body.tools.every(isChatObject))) throw invalid("'tools' must be an array of objects", "tools");
  checkOptionalNumber(body, "temperature", 0, 1, false);
  checkOptionalNumber(body, "top_p", 0, 1, false);
  checkOptionalNumber(body, "top_k", 0, Number.MAX_SAFE_INTEGER, true);
  if (body.stop_sequences !== undefined && !(Array.isArray(body.stop_sequences) && body.stop_sequences.every((s) => typeof s === "string"))) {
    throw invalid("'stop_sequences' must be an array of strings", "stop_sequences");
  }
  const thinking = body.thinking;
  if (thinking !== undefined && (!isChatObject(thinking) || typeof thinking.type !== "string")) throw invalid("'thinking' must be an object with a string 'type'", "thinking");
  if (isChatObject(thinking) && thinking.type === "enabled") {
    const budget = thinking.budget_tokens;
    if (typeof budget !== "number" || !Number.isInteger(budget) || budget < 1 || budget >= (body.max_tokens as number)) {
      throw invalid("'thinking.budget_tokens' must be an integer below 'max_tokens'", "thinking.budget_tokens");
    }
  }
  return body as MessagesBody;
}

function checkBlocks(content: unknown, field: string): void {
  if (typeof content === "string") return;
  if (!Array.isArray(content)) throw invalid(`'${field}' must be a string or an array of content blocks, got ${describe(content)}`, field);
  content.forEach((block: unknown, j) => {
    if (!isChatObject(block) || typeof block.type !== "string") throw invalid(`'${field}.${j}' must be an object with a string 'type'`, `${field}.${j}`);
    if (block.type === "text" && typeof block.text !== "string") throw invalid(`'${field}.${j}.text' must be a string`, `${field}.${j}.text`);
  });
}

/**
 * The prompt as a chat body, for routing and counting only (never sent): every block as the part
 * the counter prices the same way (text, images by their size, documents by theirs) and anything
 * else by its JSON text, so no block is free. Tools and the tool choice are counted by their text.
 * The thinking budget is output, inside `max_tokens`, which the hold covers whole.
 */
export function messagesPrompt(body: MessagesBody): ChatBody {
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) messages.push({ role: "system", content: typeof body.system === "string" ? body.system : body.system.map(partOf) });
  for (const message of body.messages) messages.push({ role: message.role, content: typeof message.content === "string" ? message.content : message.content.map(partOf) });
  const view: ChatBody = { model: body.model, messages, max_tokens: body.max_tokens };
  if (body.tools !== undefined) view.tools = body.tools;
  if (body.tool_choice !== undefined) view.tool_choice = body.tool_choice;
  return view;
}

function partOf(block: AnthropicBlock): Record<string, unknown> {
  const source = block.source as { type?: unknown; media_type?: unknown; data?: unknown; url?: unknown } | undefined;
  switch (block.type) {
    case "text":
      return { type: "text", text: block.text };
    case "thinking":
      return { type: "text", text: String(block.thinking ?? "") };
    case "image":
      return { type: "image_url", image_url: { url: source?.type === "base64" ? `data:${String(source.media_type)};base64,${String(source.data)}` : String(source?.url ?? "") } };
    case "document":
      if (source?.type === "base64") return { type: "file", file: { file_data: source.data } };
      if (source?.type === "text") return { type: "text", text: String(source.data ?? "") };
      return { type: "text", text: JSON.stringify(block) };
    case "tool_result":
      return { type: "text", text: typeof block.content === "string" ? block.content : JSON.stringify(block.content ?? "") };
    default:
      return { type: "text", text: JSON.stringify(block) };
  }
}

/** POST /v1/messages: Anthropic's Messages API, routed, budgeted, streamed and costed like chat. */
export const messagesShape: EndpointShape<MessagesBody> = {
  name: "messages",
  path: "/messages",
  validate: validateMessagesBody,
  view: messagesPrompt,
  rewritable: false,
  outputLimit: (body) => body.max_tokens,
  withOutputLimit: (body, tokens) => ({ ...body, max_tokens: tokens }),
  choices: () => 1,
  adapt(body, model, upstreamModel) {
    const out: Record<string, unknown> = { ...body, model: upstreamModel };
    for (const param of model.drop_params) delete out[param];
    return out;
  },
  streamDialect: "anthropic",
  modelKind: "chat",
  protocol: "anthropic",
  cache: "never",
};
