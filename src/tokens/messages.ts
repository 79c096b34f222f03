import { countShortTextTokens, countTextTokens, textTokensNow, yieldToLoop, type EncodingName } from "./count.js";
import { dataUrlImageSize, DEFAULT_IMAGE_FORMULA, imageTokens, inputAudioTokens, type ImageFormula } from "./media.js";

/**
 * Tokens of chat messages and prompts (SPEC 7): each message's texts (count.ts), its parts
 * (images by their size and the model's formula, audio by its duration, files by their size; see
 * media.ts), and the chat overhead of 3 tokens per message, 1 per
 * `name`, 3 for the reply primer. Counts are remembered per message object, so a conversation
 * resent each turn costs only its new message.
 */

/** Tokens an image of unknown size is held at on gpt-4o's formula: high detail, the most tiles (8). */
export const IMAGE_TOKENS = imageTokens(DEFAULT_IMAGE_FORMULA, undefined, undefined, "high");

export interface ChatMessageLike {
  role?: unknown;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
  function_call?: unknown;
}

export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMER_TOKENS = 3;

/** Tokens a low-detail image costs, whatever its size. */
export const LOW_DETAIL_IMAGE_TOKENS = 85;

/**
 * Binary payloads in content parts (base64 audio, files) are billed by what they decode to, not by
 * their text: a rough count per character of base64, high rather than low; settle corrects it.
 */
const BASE64_CHARS_PER_TOKEN = 16;

function base64Tokens(data: unknown): number {
  return typeof data === "string" ? Math.ceil(data.length / BASE64_CHARS_PER_TOKEN) : 0;
}

/**
 * The tokens of one content part beyond its text: images by their size and detail on the model's
 * formula, audio by its duration, files by their size. A part of a type nobody knows yet counts by
 * its JSON text, so a new kind of part cannot be free.
 */
function partCost(part: Record<string, unknown>, texts: string[], images: ImageFormula): number {
  switch (part.type) {
    case "text":
    case "input_text":
    case "output_text":
    case "refusal":
      if (typeof part.text === "string") texts.push(part.text);
      if (typeof part.refusal === "string") texts.push(part.refusal);
      return 0;
    case "image_url":
    case "input_image": {
      const image = part.image_url as { detail?: unknown; url?: unknown } | string | undefined;
      const detail = typeof image === "object" && image !== null ? image.detail : part.detail;
      const url = typeof image === "string" ? image : typeof image?.url === "string" ? image.url : undefined;
      const size = url !== undefined && detail !== "low" ? dataUrlImageSize(url) : undefined;
      return imageTokens(images, size?.width, size?.height, detail);
    }
    case "input_audio":
      return inputAudioTokens(part.input_audio as { data?: unknown; format?: unknown } | undefined);
    case "file":
    case "input_file": {
      const file = (part.file as Record<string, unknown> | undefined) ?? part;
      if (typeof file.file_data === "string") return base64Tokens(file.file_data);
      texts.push(JSON.stringify(part));
      return 0;
    }
    default:
      texts.push(JSON.stringify(part));
      return 0;
  }
}

/** The texts of a message that are counted, each with the tokens it adds beyond its own count. */
function messageTexts(message: ChatMessageLike, images: ImageFormula): { texts: string[]; fixed: number } {
  const texts: string[] = [];
  let fixed = TOKENS_PER_MESSAGE;
  const content = message.content;
  if (typeof content === "string") texts.push(content);
  else if (Array.isArray(content)) {
    for (const part of content as Array<Record<string, unknown>>) {
      if (part === null || typeof part !== "object") continue;
      fixed += partCost(part, texts, images);
    }
  }
  if (typeof message.name === "string") {
    texts.push(message.name);
    fixed += TOKENS_PER_NAME;
  }
  if (message.tool_calls !== undefined && message.tool_calls !== null) texts.push(JSON.stringify(message.tool_calls));
  if (message.function_call !== undefined && message.function_call !== null) texts.push(JSON.stringify(message.function_call));
  return { texts, fixed };
}

/**
 * A request counts its prompt several times (routing, context fit, the estimate of each model
 * tried, the trace), so each message object keeps its count per encoding for as long as it lives.
 * The fields counted are kept with it, and a message whose content, name or tool calls were
 * replaced since is counted again.
 *
 * The count is a hidden property of the message (a symbol, not enumerable: no spread, key listing
 * or serialisation sees it) rather than a WeakMap entry: every request parses new message objects,
 * and a WeakMap entry for each cost about 2 µs to add and weighs on every garbage collection.
 */
interface MessageCount {
  role: unknown;
  content: unknown;
  name: unknown;
  toolCalls: unknown;
  tokens: Partial<Record<EncodingName, number>>;
}

const COUNTED = Symbol("tollgate.messageCount");
type Counted = ChatMessageLike & { [COUNTED]?: MessageCount };

