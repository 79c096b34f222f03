import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Outcome } from "../usage/account.js";
import { StreamAccountant } from "../usage/stream.js";
import type { UpstreamReply } from "./client.js";
import { readJsonAnswer, relayStream } from "./relay.js";
import type { RelayBody } from "./relay-body.js";
import { SecretMasker } from "./secrets.js";

const SECRET = "sk-upstream-openai";

const chunk = (fields: Record<string, unknown>) => `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", ...fields })}\n\n`;
const delta = (content: string) => chunk({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });
const USAGE_CHUNK = chunk({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } });
const DONE = "data: [DONE]\n\n";

/** An upstream reply over `body`, counting every call of done() (the real one frees a slot: twice would be a bug). */
function replyOf(body: Readable, status = 200) {
  const readable = Object.assign(body, {
    text: async () => {
      let text = "";
      for await (const c of body) text += String(c);
      return text;
    },
  });
  const calls = { done: 0, abandoned: 0 };
  const done = () => void calls.done++;
  // The real client aborts the call once the drain period is over; here a test ends it when it likes.
  const abandon = () => void calls.abandoned++;
  const reply: UpstreamReply = { status, headers: {}, body: readable, done, abandon, [Symbol.dispose]: done };
  return { reply, calls };
}

const upstreamOf = (chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c)));

/** Relays `reply` with a chat accountant and the upstream key masked; records every onEnd. */
function relay(reply: UpstreamReply, onEnd: (o: Outcome) => Promise<void> = async () => {}) {
  const ends: Outcome[] = [];
  const failures: unknown[] = [];
  const stream = relayStream(reply, {
    reader: new StreamAccountant(true),
    masker: new SecretMasker([SECRET]),
    onEnd: async (outcome) => {
      ends.push(outcome);
      await onEnd(outcome);
    },
    onFailure: (err) => failures.push(err),
  });
  return { stream, ends, failures };
}

