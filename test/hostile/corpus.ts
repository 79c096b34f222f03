import { gzipSync } from "node:zlib";

/**
 * Malformed and hostile requests for POST /v1/chat/completions. Each one must get a 4xx in the
 * OpenAI error format (and move no budget) or a correct 200 answer. Large bodies are built on
 * demand, so importing the corpus costs nothing.
 */

export const HOSTILE_KEY = "sk-tollgate-hostile-key";
export const HOSTILE_ADMIN_KEY = "sk-tollgate-hostile-admin";
/** The proxy's body limit in these tests: the 5 MB bodies fit, the 7 MB one does not. */
export const BODY_LIMIT_MB = 6;

export interface Rejection {
  status: number;
  code: string;
  /** Checked when given (null included). */
  param?: string | null;
}

/** 200 is a correct chat completion answer; anything else is a rejection. */
export type Expected = { status: 200 } | Rejection;

export interface HostileCase {
  name: string;
  body: () => string | Uint8Array;
  /** Added to (or, with null, removed from) the default headers: the key and a JSON content-type. */
  headers?: Record<string, string | null>;
  /** Header lines written by hand on a raw socket, for bytes fetch refuses to send (CR, LF, NUL). */
  rawHeaders?: string;
  /** Sent through the official SDK; the body must be a JSON object. */
  sdk?: boolean;
  /** Sent as a stream, chunked, with no content-length. */
  chunked?: boolean;
  /** The acceptable outcomes: the answer must match one of them. */
  expect: Expected[];
}

const USER = { role: "user", content: "hi" };
export const VALID = { model: "auto", messages: [USER] };

const json = (value: unknown) => () => JSON.stringify(value);
const text = (value: string) => () => value;
const bytes = (...parts: Array<string | number[]>) => () =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));
const withFields = (fields: Record<string, unknown>) => json({ ...VALID, ...fields });
const withMessage = (message: unknown) => json({ ...VALID, messages: [message] });
/** The valid body's JSON with `fragment` spliced in as raw text before the closing brace. */
const spliced = (fragment: string) => text(JSON.stringify(VALID).slice(0, -1) + `,${fragment}}`);

const ok: Expected[] = [{ status: 200 }];
const bad = (param: string | null, code = "invalid_request"): Expected[] => [{ status: 400, code, param }];

const DEPTH = 100_000;
const nestedArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
/** A JSON schema nested `levels` objects deep: legitimate structured output, about 3 JSON levels per object. */
function nestedSchema(levels: number): unknown {
  let schema: unknown = { type: "string" };
  for (let i = 0; i < levels; i++) schema = { type: "object", properties: { child: schema }, required: ["child"], additionalProperties: false };
  return schema;
}

const deep: HostileCase[] = [
  { name: `${DEPTH} nested arrays in an unknown field`, body: spliced(`"metadata":${nestedArrays(DEPTH)}`), expect: bad(null) },
  { name: `${DEPTH} nested objects in an unknown field`, body: spliced(`"metadata":${nestedObjects(DEPTH)}`), expect: bad(null) },
  // Refused for its depth or for its first part not being an object: either 400 will do.
  { name: `${DEPTH} nested arrays in messages[0].content`, body: text(`{"model":"auto","messages":[{"role":"user","content":${nestedArrays(DEPTH)}}]}`), expect: [{ status: 400, code: "invalid_request" }] },
  { name: `${DEPTH} nested arrays in tools`, body: spliced(`"tools":${nestedArrays(DEPTH)}`), expect: bad(null) },
  {
    name: `${DEPTH} nested arrays in an assistant's tool_calls`,
    body: text(`{"model":"auto","messages":[{"role":"assistant","tool_calls":${nestedArrays(DEPTH)}},{"role":"user","content":"go"}]}`),
    expect: bad(null),
  },
  { name: `${DEPTH} nested objects in response_format`, body: spliced(`"response_format":${nestedObjects(DEPTH)}`), expect: bad(null) },
  { name: `${DEPTH} nested arrays as the whole body`, body: text(nestedArrays(DEPTH)), expect: bad(null) },
  // Refused for its depth before it is parsed.
  { name: `${DEPTH} unclosed arrays`, body: text("[".repeat(DEPTH)), expect: bad(null, "invalid_request") },
  {
    name: "a legitimate JSON schema 12 objects deep in response_format",
    body: withFields({ response_format: { type: "json_schema", json_schema: { name: "deep", strict: true, schema: nestedSchema(12) } } }),
    expect: ok,
  },
];

