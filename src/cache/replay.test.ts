import { describe, expect, it } from "vitest";
import { eventData, SseSplitter } from "../upstream/sse.js";
import { replayAsSse, type CachedCompletion } from "./replay.js";

/** The data of each event, JSON parsed except the final `[DONE]`. */
function parse(sse: string): unknown[] {
  const splitter = new SseSplitter();
  const events = splitter.push(sse);
  expect(splitter.rest()).toBe("");
  return events.map((e) => {
    const data = eventData(e)!;
    return data === "[DONE]" ? data : JSON.parse(data);
  });
}

const usage = { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 };

const completion: CachedCompletion = {
  id: "chatcmpl-1",
  created: 1_700_000_000,
  model: "gpt-4o-mini-2024-07-18",
  system_fingerprint: "fp_1",
  choices: [{ index: 0, message: { role: "assistant", content: "Seven." }, finish_reason: "stop", logprobs: null }],
  usage,
};

const head = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1_700_000_000, model: "gpt-4o-mini-2024-07-18", system_fingerprint: "fp_1" };
const choice = (index: number, delta: object, finish: string | null = null) => ({ index, delta, logprobs: null, finish_reason: finish });

describe("replayAsSse", () => {
  it("replays a role chunk, the content, a finish chunk and [DONE], without usage when not asked", () => {
    const sse = replayAsSse(completion, false);
    expect(parse(sse)).toEqual([
      { ...head, choices: [choice(0, { role: "assistant", content: "" })] },
      { ...head, choices: [choice(0, { content: "Seven." })] },
      { ...head, choices: [choice(0, {}, "stop")] },
      "[DONE]",
    ]);
    expect(sse).not.toContain("usage");
    expect(sse.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("adds usage: null to every chunk and a final usage chunk when the client asked for usage", () => {
    expect(parse(replayAsSse(completion, true))).toEqual([
      { ...head, choices: [choice(0, { role: "assistant", content: "" })], usage: null },
      { ...head, choices: [choice(0, { content: "Seven." })], usage: null },
      { ...head, choices: [choice(0, {}, "stop")], usage: null },
      { ...head, choices: [], usage },
      "[DONE]",
    ]);
  });

  it("replays every choice in turn", () => {
    const two: CachedCompletion = {
      ...completion,
      choices: [
        { index: 0, message: { role: "assistant", content: "Two." }, finish_reason: "stop" },
        { index: 1, message: { role: "assistant", content: "Three, five" }, finish_reason: "length" },
      ],
    };
    expect(parse(replayAsSse(two, false))).toEqual([
      { ...head, choices: [choice(0, { role: "assistant", content: "" })] },
      { ...head, choices: [choice(0, { content: "Two." })] },
      { ...head, choices: [choice(0, {}, "stop")] },
      { ...head, choices: [choice(1, { role: "assistant", content: "" })] },
      { ...head, choices: [choice(1, { content: "Three, five" })] },
      { ...head, choices: [choice(1, {}, "length")] },
      "[DONE]",
    ]);
  });

  it("replays a refusal, and no content chunk when there is no content", () => {
    const refused: CachedCompletion = {
      ...completion,
      choices: [{ index: 0, message: { role: "assistant", content: null, refusal: "I can't help with that." }, finish_reason: "stop" }],
    };
    expect(parse(replayAsSse(refused, false))).toEqual([
      { ...head, choices: [choice(0, { role: "assistant", content: "" })] },
      { ...head, choices: [choice(0, { refusal: "I can't help with that." })] },
      { ...head, choices: [choice(0, {}, "stop")] },
      "[DONE]",
    ]);
  });

  it("replays the tool calls of a cached non-streamed answer, each with its index", () => {
    const calls = [
      { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
      { id: "call_2", type: "function", function: { name: "weather", arguments: '{"city":"Berlin"}' } },
    ];
    const withCalls: CachedCompletion = {
      ...completion,
      choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: calls }, finish_reason: "tool_calls" }],
    };
    expect(parse(replayAsSse(withCalls, false))).toEqual([
      { ...head, choices: [choice(0, { role: "assistant", content: "" })] },
      { ...head, choices: [choice(0, { tool_calls: [{ index: 0, ...calls[0] }, { index: 1, ...calls[1] }] })] },
      { ...head, choices: [choice(0, {}, "tool_calls")] },
      "[DONE]",
    ]);
  });

  it("defaults a missing role to assistant and a missing fingerprint to null", () => {
    const bare: CachedCompletion = { id: "x", created: 1, model: "m", choices: [{ index: 0, message: { content: "hi" }, finish_reason: "stop" }] };
    const [first] = parse(replayAsSse(bare, true)) as Array<Record<string, any>>;
    expect(first!.system_fingerprint).toBeNull();
    expect(first!.choices[0].delta).toEqual({ role: "assistant", content: "" });
    const last = parse(replayAsSse(bare, true)).at(-2) as Record<string, unknown>;
    expect(last).toMatchObject({ choices: [], usage: null });
  });
});
