import { BACKSLASH, DOT, isDigit, MINUS, QUOTE } from "./json-chars.js";

/**
 * JSON.parse turns an integer beyond 2^53 into the nearest double, so `"seed": 9007199254740993`
 * would reach the upstream as ...992. Such integers are carried through the proxy as marked strings
 * and written back as the client's exact digits when the body is serialised for the upstream.
 */

const MARK = "\uE000";
const MARKED = /"\uE000(-?\d+)"/g;

/**
 * The text with every unsafe integer literal (outside strings) turned into a marked string. The
 * parse calls it only for a text whose scan found a run of 16 digits outside strings (parse.ts).
 */
export function protectBigIntegers(text: string): string {
  let out = "";
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) {
      inString = true;
      continue;
    }
    if (c !== MINUS && !isDigit(c)) continue;
    // The whole number token: sign, digits, fraction, exponent.
    let j = i + 1;
    let integer = true;
    for (; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (isDigit(d)) continue;
      if (d === DOT || d === 0x65 || d === 0x45 || d === 0x2b || d === MINUS) integer = false;
      else break;
    }
    const literal = text.slice(i, j);
    if (integer && literal.length >= 16 && !Number.isSafeInteger(Number(literal))) {
      out += `${text.slice(last, i)}"${MARK}${literal}"`;
      last = j;
    }
    i = j - 1;
  }
  return out + text.slice(last);
}

/** Serialised JSON with the marked integers written back as the client sent them. */
export function restoreBigIntegers(json: string): string {
  return json.includes(MARK) ? json.replace(MARKED, "$1") : json;
}