const sameFields = (seen: MessageCount, m: ChatMessageLike) =>
  seen.content === m.content && seen.role === m.role && seen.name === m.name && seen.toolCalls === m.tool_calls;

/** Parts of an array content or tool calls may be edited in place: only a message of plain text is remembered. */
const rememberable = (m: ChatMessageLike) =>
  typeof m === "object" && m !== null && (typeof m.content === "string" || m.content == null) && m.tool_calls == null && m.function_call == null;

function rememberedCount(message: ChatMessageLike, encoding: EncodingName): number | undefined {
  if (!rememberable(message)) return undefined;
  const seen = (message as Counted)[COUNTED];
  return seen && sameFields(seen, message) ? seen.tokens[encoding] : undefined;
}

function remember(message: ChatMessageLike, encoding: EncodingName, tokens: number): void {
  if (!rememberable(message)) return;
  let seen = (message as Counted)[COUNTED];
  if (!seen || !sameFields(seen, message)) {
    // A frozen message is counted again each time.
    if (!Object.isExtensible(message)) return;
    seen = { role: message.role, content: message.content, name: message.name, toolCalls: message.tool_calls, tokens: {} };
    Object.defineProperty(message, COUNTED, { value: seen, writable: true, configurable: true });
  }
  seen.tokens[encoding] = tokens;
}

/**
 * Tokens of a message if they can be had without waiting (every text cached or short). Counting
 * a prompt whose texts are all known then costs no promise per message: in a conversation resent
 * each turn, that is every message but the newest.
 */
function messageTokensNow(message: ChatMessageLike, encoding: EncodingName, images: ImageFormula): number | undefined {
  const remembered = rememberedCount(message, encoding);
  if (remembered !== undefined) return remembered;
  let tokens = typeof message.role === "string" ? countShortTextTokens(message.role, encoding) : 0;
  const { texts, fixed } = messageTexts(message, images);
  tokens += fixed;
  for (const text of texts) {
    const n = textTokensNow(text, encoding);
    if (n === undefined) return undefined;
    tokens += n;
  }
  remember(message, encoding, tokens);
  return tokens;
}

/** Tokens one message adds to a prompt, its per-message overhead included. */
export async function countMessageTokens(message: ChatMessageLike, encoding: EncodingName, images: ImageFormula = DEFAULT_IMAGE_FORMULA): Promise<number> {
  const now = messageTokensNow(message, encoding, images);
  if (now !== undefined) return now;
  let tokens = typeof message.role === "string" ? countShortTextTokens(message.role, encoding) : 0;
  const { texts, fixed } = messageTexts(message, images);
  tokens += fixed;
  // A message of thousands of parts yields to the event loop as a prompt of thousands of messages does.
  let sliceStart = performance.now();
  for (let i = 0; i < texts.length; i++) {
    tokens += await countTextTokens(texts[i]!, encoding);
    if (i % MESSAGES_PER_LOOK === MESSAGES_PER_LOOK - 1 && performance.now() - sliceStart > COUNT_SLICE_MS) {
      await yieldToLoop();
      sliceStart = performance.now();
    }
  }
  remember(message, encoding, tokens);
  return tokens;
}

/** Longest stretch of counting between two yields to the event loop. */
const COUNT_SLICE_MS = 4;
/** Messages counted between two looks at the clock. */
const MESSAGES_PER_LOOK = 64;

/**
 * Tokens of each message. Known and short messages are counted without a promise each, but a
 * prompt of a hundred thousand of them still takes seconds: the loop yields to the event loop
 * whenever it has counted for COUNT_SLICE_MS, so other requests wait at most that long.
 */
export async function countMessagesTokens(messages: readonly ChatMessageLike[], encoding: EncodingName, images: ImageFormula = DEFAULT_IMAGE_FORMULA): Promise<number[]> {
  const counts = new Array<number>(messages.length);
  let sliceStart = performance.now();
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    counts[i] = messageTokensNow(message, encoding, images) ?? (await countMessageTokens(message, encoding, images));
    if (i % MESSAGES_PER_LOOK === MESSAGES_PER_LOOK - 1 && performance.now() - sliceStart > COUNT_SLICE_MS) {
      await yieldToLoop();
      sliceStart = performance.now();
    }
  }
  return counts;
}

/** Input tokens of a chat prompt, tools included (by their JSON text, approximate). */
export async function countPromptTokens(
  messages: readonly ChatMessageLike[],
  encoding: EncodingName,
  tools?: unknown,
): Promise<number> {
  let tokens = REPLY_PRIMER_TOKENS;
  for (const n of await countMessagesTokens(messages, encoding)) tokens += n;
  if (tools !== undefined) tokens += await countTextTokens(JSON.stringify(tools), encoding);
  return tokens;
}