const MB = 1024 * 1024;
const userContent = (content: string) => JSON.stringify({ model: "auto", messages: [{ role: "user", content }] });
const conversation = (turns: number) => Array.from({ length: turns }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: `turn ${i}` }));
// A prompt far over every context window: the fake upstream answers, a real one would refuse it.
const hugePrompt: Expected[] = [{ status: 200 }, { status: 400, code: "context_length_exceeded" }];

const sizes: HostileCase[] = [
  { name: "5 MB of words in one content, under the body limit", body: () => userContent("word ".repeat(MB)), expect: hugePrompt },
  { name: "5 MB of spaces in one content (a quadratic case for BPE)", body: () => userContent(" ".repeat(5 * MB)), expect: hugePrompt },
  { name: "3 MB of newlines and spaces in one content (4.5 MB escaped)", body: () => userContent("\n ".repeat(1.5 * MB)), expect: hugePrompt },
  { name: "5 MB of one letter in one content", body: () => userContent("x".repeat(5 * MB)), expect: hugePrompt },
  { name: "7 MB content, over the body limit", body: () => userContent("x".repeat(7 * MB)), expect: [{ status: 413, code: "request_too_large" }] },
  // Just over: what the server must drain after its early 413 then fits in the socket buffers.
  { name: "a body just over the limit, sent chunked", chunked: true, body: () => userContent("x".repeat(BODY_LIMIT_MB * MB)), expect: [{ status: 413, code: "request_too_large" }] },
  { name: "a thousand messages (SDK)", sdk: true, body: json({ model: "auto", messages: conversation(1000) }), expect: ok },
  // With its message, 10,000 parts: exactly server.max_parts' default, still answered (one more is a 400, test/e2e/bad-input.test.ts).
  { name: "ten thousand parts in one request, text parts in one content", body: withMessage({ role: "user", content: Array.from({ length: 9_999 }, (_, i) => ({ type: "text", text: `p${i}` })) }), expect: ok },
  { name: "a 100 KB model name", body: withFields({ model: "m".repeat(100_000) }), expect: [{ status: 404, code: "model_not_found", param: "model" }] },
];

/** Wrong values for every field the proxy reads, with the param the error must name. */
const WRONG_TYPES: Array<[param: string, build: (value: unknown) => unknown, values: unknown[]]> = [
  ["model", (v) => ({ ...VALID, model: v }), [5, null, true, [], {}, ""]],
  ["messages", (v) => ({ ...VALID, messages: v }), [null, "hi", 5, {}, []]],
  ["messages[0]", (v) => ({ ...VALID, messages: [v] }), [null, "hi", 5, [], true]],
  ["messages[0].role", (v) => ({ ...VALID, messages: [{ role: v, content: "hi" }] }), [5, null, "", "root", ["user"], {}]],
  ["messages[0].content", (v) => ({ ...VALID, messages: [{ role: "user", content: v }] }), [5, true, {}, null]],
  ["messages[0].content[0]", (v) => ({ ...VALID, messages: [{ role: "user", content: [v] }] }), [5, null, "text", [], {}, { type: 5 }]],
  ["messages[0].content[0].text", (v) => ({ ...VALID, messages: [{ role: "user", content: [{ type: "text", text: v }] }] }), [5, null, [], {}]],
  ["messages[0].name", (v) => ({ ...VALID, messages: [{ ...USER, name: v }] }), [5, null, {}, []]],
  ["messages[0].tool_calls", (v) => ({ ...VALID, messages: [{ role: "assistant", content: null, tool_calls: v }, USER] }), ["call", 5, {}, true]],
  ["stream", (v) => ({ ...VALID, stream: v }), ["true", 1, {}, []]],
  ["stream_options", (v) => ({ ...VALID, stream: true, stream_options: v }), ["usage", 5, [], true]],
  ["stream_options.include_usage", (v) => ({ ...VALID, stream: true, stream_options: { include_usage: v } }), ["yes", 1, null, {}]],
  ["max_tokens", (v) => ({ ...VALID, max_tokens: v }), ["10", true, {}, [], 0, -1, -0.5, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER, 1e300]],
  ["max_completion_tokens", (v) => ({ ...VALID, max_completion_tokens: v }), ["10", true, [], 0, -7, 2.5, 2 ** 31, Number.MAX_SAFE_INTEGER]],
  ["temperature", (v) => ({ ...VALID, temperature: v }), ["hot", "NaN", "Infinity", true, [], {}, 2.5, -0.1]],
  ["top_p", (v) => ({ ...VALID, top_p: v }), ["1", true, [], 1.5, -1]],
  ["n", (v) => ({ ...VALID, n: v }), ["2", true, 0, -1, 1.5, 129, 1e9]],
  ["tools", (v) => ({ ...VALID, tools: v }), ["x", 5, {}, true]],
  ["response_format", (v) => ({ ...VALID, response_format: v }), ["json_object", 5, [], true]],
];

