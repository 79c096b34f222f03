import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { ChatBody, ChatMessage } from "../request/parse.js";
import { countMessageTokens, countTextTokens, REPLY_PRIMER_TOKENS } from "../tokens/count.js";
import { testConfig } from "../../test/support/proxy.js";
import { optimizeRequest, type OptimizeSettings } from "./index.js";

const mini = testConfig("http://127.0.0.1:1/v1").models["gpt-4o-mini"]!;
const ENC = "o200k_base";
const LIMITS = { classification: 50, summary: 300 };

function settings(extra: Partial<OptimizeSettings> = {}): OptimizeSettings {
  return { prompt: false, fit_context: true, output_limits: LIMITS, ...extra };
}

/** The routed model with a context window small enough to fill by hand. */
function withWindow(contextWindow: number): ModelConfig {
  return { ...mini, context_window: contextWindow };
}

const conversation: ChatMessage[] = [
  { role: "system", content: "You answer questions about the weather in one short sentence." },
  { role: "user", content: "What was the weather like in Paris yesterday afternoon?" },
  { role: "assistant", content: "It was sunny and mild, around twenty degrees." },
  { role: "user", content: "And what about Berlin on the same day?" },
  { role: "assistant", content: "Berlin had light rain and about fifteen degrees." },
  { role: "user", content: "Which of the two cities was warmer overall?" },
];

function body(extra: Partial<ChatBody> = {}): ChatBody {
  return { model: "auto", messages: conversation, ...extra };
}

