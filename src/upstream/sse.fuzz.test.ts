import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StreamAccountant } from "../usage/stream.js";
import { eventData, SseSplitter } from "./sse.js";

/**
 * Network reads cut a stream anywhere: inside a line, a "\r\n", a multi-byte character, a run of
 * blank lines. Whatever the cuts, the splitter and the accountant must see the stream they would
 * see in one read.
 */

/** Text for one SSE line: anything but a line break. */
const lineText = fc.string({ unit: "binary", maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ""));
const dataLine = fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => `data: ${JSON.stringify(v)}`), lineText.map((t) => `data:${t}`));
const fieldLine = fc.tuple(fc.constantFrom("event", "id", "retry"), lineText).map(([field, value]) => `${field}: ${value}`);
/** An event as its lines: data chunks, comments, [DONE], multi-field events. */
const event = fc.oneof(
  { weight: 4, arbitrary: dataLine.map((line) => [line]) },
  { weight: 1, arbitrary: lineText.map((t) => [`:${t}`]) },
  { weight: 1, arbitrary: fc.constant("data: [DONE]").map((line) => [line]) },
  { weight: 1, arbitrary: fc.array(fc.oneof(dataLine, fieldLine), { minLength: 1, maxLength: 4 }) },
);
const lineEnding = fc.constantFrom("\n", "\r\n", "\r");
/** Extra blank lines after an event: legal SSE, and a place for a cut to land. */
const extraBlankLines = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) });
const cutPoints = fc.array(fc.nat(), { maxLength: 16 });

function serialize(events: Array<{ lines: string[]; blank: number }>, eol: string): string {
  return events.map(({ lines, blank }) => lines.map((l) => l + eol).join("") + eol.repeat(1 + blank)).join("");
}

/** `text` cut at `points` (taken modulo its length), so chunks may be empty. */
function cut(text: string, points: number[]): string[] {
  const at = [0, ...points.map((p) => p % (text.length + 1)).sort((a, b) => a - b), text.length];
  return at.slice(1).map((end, i) => text.slice(at[i], end));
}

function splitAll(chunks: string[]): { events: string[]; rest: string } {
  const splitter = new SseSplitter();
  const events = chunks.flatMap((c) => splitter.push(c));
  return { events, rest: splitter.rest() };
}

describe("SseSplitter on arbitrary streams and cuts", () => {
  it("yields the events sent, the same for any cuts as for one read", () => {
    const stream = fc.array(fc.record({ lines: event, blank: extraBlankLines }), { maxLength: 12 });
    fc.assert(
      fc.property(stream, lineEnding, cutPoints, (events, eol, points) => {
        const text = serialize(events, eol);
        const expected = { events: events.map((e) => e.lines.join("\n")), rest: "" };
        expect(splitAll([text])).toEqual(expected);
        expect(splitAll(cut(text, points))).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps an unterminated last event as the rest, whatever the cuts", () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 4 }), event, cutPoints, (events, last, points) => {
        const text = serialize(events.map((lines) => ({ lines, blank: 0 })), "\n") + last.join("\n");
        const whole = splitAll([text]);
        expect(whole.events).toEqual(events.map((lines) => lines.join("\n")));
        expect(whole.rest).toBe(last.join("\n"));
        expect(splitAll(cut(text, points))).toEqual(whole);
      }),
    );
  });
});

/** One OpenAI chunk's delta, with the text the accountant must collect from it. */
const delta = fc.oneof(
  lineText.map((content) => ({ delta: { content }, text: content })),
  lineText.map((refusal) => ({ delta: { refusal }, text: refusal })),
  fc.tuple(fc.option(lineText, { nil: undefined }), lineText).map(([name, args]) => ({
    delta: { tool_calls: [{ index: 0, ...(name === undefined ? {} : { id: "call_1", type: "function" }), function: { ...(name === undefined ? {} : { name }), arguments: args } }] },
    text: (name ?? "") + args,
  })),
);
const usage = fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat(), prompt_tokens_details: fc.record({ cached_tokens: fc.nat() }) });

