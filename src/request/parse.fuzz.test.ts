import fc from "fast-check";
import { restoreBigIntegers } from "./big-integers.js";
import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { MAX_DEPTH, parseChatBody, type ChatBody } from "./parse.js";

/**
 * Whatever the text, parseChatBody returns a body the rest of the proxy can rely on, or throws a
 * 400 ProxyError: never another exception, never a body that breaks a later step.
 */

const ROLES = ["system", "developer", "user", "assistant", "tool", "function"];
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const absent = (v: unknown) => v === undefined || v === null;
const inRange = (v: unknown, min: number, max: number, integer: boolean) =>
  absent(v) || (typeof v === "number" && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v)));

/** The invariants later steps (routing, token counts, estimates, adaptation, forwarding) depend on. */
function expectUsableBody(body: ChatBody, text: string): void {
  expect(typeof body.model === "string" && body.model.length > 0).toBe(true);
  expect(Array.isArray(body.messages) && body.messages.length > 0).toBe(true);
  for (const m of body.messages) {
    expect(isObject(m) && typeof m.role === "string" && ROLES.includes(m.role)).toBe(true);
    const content = m.content;
    if (absent(content)) expect(["assistant", "function"]).toContain(m.role);
    else if (typeof content !== "string") {
      expect(Array.isArray(content)).toBe(true);
      for (const part of content as unknown[]) {
        expect(isObject(part) && typeof part.type === "string").toBe(true);
        if ((part as { type: string }).type === "text") expect(typeof (part as { text?: unknown }).text).toBe("string");
      }
    }
    expect(m.name === undefined || typeof m.name === "string").toBe(true);
    expect(absent(m.tool_calls) || Array.isArray(m.tool_calls)).toBe(true);
  }
  expect(absent(body.stream) || typeof body.stream === "boolean").toBe(true);
  expect(absent(body.stream_options) || isObject(body.stream_options)).toBe(true);
  const include = body.stream_options?.include_usage;
  expect(include === undefined || typeof include === "boolean").toBe(true);
  expect(inRange(body.max_tokens, 1, 2 ** 31 - 1, true)).toBe(true);
  expect(inRange(body.max_completion_tokens, 1, 2 ** 31 - 1, true)).toBe(true);
  expect(inRange(body.temperature, 0, 2, false)).toBe(true);
  expect(inRange(body.top_p, 0, 1, false)).toBe(true);
  expect(inRange(body.n, 1, 128, true)).toBe(true);
  expect(absent(body.tools) || Array.isArray(body.tools)).toBe(true);
  expect(absent(body.response_format) || isObject(body.response_format)).toBe(true);
  // Forwarding re-serializes the body: that must work, and give back what the client sent
  // (integers beyond 2^53 as the client's digits, which is JSON.stringify's output for them here).
  expect(restoreBigIntegers(JSON.stringify(body))).toBe(JSON.stringify(JSON.parse(text)));
}

function expectBadRequest(err: unknown): void {
  if (!(err instanceof ProxyError)) throw err;
  expect(err.status).toBe(400);
  const { error } = err.toBody();
  expect(error.type).toBe("invalid_request_error");
  expect(typeof error.message).toBe("string");
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.param === null || typeof error.param === "string").toBe(true);
}

/** Parses `text`; true when accepted (and checked), false when refused with a 400. */
function check(text: string): boolean {
  let body: ChatBody;
  try {
    body = parseChatBody(text);
  } catch (err) {
    expectBadRequest(err);
    return false;
  }
  expectUsableBody(body, text);
  return true;
}

const json = fc.jsonValue({ maxDepth: 4 });
/** Mostly the right types, sometimes anything: reaches every check, and passes it often. */
const maybe = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 15, arbitrary: good }, { weight: 1, arbitrary: json });
const optional = <T>(good: fc.Arbitrary<T>) => fc.option(maybe(good), { nil: undefined, freq: 2 });
/** Mostly in range, sometimes at or past an edge. */
const usually = <T>(good: fc.Arbitrary<T>, edges: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: edges });
const outputLimit = usually(fc.integer({ min: 1, max: 5000 }), fc.oneof(fc.constantFrom(-5, 0, 2 ** 31 - 1, 2 ** 31, 1.5, 1e300), fc.maxSafeInteger()));
const contentPart = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant("text"), text: maybe(fc.string()) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constantFrom("image_url", "input_audio", "file"), image_url: json }, { requiredKeys: ["type"] }) },
  { weight: 1, arbitrary: json },
);
const content = fc.oneof({ weight: 4, arbitrary: fc.string() }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: fc.array(contentPart, { maxLength: 3 }) });
const message = fc.record(
  {
    role: maybe(fc.constantFrom(...ROLES)),
    content: maybe(content),
    name: maybe(fc.string()),
    tool_calls: maybe(fc.oneof(fc.constant(null), fc.array(json, { maxLength: 2 }))),
  },
  { requiredKeys: ["role", "content"] },
);
const nearlyValid = fc.record(
  {
    model: maybe(fc.string({ minLength: 1 })),
    messages: maybe(fc.array(maybe(message), { minLength: 1, maxLength: 3 })),
    stream: optional(fc.boolean()),
    stream_options: optional(fc.record({ include_usage: maybe(fc.boolean()) }, { requiredKeys: [] })),
    max_tokens: optional(outputLimit),
    max_completion_tokens: optional(outputLimit),
    temperature: optional(usually(fc.double({ min: 0, max: 2, noNaN: true }), fc.double())),
    top_p: optional(usually(fc.double({ min: 0, max: 1, noNaN: true }), fc.double())),
    n: optional(usually(fc.integer({ min: 1, max: 128 }), fc.integer({ min: -2, max: 200 }))),
    tools: optional(fc.array(json, { maxLength: 2 })),
    response_format: optional(fc.record({ type: fc.string() })),
  },
  { requiredKeys: ["model", "messages"] },
);

