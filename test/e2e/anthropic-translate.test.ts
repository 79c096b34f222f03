import Anthropic from "@anthropic-ai/sdk";
import type { ServerResponse } from "node:http";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeAnthropic, type FakeAnthropic } from "../support/anthropic-upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startUpstream, type FakeUpstream, type Received } from "../support/upstream.js";

/**
 * Translation both ways, end to end with the official clients: the `openai` SDK to a model on an
 * Anthropic upstream, the Anthropic SDK to a model on an OpenAI upstream; streamed and not, tool
 * calls included.
 */

const KEY = "tg-translate-key";
let openai: FakeUpstream;
let claude: FakeAnthropic;
let proxy: TestProxy;

const weather = { name: "weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } };

/** The OpenAI fake answers a request that offers tools, and has no tool result yet, with a call of the first tool. */
function toolCalls(req: Received, res: ServerResponse): boolean {
  const body = req.body;
  if (!Array.isArray(body.tools) || body.messages.at(-1)?.role === "tool") return false;
  const call = { id: "call_fake_1", type: "function", function: { name: body.tools[0].function.name, arguments: '{"city":"Paris"}' } };
  const usage = { prompt_tokens: 30, completion_tokens: 9, total_tokens: 39 };
  if (body.stream !== true) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: "chatcmpl-tools", object: "chat.completion", created: 1, model: body.model, choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [call] }, finish_reason: "tool_calls" }], usage }));
    return true;
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => res.write(`data: ${JSON.stringify({ id: "chatcmpl-tools", object: "chat.completion.chunk", created: 1, model: body.model, choices, ...extra })}\n\n`);
  chunk([{ index: 0, delta: { role: "assistant", content: null, tool_calls: [{ index: 0, ...call, function: { name: call.function.name, arguments: "" } }] }, finish_reason: null }]);
  for (const piece of ['{"city":', '"Paris"}']) chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] }, finish_reason: null }]);
  chunk([{ index: 0, delta: {}, finish_reason: "tool_calls" }]);
  chunk([], { usage });
  res.end("data: [DONE]\n\n");
  return true;
}

beforeEach(async () => {
  openai = await startUpstream();
  openai.route = toolCalls;
  claude = await startFakeAnthropic();
  const base = testConfig(openai.baseUrl);
  proxy = await startTestProxy(
    testConfig(openai.baseUrl, {
      upstreams: { ...base.upstreams, claude: { base_url: claude.baseUrl, api_key: "sk-ant-upstream-translate-0123", protocol: "anthropic", timeout_ms: 5000 } },
      models: {
        "gpt-4o": { upstream: "openai", tier: "standard", price: { input: 2.5, cached_input: 1.25, output: 10 }, context_window: 128000 },
        "claude-sonnet-4-5": { upstream: "claude", tier: "standard", price: { input: 3, cached_input: 0.3, output: 15 }, context_window: 200000, max_output_tokens: 64000 },
      },
      tiers: { standard: ["gpt-4o", "claude-sonnet-4-5"] },
      keys: [{ id: "dev", key: KEY }],
      routing: { client_model: "pin" },
    }),
  );
});

afterEach(async () => {
  await proxy.shutdown();
  await openai.close();
  await claude.close();
});

describe("the openai SDK to a model on an Anthropic upstream", () => {
  const client = () => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: KEY, maxRetries: 0 });

  it("a completion: system prompt, roles and usage translated, the answer priced from Anthropic's usage", async () => {
    const { data, response } = await client()
      .chat.completions.create({ model: "claude-sonnet-4-5", max_tokens: 50, temperature: 0.5, stop: ["END"], messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hi" }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("Hello from the fake Claude.");
    expect(data.choices[0]!.finish_reason).toBe("stop");
    expect(data.usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 7 });
    expect(response.headers.get("x-tollgate-cost")).toBe(String((20 * 3 + 7 * 15) / 1e6));
    const sent = claude.requests[0]!;
    expect(sent.path).toBe("/v1/messages");
    expect(sent.body).toMatchObject({ model: "claude-sonnet-4-5", max_tokens: 50, temperature: 0.5, stop_sequences: ["END"], system: [{ type: "text", text: "Be brief." }] });
    expect(sent.body.messages).toEqual([{ role: "user", content: [{ type: "text", text: "Say hi" }] }]);
  });

  it("a stream, with usage when asked", async () => {
    const stream = await client().chat.completions.create({ model: "claude-sonnet-4-5", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "Say hi" }] });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Hello from the fake Claude.");
    expect(finish).toBe("stop");
    expect(usage).toMatchObject({ prompt_tokens: 20, completion_tokens: 7 });
    // A chat request without a limit is held, and sent, with the model's output limit: Anthropic needs one.
    expect(claude.requests[0]!.body.max_tokens).toBe(64000);
  });

  it("tool calls over two turns, streamed and not", async () => {
    const tools: OpenAI.ChatCompletionTool[] = [{ type: "function", function: weather }];
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    const first = await client().chat.completions.create({ model: "claude-sonnet-4-5", tools, messages });
    expect(first.choices[0]!.finish_reason).toBe("tool_calls");
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: "weather", arguments: '{"city":"Paris"}' });
    expect(claude.requests[0]!.body.tools).toEqual([{ name: "weather", description: "Weather in a city", input_schema: weather.parameters }]);

    const streamed = await client().chat.completions.stream({ model: "claude-sonnet-4-5", tools, messages }).finalChatCompletion();
    expect(streamed.choices[0]!.message.tool_calls![0]).toMatchObject({ id: "toolu_fake_1", function: { name: "weather", arguments: '{"city":"Paris"}' } });

    messages.push(first.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "Sunny" });
    const second = await client().chat.completions.create({ model: "claude-sonnet-4-5", tools, messages });
    expect(second.choices[0]!.message.content).toBe("Hello from the fake Claude.");
    expect(claude.requests[2]!.body.messages.slice(1)).toEqual([
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_fake_1", name: "weather", input: { city: "Paris" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_fake_1", content: [{ type: "text", text: "Sunny" }] }] },
    ]);
  });

  it("a field without a counterpart is a 400 naming it, nothing sent, nothing spent", async () => {
    for (const [field, extra] of [["n", { n: 2 }], ["logprobs", { logprobs: true }], ["presence_penalty", { presence_penalty: 0.5 }]] as const) {
      const err = await client().chat.completions.create({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hi" }], ...extra }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(field);
    }
    expect(claude.requests).toHaveLength(0);
  });
});

