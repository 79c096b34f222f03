import { getEncoding, type Tiktoken, type TiktokenEncoding } from "js-tiktoken";

/**
 * Token counts for chat prompts (SPEC 7): js-tiktoken with the model's encoding and the chat
 * overhead of 3 tokens per message, 1 per `name`, 3 for the reply primer.
 *
 * Counting sits on the hot path, so it must never stall the event loop:
 * - counts are cached per message content, so a conversation resent each turn costs only its new message,
 *   and the messages whose texts are all known are counted without a promise each;
 * - long text is counted in slices of SLICE characters (a millisecond or two of tokenizer work),
 *   yielding to the event loop between them, so requests beside a long prompt wait at most that long;
 * - js-tiktoken's merge step is quadratic in the length of one pre-token (a run of 1,000 "x"
 *   takes a quarter of a second), so runs of more than MAX_RUN non-space characters, and runs of
 *   whitespace (4 KB of spaces took two seconds), are counted in MAX_RUN-character pieces. That
 *   can only over-count slightly: the estimate errs high, and the settle step replaces it with
 *   the upstream's real usage.
 * - past EXACT_LIMIT characters of one text (fewer for non-ASCII text, which is slower to count),
 *   the rest is extrapolated from the counted part's
 *   tokens per character (an estimate too, corrected at settle).
 */

export type EncodingName = Extract<TiktokenEncoding, "o200k_base" | "cl100k_base">;

const SLICE = 2048;
const MAX_RUN = 32;
const ASCII = /^[\x00-\x7f]*$/;
const EXACT_LIMIT = 262_144;
/** Non-ASCII text (CJK, emoji) costs the tokenizer about this many times more per character. */
const NON_ASCII_WORK = 16;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1},}|\\s{${MAX_RUN + 1},}`, "g");
const HAS_LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1}}|\\s{${MAX_RUN + 1}}`);

/** Tokens an image part is assumed to cost (a high-detail 512px tile plus base); settle corrects it. */
export const IMAGE_TOKENS = 765;

const encodings = new Map<EncodingName, Tiktoken>();

export function encodingFor(name: EncodingName): Tiktoken {
  let enc = encodings.get(name);
  if (!enc) {
    enc = getEncoding(name);
    encodings.set(name, enc);
  }
  return enc;
}

/** Which encoding a model uses when its configuration does not say. */
export function defaultEncoding(model: string): EncodingName {
  return /^(gpt-4(?!o|\.1|\.5)|gpt-3\.5)/.test(model) ? "cl100k_base" : "o200k_base";
}

/** Counts a short text exactly, splitting over-long runs. */
function countSlice(enc: Tiktoken, text: string): number {
  if (!HAS_LONG_RUN.test(text)) return enc.encode(text, [], []).length;
  let tokens = 0;
  let last = 0;
  for (const match of text.matchAll(LONG_RUN)) {
    if (match.index > last) tokens += enc.encode(text.slice(last, match.index), [], []).length;
    const run = match[0];
    // The merge step's cost grows with bytes, not characters: CJK or emoji take 3-4 bytes each.
    const step = ASCII.test(run) ? MAX_RUN : MAX_RUN / 8;
    for (let i = 0; i < run.length; i += step) tokens += enc.encode(run.slice(i, i + step), [], []).length;
    last = match.index + run.length;
  }
  if (last < text.length) tokens += enc.encode(text.slice(last), [], []).length;
  return tokens;
}

