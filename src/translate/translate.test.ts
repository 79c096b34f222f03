import { describe, expect, it } from "vitest";
import { readUsage, usageCost } from "../pricing/cost.js";
import { finishReasonOf, stopReasonOf, translateError } from "./anthropic.js";
import { chatToMessages } from "./chat-request.js";
import { messagesToChat } from "./messages-request.js";

describe("Anthropic usage and its prices", () => {
  it("reads input, cache writes by lifetime and cache reads as one prompt", () => {
    const usage = readUsage({ input_tokens: 100, cache_creation_input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 }, cache_read_input_tokens: 2000, output_tokens: 50 });
    expect(usage).toEqual({ promptTokens: 3100, cachedTokens: 2000, completionTokens: 50, cacheWriteTokens: 400, cacheWrite1hTokens: 600 });
    const price = { input: 3, cached_input: 0.3, cache_write: 3.75, cache_write_1h: 6, output: 15 };
    expect(usageCost({ price }, usage!)).toBe((100 * 3 + 400 * 3.75 + 600 * 6 + 2000 * 0.3 + 50 * 15) * 1000);
    // Without write prices: Anthropic's multiples of the input price.
    expect(usageCost({ price: { input: 1, output: 5 } }, usage!)).toBe((100 + 400 * 1.25 + 600 * 2 + 2000 + 50 * 5) * 1000);
  });
});

describe("stop reasons and errors", () => {
  it("map both ways", () => {
    expect([finishReasonOf("end_turn"), finishReasonOf("max_tokens"), finishReasonOf("tool_use"), finishReasonOf("refusal")]).toEqual(["stop", "length", "tool_calls", "content_filter"]);
    expect([stopReasonOf("stop"), stopReasonOf("length"), stopReasonOf("tool_calls"), stopReasonOf("content_filter")]).toEqual(["end_turn", "max_tokens", "tool_use", "refusal"]);
    expect(JSON.parse(translateError('{"error":{"message":"slow down","type":"rate_limit_exceeded"}}', 429, "anthropic"))).toEqual({ type: "error", error: { type: "rate_limit_error", message: "slow down" } });
    expect(JSON.parse(translateError('{"type":"error","error":{"type":"overloaded_error","message":"busy"}}', 529, "openai")).error).toMatchObject({ message: "busy", code: "overloaded_error" });
  });
});

describe("requests translated", () => {
  it("chat to messages: images, tool results merged into one user turn, a 400 naming what has no counterpart", () => {
    const out = chatToMessages(
      {
        model: "m",
        messages: [
          { role: "user", content: [{ type: "text", text: "look" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
          { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }, { id: "c2", type: "function", function: { name: "f", arguments: "{}" } }] },
          { role: "tool", tool_call_id: "c1", content: "one" },
          { role: "tool", tool_call_id: "c2", content: "two" },
        ],
        parallel_tool_calls: false,
        tools: [{ type: "function", function: { name: "f" } }],
      },
      99,
    );
    expect(out.max_tokens).toBe(99);
    expect((out.messages as any[])[0].content[1]).toEqual({ type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } });
    expect((out.messages as any[])[2].content.map((b: any) => b.tool_use_id)).toEqual(["c1", "c2"]);
    expect(out.tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true });
    for (const [field, value] of [["seed", 1], ["audio", { voice: "x" }], ["top_logprobs", 2], ["response_format", { type: "json_object" }]] as const) {
      expect(() => chatToMessages({ model: "m", messages: [{ role: "user", content: "x" }], [field]: value }, 1)).toThrow(expect.objectContaining({ param: field }));
    }
  });

  it("messages to chat: system, tool_use and tool_result, a 400 naming a server tool or a document", () => {
    const chat = messagesToChat({
      model: "m",
      max_tokens: 10,
      system: [{ type: "text", text: "sys", cache_control: { type: "ephemeral" } }],
      messages: [
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "f", input: { a: 1 } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok", is_error: true }, { type: "text", text: "next" }] },
      ],
      tool_choice: { type: "any" },
    });
    expect(chat.messages).toEqual([
      { role: "system", content: "sys" },
      { role: "assistant", content: null, tool_calls: [{ id: "t1", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
      { role: "tool", tool_call_id: "t1", content: "Error: ok" },
      { role: "user", content: [{ type: "text", text: "next" }] },
    ]);
    expect(chat.tool_choice).toBe("required");
    expect(() => messagesToChat({ model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }], tools: [{ type: "web_search_20250305", name: "web_search" }] })).toThrow(expect.objectContaining({ param: "tools[0]" }));
    expect(() => messagesToChat({ model: "m", max_tokens: 1, messages: [{ role: "user", content: [{ type: "document", source: { type: "base64", data: "x" } }] }] })).toThrow(expect.objectContaining({ param: "messages[0].content[0]" }));
  });
});