const wrongTypes: HostileCase[] = WRONG_TYPES.flatMap(([param, build, values]) =>
  values.map((value) => ({ name: `${param} = ${JSON.stringify(value)}`, body: json(build(value)), expect: bad(param) })),
);

/** An output limit larger than the context window: context fit refuses it, else the budget does. */
/** An output limit larger than the context window is refused, naming the field that set it. */
const overContext = (param: string): Expected[] => [{ status: 400, code: "context_length_exceeded", param }, { status: 429, code: "budget_exceeded" }];

const numbers: HostileCase[] = [
  { name: "max_tokens 1e400 (JSON.parse makes it Infinity)", body: spliced(`"max_tokens":1e400`), expect: bad("max_tokens") },
  { name: "temperature -1e400", body: spliced(`"temperature":-1e400`), expect: bad("temperature") },
  { name: "n 1e400", body: spliced(`"n":1e400`), expect: bad("n") },
  { name: "a bare NaN literal", body: spliced(`"temperature":NaN`), expect: bad(null, "invalid_json") },
  { name: "max_tokens at OpenAI's maximum, premium forced", headers: { "x-tollgate-tier": "premium" }, body: withFields({ max_tokens: 2 ** 31 - 1 }), expect: overContext("max_tokens") },
  { name: "n 128 with max_tokens at the maximum, standard forced", headers: { "x-tollgate-tier": "standard" }, body: withFields({ n: 128, max_completion_tokens: 2 ** 31 - 1 }), expect: overContext("max_completion_tokens") },
  // The worst case does not fit the budget; the output is capped to what it affords, or refused when not even that fits.
  { name: "n 128 with max_tokens 100,000, standard forced: capped or refused by the budget", headers: { "x-tollgate-tier": "standard" }, body: withFields({ n: 128, max_tokens: 100_000 }), expect: [{ status: 200 }, { status: 429, code: "budget_exceeded" }] },
  { name: "enormous n through the SDK", sdk: true, body: withFields({ n: 1_000_000 }), expect: bad("n") },
  { name: "negative max_tokens through the SDK", sdk: true, body: withFields({ max_tokens: -1 }), expect: bad("max_tokens") },
  { name: "max_tokens as a numeric string through the SDK", sdk: true, body: withFields({ max_tokens: "100" }), expect: bad("max_tokens") },
];