/** A stream as OpenAI sends it with include_usage, comments and extra blank lines anywhere, [DONE] or not. */
const openAiStream = fc
  .record({
    model: lineText,
    deltas: fc.array(delta, { maxLength: 8 }),
    usage: fc.option(usage, { nil: undefined }),
    // Some providers put the usage on the last choice chunk instead of a chunk of its own.
    usageOnFinish: fc.boolean(),
    comments: fc.array(fc.tuple(fc.nat(), lineText), { maxLength: 3 }),
    done: fc.boolean(),
    eol: lineEnding,
    blanks: fc.array(extraBlankLines, { maxLength: 14 }),
  })
  .map((s) => {
    const chunk = (fields: Record<string, unknown>) => ({ id: "chatcmpl-1", object: "chat.completion.chunk", model: s.model, usage: null, ...fields });
    const chunks = [
      chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] }),
      ...s.deltas.map((d) => chunk({ choices: [{ index: 0, delta: d.delta, finish_reason: null }] })),
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }], ...(s.usage && s.usageOnFinish ? { usage: s.usage } : {}) }),
      ...(s.usage && !s.usageOnFinish ? [chunk({ choices: [], usage: s.usage })] : []),
    ];
    const lines = chunks.map((c) => [`data: ${JSON.stringify(c)}`]);
    for (const [at, text] of s.comments) lines.splice(at % (lines.length + 1), 0, [`:${text}`]);
    if (s.done) lines.push(["data: [DONE]"]);
    const text = serialize(lines.map((l, i) => ({ lines: l, blank: s.blanks[i] ?? 0 })), s.eol);
    // What the client gets when nothing is removed: the events, "\n" line endings, one blank line each.
    const canonical = serialize(lines.map((l) => ({ lines: l, blank: 0 })), "\n");
    return { ...s, text, canonical, collected: s.deltas.map((d) => d.text).join("") };
  });

function account(chunks: string[], clientWantsUsage: boolean) {
  const accountant = new StreamAccountant(clientWantsUsage);
  let out = "";
  for (const c of chunks) out += accountant.transform(c);
  out += accountant.flush();
  const { usage, sawDone, model } = accountant;
  return { out, usage, sawDone, model, text: accountant.outputText.join("") };
}

/** The JSON payloads a client would parse from `out`. */
function clientChunks(out: string): Array<Record<string, unknown>> {
  return splitAll([out])
    .events.map(eventData)
    .filter((d): d is string => d !== undefined && d !== "[DONE]")
    .map((d) => JSON.parse(d) as Record<string, unknown>);
}

describe("StreamAccountant on arbitrary chunkings of a valid OpenAI stream", () => {
  it("gives the same output, usage and text for any cuts as for one read", () => {
    fc.assert(
      fc.property(openAiStream, cutPoints, fc.boolean(), (stream, points, wantsUsage) => {
        const whole = account([stream.text], wantsUsage);
        expect(account(cut(stream.text, points), wantsUsage)).toEqual(whole);
        expect(whole.text).toBe(stream.collected);
        expect(whole.sawDone).toBe(stream.done);
        expect(whole.model).toBe(stream.model);
        const u = stream.usage;
        expect(whole.usage).toEqual(u && { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, cachedTokens: u.prompt_tokens_details.cached_tokens });
      }),
      { numRuns: 500 },
    );
  });

  it("without include_usage from the client: no usage key, no empty-choices chunk, nothing else lost", () => {
    fc.assert(
      fc.property(openAiStream, cutPoints, (stream, points) => {
        const sent = clientChunks(account(cut(stream.text, points), false).out);
        for (const c of sent) {
          expect(Object.hasOwn(c, "usage")).toBe(false);
          expect(Array.isArray(c.choices) && c.choices.length === 0).toBe(false);
        }
        const upstream = clientChunks(stream.text).filter((c) => !(Array.isArray(c.choices) && c.choices.length === 0));
        expect(sent).toEqual(upstream.map(({ usage: _, ...rest }) => rest));
      }),
      { numRuns: 500 },
    );
  });

  it("with include_usage from the client: the stream passes through unchanged", () => {
    fc.assert(
      fc.property(openAiStream, cutPoints, (stream, points) => {
        expect(account(cut(stream.text, points), true).out).toBe(stream.canonical);
      }),
      { numRuns: 300 },
    );
  });
});
