import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { OpenAI as LlamaOpenAI, OpenAIEmbedding as LlamaEmbedding } from "@llamaindex/openai";
import { Agent, run, setDefaultOpenAIClient, setTracingDisabled } from "@openai/agents";
import { generateText, streamText } from "ai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { EXAMPLE_DAY, EXAMPLE_KEY, exampleConfig } from "../support/example.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, type TestProxy } from "../support/proxy.js";

/**
 * Real clients with their own defaults (model names, endpoints), on the example configuration with
 * only the base URL changed and a tollgate key: each gets its answer, and each call is accounted.
 */

/** The fake's vector, as it arrives through base64 float32 (what the SDKs ask for). */
const FLOAT32 = [...new Float32Array([0.1, 0.2, 0.3])];
let upstream: FakeUpstream;
let proxy: TestProxy;
let baseURL: string;

beforeAll(async () => {
  upstream = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json", usage: { prompt_tokens: 12, completion_tokens: 4 } }));
  proxy = await startTestProxy(exampleConfig(upstream.baseUrl), { clock: new ManualClock(EXAMPLE_DAY) });
  baseURL = `${proxy.url}/v1`;
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
});

/** The usage records written for the calls `run` makes, once every one is settled. */
async function recordsOf(run: () => Promise<unknown>) {
  const before = (await proxy.services.store.usageRecords(10_000)).length;
  const calls = upstream.requests.length;
  await run();
  const made = upstream.requests.length - calls;
  expect(made).toBeGreaterThan(0);
  await expect.poll(async () => (await proxy.services.store.usageRecords(10_000)).length).toBe(before + made);
  return (await proxy.services.store.usageRecords(made)).reverse();
}

describe("clients with only the base URL changed", () => {
  it("the openai SDK", async () => {
    const client = new OpenAI({ baseURL, apiKey: EXAMPLE_KEY, maxRetries: 0 });
    const records = await recordsOf(async () => {
      const chat = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
      expect(chat.choices[0]!.message.content).toBe("Hello from the fake upstream.");
      expect((await client.embeddings.create({ model: "text-embedding-3-small", input: "hi" })).data).toHaveLength(1);
    });
    expect(records.map((r) => [r.endpoint, r.status])).toEqual([["chat.completions", 200], ["embeddings", 200]]);
  });

  it("the AI SDK: its default Responses model and openai.chat", async () => {
    const openai = createOpenAI({ baseURL, apiKey: EXAMPLE_KEY });
    const records = await recordsOf(async () => {
      expect((await generateText({ model: openai("gpt-4o"), prompt: "Say hello." })).text).toBe("Hello from the fake upstream.");
      let streamed = "";
      for await (const part of streamText({ model: openai.chat("gpt-4o-mini"), prompt: "Stream it." }).textStream) streamed += part;
      expect(streamed).toBe("Hello from the stream.");
    });
    expect(records.map((r) => [r.endpoint, r.requested_model, r.status])).toEqual([
      ["responses", "gpt-4o", 200],
      ["chat.completions", "gpt-4o-mini", 200],
    ]);
  });

  it("@openai/agents with its default model", async () => {
    setDefaultOpenAIClient(new OpenAI({ baseURL, apiKey: EXAMPLE_KEY, maxRetries: 0 }));
    // Traces go to OpenAI's own tracing endpoint, not through any base URL: off, as offline.
    setTracingDisabled(true);
    const records = await recordsOf(async () => {
      const result = await run(new Agent({ name: "helper", instructions: "Answer briefly." }), "Say hello.");
      expect(result.finalOutput).toBe("Hello from the fake upstream.");
    });
    expect(records[0]).toMatchObject({ endpoint: "responses", status: 200, route: expect.stringMatching(/^unknown-model:/) });
  });

  it("@langchain/openai with its defaults, chat and embeddings", async () => {
    const records = await recordsOf(async () => {
      const answer = await new ChatOpenAI({ apiKey: EXAMPLE_KEY, configuration: { baseURL } }).invoke("Say hello.");
      expect(answer.content).toBe("Hello from the fake upstream.");
      const vector = await new OpenAIEmbeddings({ apiKey: EXAMPLE_KEY, configuration: { baseURL } }).embedQuery("hello");
      expect(vector).toEqual(FLOAT32);
    });
    expect(records.map((r) => [r.endpoint, r.status])).toEqual([["chat.completions", 200], ["embeddings", 200]]);
    expect(records[1]!.routed_model).toBe("text-embedding-3-small");
  });

  it("llamaindex with its defaults, chat and embeddings", async () => {
    const records = await recordsOf(async () => {
      const answer = await new LlamaOpenAI({ apiKey: EXAMPLE_KEY, baseURL }).chat({ messages: [{ role: "user", content: "Say hello." }] });
      expect(answer.message.content).toBe("Hello from the fake upstream.");
      expect(await new LlamaEmbedding({ apiKey: EXAMPLE_KEY, baseURL }).getTextEmbedding("hello")).toEqual(FLOAT32);
    });
    expect(records.map((r) => [r.endpoint, r.status])).toEqual([["chat.completions", 200], ["embeddings", 200]]);
  });
});
