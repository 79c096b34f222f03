import { restoreBigIntegers } from "./big-integers.js";
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, isJsonSpace, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "./json-chars.js";

/**
 * The body an upstream receives, written from the client's own text: every top-level field whose
 * value is the very one parsed from that text keeps the client's bytes; a field replaced, added or
 * removed (the model, the output limit, `stream_options`) is written anew. Re-serialising a 100 KB
 * conversation for a changed `model` costs more than everything else the proxy does to it.
 *
 * The result parses to the same value as `JSON.stringify(upstream)` (big integers as the client
 * wrote them). Undefined when the text's top level cannot be read as one object of distinct keys:
 * the caller then serialises the whole body.
 *
 *   spliceBody({ text, body: parsed }, { ...parsed, model: "gpt-4o-mini" })
 */
export function spliceBody(source: { text: string; body: object }, upstream: Record<string, unknown>): string | undefined {
  const fields = topLevelFields(source.text);
  if (fields === undefined) return undefined;
  const parsed = source.body as Record<string, unknown>;
  const parts: string[] = [];
  const written = new Set<string>();
  for (const field of fields) {
    written.add(field.key);
    if (!Object.hasOwn(upstream, field.key)) continue;
    const value = upstream[field.key];
    if (value === parsed[field.key] && Object.hasOwn(parsed, field.key)) parts.push(source.text.slice(field.start, field.end));
    else if (value !== undefined) parts.push(`${source.text.slice(field.start, field.keyEnd)}:${serialise(value)}`);
  }
  for (const key of Object.keys(upstream)) {
    const value = upstream[key];
    if (written.has(key) || value === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${serialise(value)}`);
  }
  return `{${parts.join(",")}}`;
}

const serialise = (value: unknown): string => restoreBigIntegers(JSON.stringify(value));

interface Field {
  key: string;
  /** Where the key's opening quote is, where its closing quote ends, and where the value ends. */
  start: number;
  keyEnd: number;
  end: number;
}

/** The end of the string whose opening quote is at `at` (just past its closing quote); -1 if it has none. */
function stringEnd(text: string, at: number): number {
  let i = at + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return -1;
    // Escaped when an odd number of backslashes stands right before it.
    let slashes = 0;
    for (let j = quote - 1; j > at && text.charCodeAt(j) === BACKSLASH; j--) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

/** The end of the value starting at `at` (a string, an object, an array, or a bare number or word); -1 if unreadable. */
function valueEnd(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return stringEnd(text, at);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let i = at; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        const end = stringEnd(text, i);
        if (end < 0) return -1;
        i = end - 1;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  let i = at;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isJsonSpace(c)) break;
    i++;
  }
  return i > at ? i : -1;
}

/** The top-level fields of a JSON object's text, in order; undefined if it is not one, or repeats a key. */
function topLevelFields(text: string): Field[] | undefined {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  };
  skipSpace();
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  i++;
  const fields: Field[] = [];
  const keys = new Set<string>();
  skipSpace();
  if (text.charCodeAt(i) === CLOSE_BRACE) return fields;
  for (;;) {
    skipSpace();
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const start = i;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    const raw = text.slice(start + 1, keyEnd - 1);
    const key = raw.includes("\\") ? (JSON.parse(text.slice(start, keyEnd)) as string) : raw;
    if (keys.has(key)) return undefined;
    keys.add(key);
    i = keyEnd;
    skipSpace();
    if (text.charCodeAt(i) !== COLON) return undefined;
    i++;
    skipSpace();
    const end = valueEnd(text, i);
    if (end < 0) return undefined;
    fields.push({ key, start, keyEnd, end });
    i = end;
    skipSpace();
    const next = text.charCodeAt(i);
    i++;
    if (next === CLOSE_BRACE) return fields;
    if (next !== COMMA) return undefined;
  }
}
