import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, isDigit, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "./json-chars.js";

/** What a look at a JSON text's bytes found, so that parsing it need not pass over the text again. */
export interface ScannedJson {
  /** Objects outside strings (each `{`). */
  readonly objects: number;
  /** The deepest nesting of objects and arrays. */
  readonly maxDepth: number;
  /** A run of 16 or more digits outside strings: a number that may not be a safe integer. */
  readonly longDigitRun: boolean;
  /** The strings the scan was asked to notice (`JsonScan`'s `notice`), when it was. */
  readonly noticing?: ReadonlySet<string>;
  /**
   * A string whose raw text is one of `noticing`, or a short one the scan could not read whole (cut
   * between two chunks): what such a string is may matter.
   */
  readonly noticed: boolean;
  /** A `\u` escape in a string: a string whose raw text says one thing and whose value another. */
  readonly unicodeEscape: boolean;
}

/** Digits from which a number may be past 2^53 (big-integers.ts). */
const LONG_RUN = 16;
const LETTER_U = 0x75;
/** Short ASCII strings, byte for character (anything else cannot be a noticed string anyway). */
const latin1 = new TextDecoder("latin1");

/**
 * Scans a JSON text from its bytes, chunk by chunk as they arrive. UTF-8 puts no byte below 0x80
 * inside a multi-byte character, so the bytes are read as they come. Inside a string it jumps from
 * one quote or backslash to the next (`indexOf`, native), so a long prompt costs a few searches,
 * not a step per byte; only the JSON between strings is read byte by byte.
 *
 * Strings in `notice` (ASCII, without escapes) are looked for among the strings, keys or values.
 *
 *   const scan = new JsonScan(new Set(["file_id"]));
 *   for (const chunk of chunks) if (scan.add(chunk) > maxObjects) refuse();
 */
export class JsonScan implements ScannedJson {
  objects = 0;
  maxDepth = 0;
  longDigitRun = false;
  noticed = false;
  unicodeEscape = false;
  private readonly shortest: number;
  private readonly longest: number;
  /** Bytes of the open string read in earlier chunks (it did not start in this one). */
  private carried = 0;
  private depth = 0;
  private inString = false;
  /** The last chunk ended on a backslash inside a string: the next byte is escaped. */
  private escaped = false;
  private digits = 0;

  constructor(readonly noticing?: ReadonlySet<string>) {
    const lengths = [...(noticing ?? [])].map((s) => s.length);
    this.shortest = Math.min(...lengths);
    this.longest = Math.max(...lengths);
  }

  /** Reads the next chunk; returns the objects counted so far. */
  add(bytes: Uint8Array): number {
    const n = bytes.length;
    let i = 0;
    if (this.escaped && n > 0) {
      this.escaped = false;
      if (bytes[0] === LETTER_U) this.unicodeEscape = true;
      i = 1;
    }
    let inString = this.inString;
    // Where the open string's text starts in this chunk (0 when it started in an earlier one).
    let start = 0;
    // The next quote and backslash at or after where they were last looked for (-1: none left).
    let quote = -2;
    let backslash = -2;
    while (i < n) {
      if (inString) {
        if (quote !== -1 && quote < i) quote = bytes.indexOf(QUOTE, i);
        if (backslash !== -1 && backslash < i) backslash = bytes.indexOf(BACKSLASH, i);
        if (backslash !== -1 && (quote === -1 || backslash < quote)) {
          // An escape: the backslash and the byte after it.
          i = backslash + 2;
          if (i > n) this.escaped = true;
          else if (bytes[backslash + 1] === LETTER_U) this.unicodeEscape = true;
          continue;
        }
        if (quote === -1) break;
        if (this.noticing) this.notice(bytes, start, quote);
        inString = false;
        i = quote + 1;
        continue;
      }
      const b = bytes[i]!;
      i++;
      if (isDigit(b)) {
        if (++this.digits >= LONG_RUN) this.longDigitRun = true;
        continue;
      }
      this.digits = 0;
      if (b === QUOTE) {
        inString = true;
        start = i;
        this.carried = 0;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        if (b === OPEN_BRACE) this.objects++;
        if (++this.depth > this.maxDepth) this.maxDepth = this.depth;
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) this.depth--;
    }
    // A string still open goes on in the next chunk, with what this one held of it.
    if (inString) this.carried += n - start;
    this.inString = inString;
    return this.objects;
  }

  /** The string from `start` to `end` of this chunk, and the part of it read before. */
  private notice(bytes: Uint8Array, start: number, end: number): void {
    const length = this.carried + end - start;
    if (length < this.shortest || length > this.longest) return;
    if (this.carried > 0) this.noticed = true;
    else if (this.noticing!.has(latin1.decode(bytes.subarray(start, end)))) this.noticed = true;
  }
}

/** The scan of a whole text (one not read from the request as it arrived). */
export function scanJson(text: string, notice?: ReadonlySet<string>): ScannedJson {
  const scan = new JsonScan(notice);
  scan.add(Buffer.from(text));
  return scan;
}
