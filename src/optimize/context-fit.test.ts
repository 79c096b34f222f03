import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import type { ChatMessage } from "../request/parse.js";
import { fitContext } from "./context-fit.js";

const sys = (content: string): ChatMessage => ({ role: "system", content });
const dev = (content: string): ChatMessage => ({ role: "developer", content });
const user = (content: string): ChatMessage => ({ role: "user", content });
const assistant = (content: string): ChatMessage => ({ role: "assistant", content });
const call = (id: string): ChatMessage => ({ role: "assistant", content: null, tool_calls: [{ id, type: "function", function: { name: "f", arguments: "{}" } }] });
const result = (id: string): ChatMessage => ({ role: "tool", tool_call_id: id, content: `result ${id}` });

/** The contents of the messages that were kept, to compare by eye. */
const contents = (messages: ChatMessage[]) => messages.map((m) => m.content ?? `${m.role}:${m.tool_calls ? "call" : ""}`);

function thrown(fn: () => unknown): ProxyError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error("expected a ProxyError");
}

describe("fitContext", () => {
  it("keeps every message when the prompt fits, the same array included", () => {
    const messages = [sys("s"), user("u1"), assistant("a1"), user("u2")];
    const fit = fitContext(messages, [10, 20, 30, 40], 3, 103);
    expect(fit).toEqual({ messages, dropped: 0, promptTokens: 103 });
    expect(fit.messages).toBe(messages);
  });

  it("drops the oldest messages first, only as many as needed", () => {
    const messages = [sys("s"), user("u1"), assistant("a1"), user("u2"), assistant("a2"), user("u3")];
    // 3 + 10 + 20 + 30 + 40 + 50 + 60 = 213; dropping u1 and a1 reaches 163.
    const fit = fitContext(messages, [10, 20, 30, 40, 50, 60], 3, 170);
    expect(contents(fit.messages)).toEqual(["s", "u2", "a2", "u3"]);
    expect(fit.dropped).toBe(2);
    expect(fit.promptTokens).toBe(163);
  });

  it("stops dropping as soon as the prompt fits exactly", () => {
    const messages = [user("u1"), assistant("a1"), user("u2")];
    const fit = fitContext(messages, [10, 20, 30], 0, 50);
    expect(contents(fit.messages)).toEqual(["a1", "u2"]);
    expect(fit).toMatchObject({ dropped: 1, promptTokens: 50 });
  });

  it("never drops system or developer messages, wherever they are", () => {
    const messages = [sys("s"), user("u1"), dev("d"), assistant("a1"), user("u2")];
    const fit = fitContext(messages, [100, 10, 100, 10, 10], 0, 210);
    expect(contents(fit.messages)).toEqual(["s", "d", "u2"]);
    expect(fit).toMatchObject({ dropped: 2, promptTokens: 210 });
  });

  it("keeps the last user message even when older messages come after it", () => {
    const messages = [user("u1"), user("u2"), assistant("a1")];
    // The final message is an assistant turn (a prefill): the last user message is u2.
    const fit = fitContext(messages, [10, 50, 5], 0, 55);
    expect(contents(fit.messages)).toEqual(["u2", "a1"]);
    expect(fit.dropped).toBe(1);
  });

  it("never drops the final message, whatever its role", () => {
    const messages = [user("u1"), assistant("a1"), user("u2"), assistant("prefill")];
    const fit = fitContext(messages, [10, 10, 10, 80], 0, 90);
    expect(contents(fit.messages)).toEqual(["u2", "prefill"]);
    // Dropping the final message would fit, but it is never dropped.
    expect(() => fitContext(messages, [10, 10, 10, 80], 0, 89)).toThrow(ProxyError);
  });

  it("drops a tool call together with all its results", () => {
    const messages = [sys("s"), user("u1"), call("c1"), result("c1"), result("c1b"), assistant("a1"), user("u2")];
    // Dropping u1 alone (10) is not enough; the call group (5 + 20 + 20) goes next, whole.
    const fit = fitContext(messages, [10, 10, 5, 20, 20, 10, 10], 0, 40);
    expect(contents(fit.messages)).toEqual(["s", "a1", "u2"]);
    expect(fit).toMatchObject({ dropped: 4, promptTokens: 30 });
  });

  it("keeps a tool call with its results when the last of them is the final message", () => {
    const messages = [sys("s"), user("old"), assistant("a0"), user("u"), call("c1"), result("c1")];
    const fit = fitContext(messages, [10, 10, 10, 10, 10, 10], 0, 40);
    expect(contents(fit.messages)).toEqual(["s", "u", "assistant:call", "result c1"]);
    expect(fit.dropped).toBe(2);
    expect(() => fitContext(messages, [10, 10, 10, 10, 10, 10], 0, 39)).toThrow(ProxyError);
  });

  it("groups a legacy function_call with its function result", () => {
    const messages = [
      user("u1"),
      { role: "assistant", content: null, function_call: { name: "f", arguments: "{}" } },
      { role: "function", name: "f", content: "42" },
      user("u2"),
    ];
    const fit = fitContext(messages, [10, 10, 10, 10], 0, 20);
    expect(contents(fit.messages)).toEqual(["u2"]);
    expect(fit.dropped).toBe(3);
  });

  it("drops a tool result that answers no call on its own", () => {
    const messages = [user("u1"), result("orphan"), user("u2")];
    const fit = fitContext(messages, [10, 10, 10], 0, 20);
    expect(contents(fit.messages)).toEqual(["result orphan", "u2"]);
    expect(fit.dropped).toBe(1);
  });

  it("counts the fixed tokens in promptTokens and against the limit", () => {
    const messages = [user("u1"), user("u2")];
    expect(fitContext(messages, [10, 10], 5, 25)).toMatchObject({ dropped: 0, promptTokens: 25 });
    expect(fitContext(messages, [10, 10], 6, 25)).toMatchObject({ dropped: 1, promptTokens: 16 });
  });

  it("does not mutate the messages it is given", () => {
    const messages = [user("u1"), assistant("a1"), user("u2")];
    const snapshot = structuredClone(messages);
    fitContext(messages, [10, 10, 10], 0, 10);
    expect(messages).toEqual(snapshot);
  });

  it("throws context_length_exceeded when the protected messages alone are over the limit", () => {
    const messages = [sys("s"), user("u1"), assistant("a1"), user("u2")];
    const err = thrown(() => fitContext(messages, [60, 10, 10, 50], 3, 100));
    expect(err.code).toBe("context_length_exceeded");
    expect(err.status).toBe(400);
    expect(err.param).toBe("messages");
    expect(err.type).toBe("invalid_request_error");
    // 3 + 60 + 50 remain after dropping the two older messages.
    expect(err.message).toContain("113");
    expect(err.message).toContain("100");
  });

  it("throws when a single last user message is over the limit", () => {
    const err = thrown(() => fitContext([user("huge")], [1000], 3, 500));
    expect(err.code).toBe("context_length_exceeded");
  });
});