const bodies: HostileCase[] = [
  { name: "an empty body", body: text(""), expect: bad(null, "invalid_json") },
  { name: "whitespace only", body: text(" \n\t "), expect: bad(null, "invalid_json") },
  { name: "the body null", body: text("null"), expect: bad(null) },
  { name: "a JSON string body", body: text('"model: auto"'), expect: bad(null) },
  { name: "a JSON number body", body: text("42"), expect: bad(null) },
  { name: "a JSON true body", body: text("true"), expect: bad(null) },
  { name: "an empty array body", body: text("[]"), expect: bad(null) },
  { name: "truncated JSON", body: text(JSON.stringify(VALID).slice(0, 20)), expect: bad(null, "invalid_json") },
  { name: "two JSON objects back to back", body: text(JSON.stringify(VALID).repeat(2)), expect: bad(null, "invalid_json") },
  { name: "trailing garbage", body: text(`${JSON.stringify(VALID)} garbage`), expect: bad(null, "invalid_json") },
  { name: "a UTF-8 BOM before the JSON", body: bytes([0xef, 0xbb, 0xbf], JSON.stringify(VALID)), expect: ok },
  { name: "duplicate keys, the last one a number", body: text('{"model":"auto","model":5,"messages":[{"role":"user","content":"hi"}]}'), expect: bad("model") },
  { name: "duplicate keys, the last one valid", body: text('{"model":5,"model":"auto","messages":[{"role":"user","content":"hi"}]}'), expect: ok },
  { name: "duplicate messages, the last one empty", body: text('{"model":"auto","messages":[{"role":"user","content":"hi"}],"messages":[]}'), expect: bad("messages") },
  { name: "duplicate role in a message, the last one invalid", body: text('{"model":"auto","messages":[{"role":"user","role":"root","content":"hi"}]}'), expect: bad("messages[0].role") },
];

const encodings: HostileCase[] = [
  { name: "invalid UTF-8 bytes inside a string", body: bytes('{"model":"auto","messages":[{"role":"user","content":"a', [0xff, 0xfe, 0xc3], 'b"}]}'), expect: ok },
  { name: "an overlong UTF-8 encoding of '/' inside a string", body: bytes('{"model":"auto","messages":[{"role":"user","content":"', [0xc0, 0xaf], '"}]}'), expect: ok },
  { name: "a UTF-8-encoded surrogate inside a string", body: bytes('{"model":"auto","messages":[{"role":"user","content":"', [0xed, 0xa0, 0x80], '"}]}'), expect: ok },
  { name: "invalid UTF-8 bytes between tokens", body: bytes('{"model":"auto",', [0xff], '"messages":[{"role":"user","content":"hi"}]}'), expect: bad(null, "invalid_json") },
  { name: "invalid UTF-8 bytes in a key", body: bytes('{"mo', [0x80], 'del":"auto","messages":[{"role":"user","content":"hi"}]}'), expect: bad("model") },
  { name: "a lone surrogate escape in content", body: text('{"model":"auto","messages":[{"role":"user","content":"\\ud800 alone"}]}'), expect: ok },
  { name: "NUL escapes in content and role", body: text('{"model":"auto","messages":[{"role":"user\\u0000","content":"a\\u0000b"}]}'), expect: bad("messages[0].role") },
  { name: "a raw control character inside a string", body: bytes('{"model":"auto","messages":[{"role":"user","content":"a', [0x01], 'b"}]}'), expect: bad(null, "invalid_json") },
  { name: "a UTF-16LE body", body: () => Buffer.from(JSON.stringify(VALID), "utf16le"), headers: { "content-type": "application/json; charset=utf-16" }, expect: bad(null, "invalid_json") },
];