async function counts(messages: ChatMessage[]): Promise<number[]> {
  const out: number[] = [];
  for (const m of messages) out.push(await countMessageTokens(m, ENC));
  return out;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe("optimizeRequest", () => {
  it("sets the output limit of the request type and reports it", async () => {
    const out = await optimizeRequest(body(), "summary", settings(), mini, ENC);
    expect(out.outputLimit).toBe(300);
    expect(out.body.max_tokens).toBe(300);
    expect(out.body.messages).toEqual(conversation);
    expect(out).toMatchObject({ optimizerSavedTokens: 0, droppedMessages: 0, droppedTokens: 0 });
  });

  it("reserves the output limit it set, not the default, when fitting the context", async () => {
    const prompt = REPLY_PRIMER_TOKENS + sum(await counts(conversation));
    const model = withWindow(prompt + 300);
    const limited = await optimizeRequest(body(), "summary", settings(), model, ENC);
    expect(limited.droppedMessages).toBe(0);
    expect(limited.body.messages).toEqual(conversation);
    // One token less room for the answer than the limit: the oldest message must go.
    const tighter = await optimizeRequest(body(), "summary", settings(), withWindow(prompt + 299), ENC);
    expect(tighter.droppedMessages).toBe(1);
    // Without a limit of its type, the default reserve (4096) leaves no room for this conversation.
    await expect(optimizeRequest(body(), "chat", settings(), model, ENC)).rejects.toMatchObject({ code: "context_length_exceeded" });
  });

  it("reserves the client's own limit, capped by the model's max_output_tokens", async () => {
    const prompt = REPLY_PRIMER_TOKENS + sum(await counts(conversation));
    const own = await optimizeRequest(body({ max_completion_tokens: 1000 }), "summary", settings(), withWindow(prompt + 1000), ENC);
    expect(own).toMatchObject({ outputLimit: undefined, droppedMessages: 0 });
    expect(own.body.max_tokens).toBeUndefined();
    const capped = await optimizeRequest(body({ max_tokens: 1_000_000 }), "chat", settings(), withWindow(prompt + mini.max_output_tokens!), ENC);
    expect(capped.droppedMessages).toBe(0);
  });

  it("reports the dropped messages and exactly their tokens", async () => {
    const per = await counts(conversation);
    const prompt = REPLY_PRIMER_TOKENS + sum(per);
    // Room for everything but the first user message and the first answer.
    const limit = prompt - per[1]! - per[2]!;
    const out = await optimizeRequest(body(), "classification", settings(), withWindow(limit + 50), ENC);
    expect(out.droppedMessages).toBe(2);
    expect(out.droppedTokens).toBe(per[1]! + per[2]!);
    expect(out.body.messages).toEqual([conversation[0], ...conversation.slice(3)]);
    expect(out.body.max_tokens).toBe(50);
  });

  it("counts the tools against the window but not as dropped tokens", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", description: "Weather for a city on a day", parameters: { type: "object" } } }];
    const per = await counts(conversation);
    const toolTokens = await countTextTokens(JSON.stringify(tools), ENC);
    const limit = REPLY_PRIMER_TOKENS + toolTokens + sum(per) - per[1]!;
    const out = await optimizeRequest(body({ tools }), "classification", settings(), withWindow(limit + 50), ENC);
    expect(out.droppedMessages).toBe(1);
    expect(out.droppedTokens).toBe(per[1]);
    expect(out.body.tools).toBe(tools);
  });

  it("does not fit the context when fit_context is off", async () => {
    const out = await optimizeRequest(body(), "classification", settings({ fit_context: false }), withWindow(60), ENC);
    expect(out.body.messages).toEqual(conversation);
    expect(out).toMatchObject({ droppedMessages: 0, droppedTokens: 0, outputLimit: 50 });
  });

  it("lets context_length_exceeded through when the protected messages do not fit", async () => {
    const err = await optimizeRequest(body(), "classification", settings(), withWindow(60), ENC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect(err).toMatchObject({ code: "context_length_exceeded", status: 400, param: "messages" });
  });

  const wordy: ChatMessage[] = [
    { role: "system", content: "Could you please   be brief." },
    { role: "user", content: "Could you please   explain,  in order to   help me, why the sky is blue?" },
  ];

  it("optimizes the prompt when enabled and reports the tokens it saved", async () => {
    const out = await optimizeRequest({ model: "auto", messages: wordy }, "chat", settings({ prompt: true }), mini, ENC);
    const optimized: ChatMessage[] = [wordy[0]!, { role: "user", content: "Explain, to help me, why the sky is blue?" }];
    expect(out.body.messages).toEqual(optimized);
    expect(out.optimizerSavedTokens).toBeGreaterThan(0);
    expect(out.optimizerSavedTokens).toBe(sum(await counts(wordy)) - sum(await counts(optimized)));
  });

  it("leaves the prompt alone and saves nothing when prompt optimization is off", async () => {
    const out = await optimizeRequest({ model: "auto", messages: wordy }, "chat", settings({ prompt: false }), mini, ENC);
    expect(out.body.messages).toBe(wordy);
    expect(out.optimizerSavedTokens).toBe(0);
  });

  it("fits the context on the optimized prompt", async () => {
    const messages: ChatMessage[] = [
      { role: "user", content: "Could you please    tell me    a joke?" },
      { role: "assistant", content: "Why did the chicken cross the road?" },
      { role: "user", content: "In order to   understand it,  could you please explain the joke?" },
    ];
    const optimized = await optimizeRequest({ model: "auto", messages }, "summary", settings({ prompt: true, fit_context: false }), mini, ENC);
    const per = await counts(optimized.body.messages);
    // Room for the optimized prompt exactly: nothing is dropped, though the original was longer.
    const model = withWindow(REPLY_PRIMER_TOKENS + sum(per) + 300);
    const out = await optimizeRequest({ model: "auto", messages }, "summary", settings({ prompt: true }), model, ENC);
    expect(out.optimizerSavedTokens).toBeGreaterThan(0);
    expect(out.droppedMessages).toBe(0);
    expect(out.body.messages).toEqual(optimized.body.messages);
  });

  it("does not mutate the input body", async () => {
    const input = body({ messages: structuredClone(wordy) });
    const snapshot = structuredClone(input);
    await optimizeRequest(input, "summary", settings({ prompt: true }), mini, ENC);
    expect(input).toEqual(snapshot);
  });

  it("refuses an output limit that leaves no room for any prompt, naming the field", async () => {
    const model = withWindow(1000);
    const error = await optimizeRequest(body({ max_completion_tokens: 1000 }), "chat", settings(), { ...model, max_output_tokens: undefined }, ENC).catch((e) => e);
    expect(error).toBeInstanceOf(ProxyError);
    expect(error).toMatchObject({ code: "context_length_exceeded", param: "max_completion_tokens" });
    expect(error.message).toContain("context window of 1000 tokens");
  });
});
