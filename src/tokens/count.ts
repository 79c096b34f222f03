import { BpeCounter } from "./bpe.js";

/**
 * Token counts of text (SPEC 7): the model's encoding, over js-tiktoken's ranks (bpe.ts). Chat messages and their
 * overhead are counted in messages.ts.
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

export type EncodingName = "o200k_base" | "cl100k_base";

const SLICE = 2048;
const MAX_RUN = 32;
const ASCII = /^[\x00-\x7f]*$/;
const EXACT_LIMIT = 262_144;
/** Non-ASCII text (CJK, emoji) costs the tokenizer about this many times more per character. */
const NON_ASCII_WORK = 16;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1},}|\\s{${MAX_RUN + 1},}`, "g");
const HAS_LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1}}|\\s{${MAX_RUN + 1}}`);


const encodings = new Map<EncodingName, BpeCounter>();

export function encodingFor(name: EncodingName): BpeCounter {
  let enc = encodings.get(name);
  if (!enc) {
    enc = BpeCounter.load(name);
    encodings.set(name, enc);
  }
  return enc;
}

/** Which encoding a model uses when its configuration does not say. */
export function defaultEncoding(model: string): EncodingName {
  return /^(gpt-4(?!o|\.1|\.5)|gpt-3\.5)/.test(model) ? "cl100k_base" : "o200k_base";
}

/** Counts a short text exactly, splitting over-long runs. */
function countSlice(enc: BpeCounter, text: string): number {
  if (!HAS_LONG_RUN.test(text)) return enc.count(text);
  let tokens = 0;
  let last = 0;
  for (const match of text.matchAll(LONG_RUN)) {
    if (match.index > last) tokens += enc.count(text.slice(last, match.index));
    const run = match[0];
    // The merge step's cost grows with bytes, not characters: CJK or emoji take 3-4 bytes each.
    const step = ASCII.test(run) ? MAX_RUN : MAX_RUN / 8;
    for (let i = 0; i < run.length; i += step) tokens += enc.count(run.slice(i, i + step));
    last = match.index + run.length;
  }
  if (last < text.length) tokens += enc.count(text.slice(last));
  return tokens;
}

/** Slice boundaries fall on whitespace near SLICE so words are not cut. */
function nextCut(text: string, from: number): number {
  const end = Math.min(text.length, from + SLICE);
  if (end === text.length) return end;
  const space = text.lastIndexOf(" ", end);
  return space > from + SLICE / 2 ? space : end;
}

export const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function countLongText(enc: BpeCounter, text: string): Promise<number> {
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
export function textTokensNow(text: string, encoding: EncodingName): number | undefined {
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

/** Loads the encodings before the first request needs them (loading takes about a second). */
export function warmEncodings(names: Iterable<EncodingName>): void {
  for (const name of new Set(names)) encodingFor(name);
}