/** Pollution payloads: JSON.parse makes `__proto__` an own key; code that merges or indexes with it must not follow it. */
const POLLUTER = '{"polluted":"yes","role":"user","content":"from the prototype","include_usage":true}';
export const pollution: HostileCase[] = [
  { name: "__proto__ at the top level", body: spliced(`"__proto__":${POLLUTER}`), expect: ok },
  { name: "constructor.prototype at the top level", body: spliced(`"constructor":{"prototype":${POLLUTER}}`), expect: ok },
  { name: "prototype at the top level", body: spliced(`"prototype":${POLLUTER}`), expect: ok },
  { name: "__proto__, constructor and prototype inside a message", body: text(`{"model":"auto","messages":[{"role":"user","content":"hi","__proto__":${POLLUTER},"constructor":{"prototype":${POLLUTER}},"prototype":${POLLUTER}}]}`), expect: ok },
  { name: "a message whose only role is on its __proto__ key", body: text(`{"model":"auto","messages":[{"__proto__":${POLLUTER}}]}`), expect: bad("messages[0].role") },
  { name: "a content part whose type is on its __proto__ key", body: text(`{"model":"auto","messages":[{"role":"user","content":[{"__proto__":{"type":"text","text":"x"}}]}]}`), expect: bad("messages[0].content[0]") },
  { name: "__proto__ in stream_options of a stream", body: spliced(`"stream":true,"stream_options":{"__proto__":${POLLUTER}}`), expect: ok },
  { name: "__proto__ inside tools and response_format", body: spliced(`"tools":[{"type":"function","function":{"name":"f","__proto__":${POLLUTER}}}],"response_format":{"type":"text","__proto__":${POLLUTER}}`), expect: ok },
  ...["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"].map((model): HostileCase => ({
    name: `the model '${model}'`,
    body: withFields({ model }),
    expect: [{ status: 404, code: "model_not_found", param: "model" }],
  })),
  ...["__proto__", "constructor", "toString"].flatMap((tier): HostileCase[] => [
    { name: `x-tollgate-tier '${tier}'`, headers: { "x-tollgate-tier": tier }, body: json(VALID), expect: bad("x-tollgate-tier") },
    { name: `x-tollgate-max-tier '${tier}'`, headers: { "x-tollgate-max-tier": tier }, body: json(VALID), expect: bad("x-tollgate-max-tier") },
  ]),
  { name: "x-tollgate-request-type 'constructor'", headers: { "x-tollgate-request-type": "constructor" }, body: json(VALID), expect: ok },
  { name: "x-tollgate-request-type '__proto__'", headers: { "x-tollgate-request-type": "__proto__" }, body: json(VALID), expect: bad("x-tollgate-request-type") },
];

