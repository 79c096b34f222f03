import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eventData, SseSplitter, sseEvent } from "./sse.js";

/** Feeds `chunks` in order; returns every event and what was left unterminated. */
function split(chunks: string[]): { events: string[]; rest: string } {
  const splitter = new SseSplitter();
  const events = chunks.flatMap((chunk) => splitter.push(chunk));
  return { events, rest: splitter.rest() };
}

/** The data payloads, which is what a client's SSE parser acts on. */
const payloads = (events: string[]) => events.map(eventData).filter((d) => d !== undefined);

const STREAM = [
  ": keep-alive comment",
  'data: {"id":"c1","choices":[{"delta":{"content":"Hel"}}]}',
  'data: {"id":"c1","choices":[{"delta":{"content":"lo ✓ 日本"}}]}',
  "event: message\nid: 7\ndata: first line\ndata: second line",
  "data:no-space",
  "data: [DONE]",
].join("\n\n") + "\n\n";

const EXPECTED = [
  ": keep-alive comment",
  'data: {"id":"c1","choices":[{"delta":{"content":"Hel"}}]}',
  'data: {"id":"c1","choices":[{"delta":{"content":"lo ✓ 日本"}}]}',
  "event: message\nid: 7\ndata: first line\ndata: second line",
  "data:no-space",
  "data: [DONE]",
];

describe("SseSplitter", () => {
  it("splits a whole stream into events", () => {
    expect(split([STREAM])).toEqual({ events: EXPECTED, rest: "" });
  });

  it("gives the same events whatever position the stream is cut at", () => {
    for (let i = 0; i <= STREAM.length; i++) {
      const { events, rest } = split([STREAM.slice(0, i), STREAM.slice(i)]);
      expect([i, events, rest]).toEqual([i, EXPECTED, ""]);
    }
  });

  it("gives the same events when fed one character at a time", () => {
    expect(split([...STREAM])).toEqual({ events: EXPECTED, rest: "" });
  });

  it("reads \\r\\n line endings like \\n, cut anywhere", () => {
    const crlf = STREAM.replace(/\n/g, "\r\n");
    expect(split([crlf]).events).toEqual(EXPECTED);
    for (let i = 0; i <= crlf.length; i++) {
      const { events, rest } = split([crlf.slice(0, i), crlf.slice(i)]);
      expect([i, events, rest]).toEqual([i, EXPECTED, ""]);
    }
  });

  it("reads lone \\r line endings", () => {
    expect(split(["data: a\r\rdata: b\rdata: c\r\r"]).events).toEqual(["data: a", "data: b\ndata: c"]);
  });

  it("gives the same events for any partition into chunks", () => {
    const crlf = STREAM.replace(/\n/g, "\r\n");
    fc.assert(
      fc.property(fc.constantFrom(STREAM, crlf), fc.uniqueArray(fc.nat({ max: crlf.length }), { maxLength: 12 }), (text, cuts) => {
        const points = [0, ...cuts.filter((c) => c <= text.length).sort((a, b) => a - b), text.length];
        const chunks = points.slice(1).map((end, i) => text.slice(points[i], end));
        expect(split(chunks)).toEqual({ events: EXPECTED, rest: "" });
      }),
    );
  });

  it("keeps an unterminated event until the stream ends", () => {
    const splitter = new SseSplitter();
    expect(splitter.push('data: {"a":1}\n\ndata: {"b"')).toEqual(['data: {"a":1}']);
    expect(splitter.push(":2}\n")).toEqual([]);
    expect(splitter.rest()).toBe('data: {"b":2}\n');
    expect(splitter.push("\n")).toEqual(['data: {"b":2}']);
    expect(splitter.rest()).toBe("");
  });

  it("keeps separate events apart when extra blank lines come between them", () => {
    expect(payloads(split(["data: a\n\n\n\ndata: b\n\n"]).events)).toEqual(["a", "b"]);
  });
});

describe("eventData", () => {
  it("reads single-line data with or without the space", () => {
    expect(eventData("data: {}")).toBe("{}");
    expect(eventData("data:{}")).toBe("{}");
    expect(eventData("data:  two spaces")).toBe(" two spaces");
    expect(eventData("data: ")).toBe("");
  });

  it("joins multi-line data with newlines and skips other fields", () => {
    expect(eventData("event: delta\ndata: line one\nid: 3\ndata:line two")).toBe("line one\nline two");
  });

  it("gives undefined for comments and events without data", () => {
    expect(eventData(": ping")).toBeUndefined();
    expect(eventData("event: ping\nid: 4")).toBeUndefined();
    expect(eventData("")).toBeUndefined();
  });
});

describe("sseEvent", () => {
  it("frames data as one event that the splitter reads back", () => {
    expect(sseEvent("[DONE]")).toBe("data: [DONE]\n\n");
    expect(payloads(split([sseEvent('{"x":1}'), sseEvent("[DONE]")]).events)).toEqual(['{"x":1}', "[DONE]"]);
  });
});
