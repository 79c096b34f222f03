import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";

/** The Vercel AI SDK's default OpenAI model (the Responses API) through tollgate, plain and streamed. */

let upstream: FakeUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  upstream = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json", usage: { prompt_tokens: 12, completion_tokens: 4 } }));
  proxy = await startTestProxy(testConfig(upstream.baseUrl), { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) });
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
});

describe("the Vercel AI SDK's openai('auto')", () => {
  const model = () => createOpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused-in-open-mode" })("auto");

  it("generates text", async () => {
    const { text, usage } = await generateText({ model: model(), prompt: "Say hello." });
    expect(text).toBe("Hello from the fake upstream.");
    expect(usage.inputTokens).toBe(12);
    expect(upstream.requests.at(-1)!.path).toBe("/v1/responses");
  });

  it("streams text", async () => {
    const result = streamText({ model: model(), prompt: "Stream it." });
    let text = "";
    for await (const part of result.textStream) text += part;
    expect(text).toBe("Hello there.");
    expect((await result.usage).outputTokens).toBe(4);
  });
});