const auth = (value: string) => ({ authorization: value });
const headers: HostileCase[] = [
  ...["a".repeat(65), "bad type", "../../etc/passwd", "chat;drop", "chat%0d%0ax-evil: 1", "chat\u00e9"].map((type) => ({
    name: `x-tollgate-request-type ${JSON.stringify(type.length > 20 ? `${type.slice(0, 8)}... (${type.length})` : type)}`,
    headers: { "x-tollgate-request-type": type },
    body: json(VALID),
    expect: bad("x-tollgate-request-type"),
  })),
  { name: "x-tollgate-request-type in capitals", headers: { "x-tollgate-request-type": "SUMMARY" }, body: json(VALID), expect: ok },
  { name: "x-tollgate-tier with two values", headers: { "x-tollgate-tier": "economy, premium" }, body: json(VALID), expect: bad("x-tollgate-tier") },
  { name: "x-tollgate-tier empty", headers: { "x-tollgate-tier": "" }, body: json(VALID), expect: bad("x-tollgate-tier") },
  { name: "x-tollgate-tier with a Latin-1 letter", headers: { "x-tollgate-tier": "\u00e9conomy" }, body: json(VALID), expect: bad("x-tollgate-tier") },
  { name: "x-tollgate-max-tier padded and in capitals", headers: { "x-tollgate-max-tier": "  ECONOMY  " }, body: json(VALID), expect: ok },
  { name: "a 10 KB x-tollgate-request-type", headers: { "x-tollgate-request-type": "a".repeat(10_000) }, body: json(VALID), expect: bad("x-tollgate-request-type") },
  { name: "a 20 KB x-tollgate-tier, over Node's header limit", headers: { "x-tollgate-tier": "p".repeat(20_000) }, body: json(VALID), expect: [{ status: 431, code: "request_headers_too_large" }] },
  { name: "200 extra headers of 100 bytes", headers: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-filler-${i}`, "f".repeat(100)])), body: json(VALID), expect: [{ status: 431, code: "request_headers_too_large" }] },
  { name: "a 12 KB bearer key", headers: auth(`Bearer ${"k".repeat(12_000)}`), body: json(VALID), expect: [{ status: 401, code: "invalid_api_key" }] },
  { name: "a Basic authorization", headers: auth("Basic dXNlcjpwYXNz"), body: json(VALID), expect: [{ status: 401, code: "invalid_api_key" }] },
  { name: "Bearer with no key", headers: auth("Bearer"), body: json(VALID), expect: [{ status: 401, code: "invalid_api_key" }] },
  { name: "the key twice in one header", headers: auth(`Bearer ${HOSTILE_KEY} ${HOSTILE_KEY}`), body: json(VALID), expect: [{ status: 401, code: "invalid_api_key" }] },
  { name: "the key with a Latin-1 byte appended", headers: auth(`Bearer ${HOSTILE_KEY}\u00ff`), body: json(VALID), expect: [{ status: 401, code: "invalid_api_key" }] },
  { name: "the key with a lower-case scheme and padding", headers: auth(`bearer    ${HOSTILE_KEY}   `), body: json(VALID), expect: ok },
];

/** Lines for a raw socket: the key unless the case brings its own authorization. */
const KEY_LINE = `authorization: Bearer ${HOSTILE_KEY}\r\n`;
const malformedHttp: Expected[] = [{ status: 400, code: "invalid_request", param: null }];
const raw: HostileCase[] = [
  { name: "raw: LF inside x-tollgate-tier", rawHeaders: `${KEY_LINE}x-tollgate-tier: economy\nx-tollgate-max-tier: premium\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: CR inside x-tollgate-tier", rawHeaders: `${KEY_LINE}x-tollgate-tier: economy\rx-evil: 1\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: NUL inside x-tollgate-request-type", rawHeaders: `${KEY_LINE}x-tollgate-request-type: chat\0summary\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: DEL inside x-tollgate-max-tier", rawHeaders: `${KEY_LINE}x-tollgate-max-tier: econ\x7fomy\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: x-tollgate-tier folded over two lines", rawHeaders: `${KEY_LINE}x-tollgate-tier: economy\r\n premium\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: LF inside the authorization", rawHeaders: `authorization: Bearer ${HOSTILE_KEY}\nx-evil: 1\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: CR inside the authorization", rawHeaders: `authorization: Bearer ${HOSTILE_KEY}\rBearer other\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: the authorization folded over two lines", rawHeaders: `authorization: Bearer\r\n ${HOSTILE_KEY}\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: a space inside a header name", rawHeaders: `${KEY_LINE}x-tollgate tier: premium\r\n`, body: json(VALID), expect: malformedHttp },
  { name: "raw: a second authorization injected after CRLF", rawHeaders: `${KEY_LINE}authorization: Bearer sk-other\r\n`, body: json(VALID), expect: [{ status: 401, code: "invalid_api_key" }] },
  { name: "raw: a Latin-1 byte in x-tollgate-tier", rawHeaders: `${KEY_LINE}x-tollgate-tier: \xe9conomy\r\n`, body: json(VALID), expect: bad("x-tollgate-tier") },
  { name: "raw: a tab inside x-tollgate-request-type", rawHeaders: `${KEY_LINE}x-tollgate-request-type: chat\tsummary\r\n`, body: json(VALID), expect: bad("x-tollgate-request-type") },
];

const contentTypes: HostileCase[] = [
  { name: "content-type text/plain", headers: { "content-type": "text/plain" }, body: json(VALID), expect: ok },
  { name: "no content-type", headers: { "content-type": null }, body: () => Buffer.from(JSON.stringify(VALID)), expect: ok },
  { name: "content-type application/x-www-form-urlencoded", headers: { "content-type": "application/x-www-form-urlencoded" }, body: json(VALID), expect: ok },
  { name: "content-type of made-up nonsense", headers: { "content-type": "application/x-tollgate;;;=" }, body: json(VALID), expect: ok },
  { name: "a multipart form body", headers: { "content-type": "multipart/form-data; boundary=b" }, body: text('--b\r\ncontent-disposition: form-data; name="model"\r\n\r\nauto\r\n--b--\r\n'), expect: bad(null, "invalid_json") },
  { name: "a gzip body with content-encoding gzip", headers: { "content-encoding": "gzip" }, body: () => gzipSync(JSON.stringify(VALID)), expect: bad(null, "invalid_json") },
];

export const corpus: HostileCase[] = [...bodies, ...deep, ...sizes, ...wrongTypes, ...numbers, ...encodings, ...pollution, ...headers, ...raw, ...contentTypes];