describe("the Anthropic SDK to a model on an OpenAI upstream", () => {
  const client = () => new Anthropic({ baseURL: proxy.url, apiKey: KEY, maxRetries: 0 });

  it("a message: system, roles and usage translated", async () => {
    const message = await client().messages.create({ model: "gpt-4o", max_tokens: 60, system: "Be brief.", messages: [{ role: "user", content: "Say hi" }] });
    expect(message).toMatchObject({ type: "message", role: "assistant", content: [{ type: "text", text: "Hello from the fake upstream." }], stop_reason: "end_turn", usage: { input_tokens: 10, output_tokens: 5 } });
    const sent = openai.requests[0]!;
    expect(sent.path).toBe("/v1/chat/completions");
    expect(sent.headers.authorization).toBe("Bearer sk-upstream-openai");
    expect(sent.body).toMatchObject({ model: "gpt-4o", max_tokens: 60, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Say hi" }] });
  });

  it("a stream: named events built from chat chunks, usage in message_delta", async () => {
    openai.behave = () => ({ kind: "stream", pieces: ["Hello from ", "the fake upstream."] });
    const stream = client().messages.stream({ model: "gpt-4o", max_tokens: 60, messages: [{ role: "user", content: "Say hi" }] });
    const message = await stream.finalMessage();
    expect(message.content).toEqual([expect.objectContaining({ type: "text", text: "Hello from the fake upstream." })]);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.usage.output_tokens).toBe(5);
    expect(message.usage.input_tokens).toBe(10);
    expect(openai.requests[0]!.body.stream_options).toEqual({ include_usage: true });
  });

  it("tool use over two turns, streamed and not", async () => {
    const tools: Anthropic.Tool[] = [{ name: "weather", description: weather.description, input_schema: weather.parameters as Anthropic.Tool.InputSchema }];
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    const first = await client().messages.create({ model: "gpt-4o", max_tokens: 100, tools, messages });
    expect(first.stop_reason).toBe("tool_use");
    expect(first.content).toEqual([{ type: "tool_use", id: "call_fake_1", name: "weather", input: { city: "Paris" } }]);
    expect(openai.requests[0]!.body.tools).toEqual([{ type: "function", function: weather }]);

    const streamed = await client().messages.stream({ model: "gpt-4o", max_tokens: 100, tools, messages }).finalMessage();
    expect(streamed.stop_reason).toBe("tool_use");
    expect(streamed.content[0]).toMatchObject({ type: "tool_use", id: "call_fake_1", name: "weather", input: { city: "Paris" } });
    expect(streamed.usage).toMatchObject({ input_tokens: 30, output_tokens: 9 });

    messages.push({ role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: "call_fake_1", content: "Sunny" }] });
    const second = await client().messages.create({ model: "gpt-4o", max_tokens: 100, tools, messages });
    expect(second.content[0]).toMatchObject({ type: "text", text: "Hello from the fake upstream." });
    expect(openai.requests[2]!.body.messages.slice(1)).toEqual([
      { role: "assistant", content: null, tool_calls: [{ id: "call_fake_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "call_fake_1", content: "Sunny" },
    ]);
  });

  it("an OpenAI upstream's error reaches the Anthropic SDK in Anthropic's shape", async () => {
    openai.route = undefined;
    openai.behave = () => ({ kind: "error", status: 400, body: { error: { message: "bad things", type: "invalid_request_error", param: null, code: null } } });
    const err = await client().messages.create({ model: "gpt-4o", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({ type: "error", error: { type: "invalid_request_error", message: "bad things" } });
  });
});
