import { describe, expect, it } from "vitest";
import { eventData, SseSplitter } from "../upstream/sse.js";
import { StreamAccountant } from "./stream.js";

const chunk = (fields: Record<string, unknown>) =>
  `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", model: "gpt-4o-mini-2024-07-18", ...fields })}\n\n`;

const USAGE = { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, prompt_tokens_details: { cached_tokens: 3 } };

/** An OpenAI stream as sent with `stream_options.include_usage: true`. */
const STREAM = [
  chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }], usage: null }),
  ": keep-alive\n\n",
  chunk({ choices: [{ index: 0, delta: { content: "Hello" }, finish_reason: null }], usage: null }),
  chunk({ choices: [{ index: 0, delta: { content: " world" }, finish_reason: "stop" }], usage: null }),
  chunk({ choices: [], usage: USAGE }),
  "data: [DONE]\n\n",
].join("");

/** Runs `chunks` through an accountant; returns it and everything it let through. */
function run(chunks: string[], clientWantsUsage: boolean): { accountant: StreamAccountant; out: string } {
  const accountant = new StreamAccountant(clientWantsUsage);
  let out = "";
  for (const c of chunks) out += accountant.transform(c);
  out += accountant.flush();
  return { accountant, out };
}

/** The events a client would parse from `text`. */
function events(text: string): string[] {
  const splitter = new SseSplitter();
  return [...splitter.push(text), ...(splitter.rest() ? [splitter.rest()] : [])];
}

describe("StreamAccountant when the client asked for usage", () => {
  it("captures usage and passes the stream through unchanged", () => {
    const { accountant, out } = run([STREAM], true);
    expect(out).toBe(STREAM);
    expect(accountant.usage).toEqual({ promptTokens: 9, cachedTokens: 3, completionTokens: 2 });
    expect(accountant.sawDone).toBe(true);
    expect(accountant.model).toBe("gpt-4o-mini-2024-07-18");
    expect(accountant.outputText.join("")).toBe("Hello world");
  });
});

describe("StreamAccountant when the client did not ask for usage", () => {
  it("captures usage but strips the usage-only chunk and every usage field", () => {
    const { accountant, out } = run([STREAM], false);
    expect(accountant.usage).toEqual({ promptTokens: 9, cachedTokens: 3, completionTokens: 2 });
    expect(accountant.sawDone).toBe(true);
    const sent = events(out);
    expect(sent).toHaveLength(5);
    expect(sent[1]).toBe(": keep-alive");
    expect(sent[4]).toBe("data: [DONE]");
    const json = [sent[0], sent[2], sent[3]].map((e) => JSON.parse(eventData(e!)!) as Record<string, unknown>);
    for (const parsed of json) {
      expect("usage" in parsed).toBe(false);
      expect(parsed.choices).toHaveLength(1);
    }
    expect(json.map((p) => (p.choices as Array<{ delta: { content: string } }>)[0]!.delta.content)).toEqual(["", "Hello", " world"]);
    expect(out).not.toContain("prompt_tokens");
  });

  it("keeps a chunk that carries choices and usage together, without its usage", () => {
    const text = chunk({ choices: [{ index: 0, delta: { content: "end" }, finish_reason: "stop" }], usage: USAGE });
    const { accountant, out } = run([text], false);
    expect(accountant.usage?.completionTokens).toBe(2);
    expect(JSON.parse(eventData(events(out)[0]!)!)).toEqual({
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      model: "gpt-4o-mini-2024-07-18",
      choices: [{ index: 0, delta: { content: "end" }, finish_reason: "stop" }],
    });
  });

  it("ignores malformed usage but still strips it", () => {
    const { accountant, out } = run([chunk({ choices: [], usage: { tokens: "many" } })], false);
    expect(accountant.usage).toBeUndefined();
    expect(out).toBe("");
  });
});

describe("StreamAccountant reading a stream", () => {
  it("gives the same output whatever position the stream is cut at", () => {
    for (const wants of [true, false]) {
      const whole = run([STREAM], wants).out;
      for (let i = 0; i <= STREAM.length; i++) {
        const { accountant, out } = run([STREAM.slice(0, i), STREAM.slice(i)], wants);
        expect([wants, i, out]).toEqual([wants, i, whole]);
        expect(accountant.usage?.promptTokens).toBe(9);
      }
    }
  });

  it("notes [DONE] only when it comes", () => {
    const cut = STREAM.slice(0, STREAM.indexOf("data: [DONE]"));
    expect(run([cut], false).accountant.sawDone).toBe(false);
  });

  it("collects content, refusals and tool-call names and arguments", () => {
    const tool = (fn: Record<string, unknown>) => chunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: fn }] } }] });
    const text = [
      chunk({ choices: [{ index: 0, delta: { content: "Let me check." } }] }),
      tool({ name: "get_weather", arguments: "" }),
      tool({ arguments: '{"city":' }),
      tool({ arguments: '"Paris"}' }),
      chunk({ choices: [{ index: 1, delta: { refusal: "I can't." } }] }),
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] }),
    ].join("");
    const { accountant } = run([text], false);
    expect(accountant.outputText.join("")).toBe('Let me check.get_weather{"city":"Paris"}I can\'t.');
    expect(accountant.usage).toBeUndefined();
  });

  it("passes comments, non-JSON data and other events through untouched", () => {
    const text = ": OPENROUTER PROCESSING\n\nevent: ping\n\ndata: not json\n\ndata: 42\n\n";
    expect(run([text], false).out).toBe(text);
  });

  it("forwards an unterminated tail as is, without reading it (SSE parsers drop it too)", () => {
    const tail = chunk({ choices: [], usage: USAGE }).trimEnd();
    const { accountant, out } = run([tail], false);
    expect(out).toBe(tail);
    expect(accountant.usage).toBeUndefined();
  });

  it("takes the model from the first chunk that names one", () => {
    const text = `data: {"choices":[]}\n\n${chunk({ choices: [] })}data: {"model":"later","choices":[]}\n\n`;
    expect(run([text], true).accountant.model).toBe("gpt-4o-mini-2024-07-18");
  });
});