const VALID = { model: "auto", messages: [{ role: "user", content: "hi" }] };

describe("parseChatBody on arbitrary input", () => {
  it("never throws anything but a 400 ProxyError on arbitrary strings", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => void check(text)), { numRuns: 500 });
  });

  it("never throws anything but a 400 ProxyError on text close to a valid body", () => {
    const text = JSON.stringify({ ...VALID, temperature: 0.5, tools: [{ type: "function" }] });
    const edit = fc.tuple(fc.nat({ max: text.length }), fc.nat({ max: 4 }), fc.string({ unit: "binary-ascii", maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
        let mutated = text;
        for (const [at, cut, insert] of edits) mutated = mutated.slice(0, at) + insert + mutated.slice(at + cut);
        check(mutated);
      }),
      { numRuns: 500 },
    );
  });

  it("never throws anything but a 400 ProxyError on arbitrary JSON values", () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => void check(JSON.stringify(value))), { numRuns: 500 });
  });

  it("accepts or refuses nearly valid bodies, and what it accepts is usable", () => {
    let accepted = 0;
    fc.assert(
      fc.property(nearlyValid, (body) => {
        if (check(JSON.stringify(body))) accepted++;
      }),
      { numRuns: 1000 },
    );
    // The generator must reach the accepting path, or the invariants above were never checked.
    expect(accepted).toBeGreaterThan(100);
  });

  it("refuses a body nested deeper than MAX_DEPTH in any field, and accepts one at the limit", () => {
    // Each template is a valid body with the nested value placed somewhere the proxy does not check.
    const places: Record<string, (nested: string) => string> = {
      metadata: (v) => `{"model":"auto","messages":[{"role":"user","content":"x"}],"metadata":${v}}`,
      tools: (v) => `{"model":"auto","messages":[{"role":"user","content":"x"}],"tools":[${v}]}`,
      response_format: (v) => `{"model":"auto","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","schema":${v}}}`,
      "content part": (v) => `{"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"x","extra":${v}}]}]}`,
      tool_calls: (v) => `{"model":"auto","messages":[{"role":"assistant","tool_calls":[${v}]},{"role":"user","content":"x"}]}`,
    };
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(places)), fc.integer({ min: 0, max: MAX_DEPTH + 20 }), fc.boolean(), (where, levels, arrays) => {
        const nested = arrays ? "[".repeat(levels) + "1" + "]".repeat(levels) : '{"a":'.repeat(levels) + "1" + "}".repeat(levels);
        const text = places[where]!(nested);
        let deepest = 0;
        for (let i = 0, level = 0; i < text.length; i++) {
          if (text[i] === "[" || text[i] === "{") deepest = Math.max(deepest, ++level);
          else if (text[i] === "]" || text[i] === "}") level--;
        }
        expect(check(text)).toBe(deepest <= MAX_DEPTH);
      }),
      { numRuns: 300 },
    );
  });
});

describe("parseChatBody on valid bodies", () => {
  const KNOWN = new Set(["model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "tools", "response_format"]);
  const extraKey = fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "toString", "metadata", "user", "seed"), fc.string()).filter((k) => !KNOWN.has(k));
  const extras = fc.uniqueArray(fc.tuple(extraKey, fc.jsonValue({ maxDepth: 5 })), { selector: ([k]) => k, maxLength: 6 });
  const validMessage = fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: fc.string() }, { requiredKeys: ["role", "content"] });

  it("passes unknown fields through untouched, whatever their names and values", () => {
    fc.assert(
      fc.property(fc.array(validMessage, { minLength: 1, maxLength: 4 }), extras, (messages, fields) => {
        const input: Record<string, unknown> = { model: "auto", messages };
        // defineProperty: an own "__proto__" key, as JSON.parse makes it, not a prototype change.
        for (const [key, value] of fields) Object.defineProperty(input, key, { value, enumerable: true, writable: true, configurable: true });
        const text = JSON.stringify(input);
        const body = parseChatBody(text);
        expect(restoreBigIntegers(JSON.stringify(body))).toBe(text);
        for (const [key, value] of fields) {
          expect(restoreBigIntegers(JSON.stringify(Object.getOwnPropertyDescriptor(body, key)?.value))).toBe(JSON.stringify(value));
        }
        expect(Object.getPrototypeOf(body)).toBe(Object.prototype);
      }),
      { numRuns: 300 },
    );
  });
});