/** Slice boundaries fall on whitespace near SLICE so words are not cut. */
function nextCut(text: string, from: number): number {
  const end = Math.min(text.length, from + SLICE);
  if (end === text.length) return end;
  const space = text.lastIndexOf(" ", end);
  return space > from + SLICE / 2 ? space : end;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function countLongText(enc: Tiktoken, text: string): Promise<number> {
  let tokens = 0;
  let pos = 0;
  let work = 0;
  while (pos < text.length && work < EXACT_LIMIT) {
    const cut = nextCut(text, pos);
    const slice = text.slice(pos, cut);
    tokens += countSlice(enc, slice);
    work += ASCII.test(slice) ? slice.length : slice.length * NON_ASCII_WORK;
    pos = cut;
    await yieldToLoop();
  }
  if (pos < text.length) tokens += Math.ceil(((text.length - pos) * tokens) / pos);
  return tokens;
}

/** Characters of a text its fingerprint reads (all of a shorter text). */
const FINGERPRINT_SAMPLES = 32;
/** Texts sharing one fingerprint the cache keeps at most: a crafted flood of look-alikes stays cheap. */
const MAX_SAME_FINGERPRINT = 8;

/**
 * The cache key of a text: a number from its length and up to FINGERPRINT_SAMPLES of its
 * characters, spread over it. A Map hashes every character of a string key the first time it sees
 * that string, and the texts of a request are new strings (JSON.parse made them), so keying by the
 * text would hash a resent conversation in full on every request. The entry holds the full text,
 * compared with ===, so a count is only ever found for the exact same text.
 */
function fingerprint(text: string): number {
  const n = text.length;
  let h = n ^ 0x811c9dc5;
  const step = n <= FINGERPRINT_SAMPLES ? 1 : n / FINGERPRINT_SAMPLES;
  for (let i = 0; i < n; i += step) h = Math.imul(h ^ text.charCodeAt(i | 0), 0x01000193);
  h = Math.imul(h ^ text.charCodeAt(n - 1), 0x01000193);
  return h & 0x3fffffff;
}

interface CountEntry {
  text: string;
  tokens: number;
  /** Other texts with the same fingerprint (rare: same length, same sampled characters). */
  next?: CountEntry;
}

/** A bounded map from text to its token count; oldest entries leave first. */
class CountCache {
  private readonly map = new Map<number, CountEntry>();
  private entries = 0;
  private chars = 0;

  constructor(
    private readonly maxEntries = 50_000,
    private readonly maxChars = 64 * 1024 * 1024,
  ) {}

  get(text: string): number | undefined {
    for (let e = this.map.get(fingerprint(text)); e; e = e.next) if (e.text === text) return e.tokens;
    return undefined;
  }

  set(text: string, tokens: number): void {
    if (text.length > this.maxChars / 4) return;
    const key = fingerprint(text);
    const first = this.map.get(key);
    let same = 0;
    for (let e = first; e; e = e.next, same++) if (e.text === text) return;
    if (same >= MAX_SAME_FINGERPRINT) return;
    // Re-inserted, so the key moves to the newest end of the eviction order.
    if (first) this.map.delete(key);
    this.map.set(key, { text, tokens, next: first });
    this.entries++;
    this.chars += text.length;
    while (this.entries > this.maxEntries || this.chars > this.maxChars) {
      const [oldestKey, oldest] = this.map.entries().next().value as [number, CountEntry];
      this.map.delete(oldestKey);
      for (let e: CountEntry | undefined = oldest; e; e = e.next) {
        this.entries--;
        this.chars -= e.text.length;
      }
    }
  }
}

const caches = new Map<EncodingName, CountCache>();

function cacheFor(name: EncodingName): CountCache {
  let cache = caches.get(name);
  if (!cache) {
    cache = new CountCache();
    caches.set(name, cache);
  }
  return cache;
}

/** Tokens of a text if they can be had without waiting: cached, or short enough to count at once. */
function textTokensNow(text: string, encoding: EncodingName): number | undefined {
  if (text.length === 0) return 0;
  const cache = cacheFor(encoding);
  const cached = cache.get(text);
  if (cached !== undefined) return cached;
  if (text.length > SLICE) return undefined;
  const tokens = countSlice(encodingFor(encoding), text);
  cache.set(text, tokens);
  return tokens;
}

/** Tokens in one text; cached, and never a long stall. */
export async function countTextTokens(text: string, encoding: EncodingName): Promise<number> {
  const now = textTokensNow(text, encoding);
  if (now !== undefined) return now;
  const tokens = await countLongText(encodingFor(encoding), text);
  cacheFor(encoding).set(text, tokens);
  return tokens;
}

/** Sync variant for text already known to be short (streamed deltas, names). */
export function countShortTextTokens(text: string, encoding: EncodingName): number {
  if (text.length === 0) return 0;
  const cache = cacheFor(encoding);
  const cached = cache.get(text);
  if (cached !== undefined) return cached;
  const tokens = countSlice(encodingFor(encoding), text);
  if (text.length <= SLICE) cache.set(text, tokens);
  return tokens;
}

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
 * The tokens of one content part beyond its text: images at their fixed price, audio and files by
 * their size. A part of a type nobody knows yet counts by its JSON text, so a new kind of part
 * cannot be free.
 */
function partCost(part: Record<string, unknown>, texts: string[]): number {
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
      const image = part.image_url as { detail?: unknown } | string | undefined;
      const detail = typeof image === "object" && image !== null ? image.detail : part.detail;
      return detail === "low" ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS;
    }
    case "input_audio":
      return base64Tokens((part.input_audio as { data?: unknown } | undefined)?.data);
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
function messageTexts(message: ChatMessageLike): { texts: string[]; fixed: number } {
  const texts: string[] = [];
  let fixed = TOKENS_PER_MESSAGE;
  const content = message.content;
  if (typeof content === "string") texts.push(content);
  else if (Array.isArray(content)) {
    for (const part of content as Array<Record<string, unknown>>) {
      if (part === null || typeof part !== "object") continue;
      fixed += partCost(part, texts);
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
 */
interface MessageCount {
  role: unknown;
  content: unknown;
  name: unknown;
  toolCalls: unknown;
  tokens: Partial<Record<EncodingName, number>>;
}

const messageCounts = new WeakMap<object, MessageCount>();

const sameFields = (seen: MessageCount, m: ChatMessageLike) =>
  seen.content === m.content && seen.role === m.role && seen.name === m.name && seen.toolCalls === m.tool_calls;

/** Parts of an array content or tool calls may be edited in place: only a message of plain text is remembered. */
const rememberable = (m: ChatMessageLike) =>
  typeof m === "object" && m !== null && (typeof m.content === "string" || m.content == null) && m.tool_calls == null && m.function_call == null;

function rememberedCount(message: ChatMessageLike, encoding: EncodingName): number | undefined {
  if (!rememberable(message)) return undefined;
  const seen = messageCounts.get(message);
  return seen && sameFields(seen, message) ? seen.tokens[encoding] : undefined;
}

function remember(message: ChatMessageLike, encoding: EncodingName, tokens: number): void {
  if (!rememberable(message)) return;
  let seen = messageCounts.get(message);
  if (!seen || !sameFields(seen, message)) {
    seen = { role: message.role, content: message.content, name: message.name, toolCalls: message.tool_calls, tokens: {} };
    messageCounts.set(message, seen);
  }
  seen.tokens[encoding] = tokens;
}

/**
 * Tokens of a message if they can be had without waiting (every text cached or short). Counting
 * a prompt whose texts are all known then costs no promise per message: in a conversation resent
 * each turn, that is every message but the newest.
 */
function messageTokensNow(message: ChatMessageLike, encoding: EncodingName): number | undefined {
  const remembered = rememberedCount(message, encoding);
  if (remembered !== undefined) return remembered;
  let tokens = typeof message.role === "string" ? countShortTextTokens(message.role, encoding) : 0;
  const { texts, fixed } = messageTexts(message);
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
export async function countMessageTokens(message: ChatMessageLike, encoding: EncodingName): Promise<number> {
  const now = messageTokensNow(message, encoding);
  if (now !== undefined) return now;
  let tokens = typeof message.role === "string" ? countShortTextTokens(message.role, encoding) : 0;
  const { texts, fixed } = messageTexts(message);
  tokens += fixed;
  for (const text of texts) tokens += await countTextTokens(text, encoding);
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
export async function countMessagesTokens(messages: readonly ChatMessageLike[], encoding: EncodingName): Promise<number[]> {
  const counts = new Array<number>(messages.length);
  let sliceStart = performance.now();
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    counts[i] = messageTokensNow(message, encoding) ?? (await countMessageTokens(message, encoding));
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

/** Loads the encodings before the first request needs them (loading takes about a second). */
export function warmEncodings(names: Iterable<EncodingName>): void {
  for (const name of new Set(names)) encodingFor(name);
}
