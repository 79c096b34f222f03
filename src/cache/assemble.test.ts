import { describe, expect, it } from "vitest";
import { eventData, SseSplitter } from "../upstream/sse.js";
import { CompletionAssembler } from "./assemble.js";
import { replayAsSse } from "./replay.js";

const usage = { prompt_tokens: 20, completion_tokens: 6, total_tokens: 26 };
const head = { id: "chatcmpl-9", object: "chat.completion.chunk", created: 1_700_000_123, model: "gpt-4o-mini-2024-07-18", system_fingerprint: "fp_9" };

function chunk(choices: object[], extra: object = {}): Record<string, unknown> {
  return { ...head, choices, ...extra };
}
const delta = (index: number, d: object, finish: string | null = null, logprobs: unknown = null) => ({ index, delta: d, logprobs, finish_reason: finish });

/** A live stream with two choices whose chunks interleave, and a usage chunk at the end. */
const live = [
  chunk([delta(0, { role: "assistant", content: "" })]),
  chunk([delta(1, { role: "assistant", content: "" })]),
  chunk([delta(0, { content: "Hel" })]),
  chunk([delta(1, { content: "Bon" })]),
  chunk([delta(0, { content: "lo" })]),
  chunk([delta(1, { content: "jour" })]),
  chunk([delta(0, {}, "stop")]),
  chunk([delta(1, {}, "length")]),
  chunk([], { usage }),
];

function assemble(chunks: Array<Record<string, unknown>>): CompletionAssembler {
  const assembler = new CompletionAssembler();
  for (const c of chunks) assembler.add(c);
  return assembler;
}

function parseSse(sse: string): Array<Record<string, unknown>> {
  const events = new SseSplitter().push(sse).map((e) => eventData(e)!);
  expect(events.at(-1)).toBe("[DONE]");
  return events.slice(0, -1).map((d) => JSON.parse(d));
}

const expected = {
  id: "chatcmpl-9",
  created: 1_700_000_123,
  model: "gpt-4o-mini-2024-07-18",
  system_fingerprint: "fp_9",
  choices: [
    { index: 0, message: { role: "assistant", content: "Hello", refusal: null }, finish_reason: "stop", logprobs: null },
    { index: 1, message: { role: "assistant", content: "Bonjour", refusal: null }, finish_reason: "length", logprobs: null },
  ],
  usage,
};

describe("CompletionAssembler", () => {
  it("rebuilds the completion: content per choice, finish reasons, head fields and usage", () => {
    expect(assemble(live).result()).toEqual(expected);
  });

  it("orders the choices by index whatever order they first came in", () => {
    const reversed = [chunk([delta(1, { content: "b" }, "stop")]), chunk([delta(0, { content: "a" }, "stop")]), chunk([], { usage })];
    expect(assemble(reversed).result()!.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, "a"],
      [1, "b"],
    ]);
  });

  it("takes id, model, created and fingerprint from the first chunk", () => {
    const chunks = [chunk([delta(0, { content: "x" }, "stop")]), { ...chunk([], { usage }), id: "other", model: "other", created: 1 }];
    expect(assemble(chunks).result()).toMatchObject({ id: "chatcmpl-9", model: "gpt-4o-mini-2024-07-18", created: 1_700_000_123 });
  });

  it("rebuilds a refusal", () => {
    const chunks = [chunk([delta(0, { role: "assistant", refusal: "" })]), chunk([delta(0, { refusal: "I can't " })]), chunk([delta(0, { refusal: "help." }, "stop")]), chunk([], { usage })];
    expect(assemble(chunks).result()!.choices[0]!.message).toEqual({ role: "assistant", content: "", refusal: "I can't help." });
  });

  it("gives undefined when the answer has tool calls", () => {
    const call = { index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "{}" } };
    const chunks = [chunk([delta(0, { role: "assistant", content: null, tool_calls: [call] })]), chunk([delta(0, {}, "tool_calls")]), chunk([], { usage })];
    const assembler = assemble(chunks);
    expect(assembler.result()).toBeUndefined();
    expect(assembler.json()).toBeUndefined();
  });

  it("gives undefined when the answer has a legacy function call", () => {
    const chunks = [chunk([delta(0, { function_call: { name: "f", arguments: "{}" } }, "function_call")]), chunk([], { usage })];
    expect(assemble(chunks).result()).toBeUndefined();
  });

  it("gives undefined when the answer has log probabilities, but not for logprobs: null", () => {
    const logprobs = { content: [{ token: "Hi", logprob: -0.1, bytes: [72, 105], top_logprobs: [] }] };
    expect(assemble([chunk([delta(0, { content: "Hi" }, "stop", logprobs)]), chunk([], { usage })]).result()).toBeUndefined();
    expect(assemble([chunk([delta(0, { content: "Hi" }, "stop", null)]), chunk([], { usage })]).result()).toBeDefined();
  });

  it("gives undefined without a usage chunk", () => {
    expect(assemble(live.slice(0, -1)).result()).toBeUndefined();
  });

  it("gives undefined without any chunk or without choices", () => {
    expect(new CompletionAssembler().result()).toBeUndefined();
    expect(assemble([chunk([], { usage })]).result()).toBeUndefined();
  });

  it("json() gives a chat.completion body", () => {
    expect(JSON.parse(assemble(live).json()!)).toEqual({ ...expected, object: "chat.completion" });
  });

  it("round-trips through replayAsSse: assembling the replay gives the same completion", () => {
    const first = assemble(live).result()!;
    const again = assemble(parseSse(replayAsSse(first, true))).result();
    expect(again).toEqual(first);
    // Without usage in the replay there is nothing to cache.
    expect(assemble(parseSse(replayAsSse(first, false))).result()).toBeUndefined();
  });

  it("round-trips a cached json() body through replayAsSse", () => {
    const cached = JSON.parse(assemble(live).json()!);
    const again = assemble(parseSse(replayAsSse(cached, true)));
    expect(JSON.parse(again.json()!)).toEqual(cached);
  });
});