const clientReads = (stream: RelayBody) => stream.response({}).text();
// One turn of the event loop: what the relay's pump does after a cancel has run by then.
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("relayStream", () => {
  it("passes a whole stream through and ends with status 200 and the upstream's usage", async () => {
    const chunks = [delta("Hello"), delta(" world"), USAGE_CHUNK, DONE];
    const { reply, calls } = replyOf(upstreamOf(chunks));
    const { stream, ends } = relay(reply);
    expect(await clientReads(stream)).toBe(chunks.join(""));
    expect(ends).toEqual([{ status: 200, usage: { promptTokens: 9, cachedTokens: 0, completionTokens: 2 }, outputText: ["Hello", " world"], responseId: "chatcmpl-1" }]);
    expect(calls.done).toBe(1);
  });

  it("ends the client's stream before its accounting is done", async () => {
    const chunks = [delta("Hello"), USAGE_CHUNK, DONE];
    const { reply } = replyOf(upstreamOf(chunks));
    let settle!: () => void;
    const settling = new Promise<void>((resolve) => (settle = resolve));
    const { stream, ends } = relay(reply, () => settling);
    // The settle never finishes until the client has read the whole answer and its end.
    expect(await clientReads(stream)).toBe(chunks.join(""));
    expect(ends.map((e) => e.status)).toEqual([200]);
    settle();
  });

  it("turns a stream that ends without [DONE] into an error event and a 502, dropping the cut event", async () => {
    const { reply, calls } = replyOf(upstreamOf([delta("Hel"), 'data: {"id":"chatcmpl-1","cut-here']));
    const { stream, ends } = relay(reply);
    const broken = { error: { message: "the upstream stream ended before it was complete", type: "server_error", param: null, code: "upstream_stream_broken" } };
    expect(await clientReads(stream)).toBe(`${delta("Hel")}data: ${JSON.stringify(broken)}\n\n`);
    expect(ends.map((e) => e.status)).toEqual([502]);
    expect(ends[0]!.outputText).toEqual(["Hel"]);
    expect(calls.done).toBe(1);
  });

  it("turns an upstream connection that breaks mid-stream into an error event and a 502", async () => {
    const body = new Readable({ read() {} });
    const { reply, calls } = replyOf(body);
    const { stream, ends } = relay(reply);
    body.push(delta("Hel"));
    body.destroy(new Error("socket hang up"));
    const text = await clientReads(stream);
    expect(text).toContain("the upstream connection broke during the stream");
    expect(ends.map((e) => e.status)).toEqual([502]);
    expect(calls.done).toBe(1);
  });

  it("masks an upstream key in the stream, even one split across two chunks", async () => {
    const whole = delta(`key ${SECRET} here`) + delta(`again ${SECRET}`) + DONE;
    // The cut falls inside the second key: "sk-upstr" | "eam-openai".
    const cut = whole.lastIndexOf(SECRET) + 8;
    const { reply, calls } = replyOf(upstreamOf([whole.slice(0, cut), whole.slice(cut)]));
    const { stream, ends } = relay(reply);
    expect(await clientReads(stream)).toBe(whole.split(SECRET).join("***"));
    expect(ends.map((e) => e.status)).toEqual([200]);
    expect(calls.done).toBe(1);
  });

  it("on a client cancel reads on to the usage the upstream sends after it, forwarding nothing, and ends with 499", async () => {
    const body = new Readable({ read() {} });
    const { reply, calls } = replyOf(body);
    const { stream, ends } = relay(reply);
    const reader = stream.getReader();
    body.push(delta("Hello"));
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(delta("Hello"));
    await reader.cancel();
    expect(calls.abandoned).toBe(1);
    expect(body.destroyed).toBe(false);
    expect(ends).toEqual([]);
    // The upstream goes on after the client left: its text and usage still count.
    body.push(delta(" world"));
    body.push(USAGE_CHUNK + DONE);
    body.push(null);
    while (ends.length === 0) await turn();
    expect(ends).toEqual([{ status: 499, usage: { promptTokens: 9, cachedTokens: 0, completionTokens: 2 }, outputText: ["Hello", " world"], responseId: "chatcmpl-1" }]);
    expect(calls.done).toBe(1);
  });

  it("on a client cancel whose drain period runs out, ends with 499 and what was read by then", async () => {
    const body = new Readable({ read() {} });
    const { reply, calls } = replyOf(body);
    const { stream, ends } = relay(reply);
    const reader = stream.getReader();
    body.push(delta("Hello"));
    await reader.read();
    await reader.cancel();
    body.push(delta(" wor"));
    await turn();
    // The drain period is over: the client aborts the call.
    body.destroy(new Error("drain period over"));
    while (ends.length === 0) await turn();
    expect(ends).toEqual([{ status: 499, usage: undefined, outputText: ["Hello", " wor"], responseId: "chatcmpl-1" }]);
    await turn();
    expect(ends).toHaveLength(1);
    expect(calls.done).toBe(1);
  });

  it("ends with 200 when the client leaves after the whole answer arrived but before the upstream closed", async () => {
    const body = new Readable({ read() {} });
    const { reply, calls } = replyOf(body);
    const { stream, ends } = relay(reply);
    const reader = stream.getReader();
    body.push(delta("Hi") + USAGE_CHUNK + DONE);
    let text = "";
    while (!text.endsWith(DONE)) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    // Nothing is left to wait for: the upstream is let go at once, not drained.
    expect(calls.abandoned).toBe(0);
    expect(body.destroyed).toBe(true);
    while (ends.length === 0) await turn();
    expect(ends.map((e) => e.status)).toEqual([200]);
    expect(ends[0]!.usage).toEqual({ promptTokens: 9, cachedTokens: 0, completionTokens: 2 });
    expect(calls.done).toBe(1);
  });

  it("ends once, with 200, when the client leaves while the whole stream's end is being accounted", async () => {
    const body = new Readable({ read() {} });
    const { reply, calls } = replyOf(body);
    let stored = () => {};
    const { stream, ends } = relay(reply, () => new Promise<void>((resolve) => (stored = resolve)));
    for (const c of [delta("Hi"), USAGE_CHUNK, DONE]) body.push(c);
    body.push(null);
    while (ends.length === 0) await turn();
    // The answer is whole and its settle under way; the client leaves before the stream closes.
    await Promise.all([stream.cancel(), stored()]);
    await turn();
    expect(ends.map((e) => e.status)).toEqual([200]);
    expect(calls.done).toBe(1);
  });

  it("still closes the client's stream when the accounting at its end fails, and reports the failure", async () => {
    const { reply, calls } = replyOf(upstreamOf([delta("Hi"), DONE]));
    const { stream, ends, failures } = relay(reply, () => Promise.reject(new Error("ledger bug")));
    expect(await clientReads(stream)).toBe(delta("Hi") + DONE);
    expect(ends.map((e) => e.status)).toEqual([200]);
    expect(failures).toEqual([new Error("ledger bug")]);
    expect(calls.done).toBe(1);
  });
});

describe("readJsonAnswer", () => {
  it("reads the status, usage and id of a whole answer and disposes the reply once", async () => {
    const answer = { id: "chatcmpl-9", choices: [{ index: 0, message: { role: "assistant", content: "Hi" } }], usage: { prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 2 } } };
    const { reply, calls } = replyOf(upstreamOf([JSON.stringify(answer)]), 201);
    const read = await readJsonAnswer(reply);
    expect(read).toEqual({
      text: JSON.stringify(answer),
      outcome: { status: 201, usage: { promptTokens: 5, cachedTokens: 2, completionTokens: 1 }, outputText: [], responseId: "chatcmpl-9" },
      replayable: true,
      answer,
    });
    expect(calls.done).toBe(1);
  });

  it("keeps the text and tool calls for a local count when usage is missing; logprobs make it unreplayable", async () => {
    const calls = [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }];
    const answer = { choices: [{ message: { content: "Hi" }, logprobs: null }, { message: { content: null, tool_calls: calls }, logprobs: { content: [] } }] };
    const { reply } = replyOf(upstreamOf([JSON.stringify(answer)]));
    const read = await readJsonAnswer(reply);
    expect(read.outcome).toEqual({ status: 200, usage: undefined, outputText: ["Hi", JSON.stringify(calls)], responseId: undefined });
    expect(read.replayable).toBe(false);
  });

  it("passes an unparseable body on as text, with nothing known of its usage", async () => {
    const { reply, calls } = replyOf(upstreamOf(["<html>502 Bad Gateway</html>"]), 502);
    const read = await readJsonAnswer(reply);
    expect(read).toEqual({ text: "<html>502 Bad Gateway</html>", outcome: { status: 502, usage: undefined, outputText: [], responseId: undefined }, replayable: false });
    expect(calls.done).toBe(1);
  });
});
