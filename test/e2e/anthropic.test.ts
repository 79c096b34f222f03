import Anthropic from "@anthropic-ai/sdk";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeAnthropic, type FakeAnthropic } from "../support/anthropic-upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";

/** The official Anthropic SDK through tollgate, to a native Anthropic upstream (the loopback fake). */

const KEY = "tg-anthropic-client-key";
const ADMIN = "tg-anthropic-admin-key";
const UPSTREAM_KEY = "sk-ant-upstream-secret-0123456789";

let openai: FakeUpstream;
let claude: FakeAnthropic;
let proxy: TestProxy;

export function claudeModels(): Record<string, unknown> {
  return {
    "claude-sonnet-4-5": {
      upstream: "claude",
      upstream_model: "claude-sonnet-4-5-20250929",
      tier: "standard",
      price: { input: 3, cached_input: 0.3, cache_write: 3.75, cache_write_1h: 6, output: 15, web_search: 0.01 },
      context_window: 200000,
      max_output_tokens: 64000,
    },
    "claude-haiku-4-5": { upstream: "claude", tier: "economy", price: { input: 1, cached_input: 0.1, output: 5 }, context_window: 200000, max_output_tokens: 64000 },
  };
}

async function start(overrides: Record<string, unknown> = {}) {
  const base = testConfig(openai.baseUrl);
  const config = testConfig(openai.baseUrl, {
    upstreams: { ...base.upstreams, claude: { base_url: claude.baseUrl, api_key: UPSTREAM_KEY, protocol: "anthropic", timeout_ms: 5000 } },
    models: { ...structuredClone(Object.fromEntries(Object.entries(base.models).map(([n, m]) => [n, { upstream: m.upstream, tier: m.tier, price: m.price, context_window: m.context_window, ...(m.upstream_model ? { upstream_model: m.upstream_model } : {}) }]))), ...claudeModels() },
    tiers: { economy: ["gpt-4o-mini", "claude-haiku-4-5"], standard: ["gpt-4o", "claude-sonnet-4-5"], premium: ["gpt-4-turbo"] },
    keys: [{ id: "dev", key: KEY }],
    admin_key: ADMIN,
    // The model asked for is the model served: these tests are about the wire, not the routing (an
    // unknown name is refused, not routed as auto).
    routing: { client_model: "pin", unknown_models: "reject" },
    ...overrides,
  });
  proxy = await startTestProxy(config);
}

const sdk = (options: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) => new Anthropic({ baseURL: proxy.url, apiKey: KEY, maxRetries: 0, ...options });

async function costs(): Promise<{ total_requests: number; total_cost: number }> {
  const res = await fetch(`${proxy.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.json()) as { total_requests: number; total_cost: number };
}

beforeEach(async () => {
  openai = await startUpstream();
  claude = await startFakeAnthropic();
  await start();
});

afterEach(async () => {
  await proxy.shutdown();
  await openai.close();
  await claude.close();
});

describe("the Messages API through tollgate", () => {
  it("messages.create: a Claude Code model name reaches its configured model, with the upstream's own key and the client's version and beta headers", async () => {
    const { data, response } = await sdk()
      .messages.create({ model: "claude-sonnet-4-5-20250929", max_tokens: 100, messages: [{ role: "user", content: "Say hi" }] }, { headers: { "anthropic-beta": "prompt-caching-2024-07-31" } })
      .withResponse();
    expect(data.content[0]).toEqual({ type: "text", text: "Hello from the fake Claude." });
    expect(response.headers.get("x-tollgate-model")).toBe("claude-sonnet-4-5-20250929");
    expect(response.headers.get("x-tollgate-tier")).toBe("standard");
    expect(response.headers.get("x-tollgate-cost")).toBe(String((20 * 3 + 7 * 15) / 1e6));
    const sent = claude.requests[0]!;
    expect(sent.path).toBe("/v1/messages");
    expect(sent.headers["x-api-key"]).toBe(UPSTREAM_KEY);
    expect(sent.headers["anthropic-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(sent.headers["anthropic-beta"]).toBe("prompt-caching-2024-07-31");
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body.model).toBe("claude-sonnet-4-5-20250929");
    expect(openai.requests).toHaveLength(0);
    await expect.poll(async () => (await costs()).total_requests).toBe(1);
  });

  it("authenticates a bearer token too (ANTHROPIC_AUTH_TOKEN), and the beta client's ?beta=true", async () => {
    const client = new Anthropic({ baseURL: proxy.url, authToken: KEY, apiKey: null, maxRetries: 0 });
    const message = await client.beta.messages.create({ model: "claude-haiku-4-5", max_tokens: 50, messages: [{ role: "user", content: "hi" }] });
    expect(message.content[0]).toMatchObject({ type: "text" });
    expect(claude.requests[0]!.body.model).toBe("claude-haiku-4-5");
  });

  it("messages.stream: named events, the final message, and its usage settled", async () => {
    const stream = sdk().messages.stream({ model: "claude-sonnet-4-5", max_tokens: 100, messages: [{ role: "user", content: "Say hi" }] });
    const types: string[] = [];
    stream.on("streamEvent", (event) => types.push(event.type));
    const message = await stream.finalMessage();
    expect(message.content[0]).toEqual({ type: "text", text: "Hello from the fake Claude." });
    expect(message.usage.output_tokens).toBe(7);
    expect(types).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    await expect.poll(async () => (await costs()).total_cost).toBeCloseTo((20 * 3 + 7 * 15) / 1e6, 12);
  });

  it("tool use over two turns", async () => {
    const tools: Anthropic.Tool[] = [{ name: "weather", description: "Weather in a city", input_schema: { type: "object", properties: { city: { type: "string" } } } }];
    const client = sdk();
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    const first = await client.messages.create({ model: "claude-sonnet-4-5", max_tokens: 200, tools, messages });
    expect(first.stop_reason).toBe("tool_use");
    const call = first.content.find((b) => b.type === "tool_use")!;
    expect(call).toMatchObject({ name: "weather", input: { city: "Paris" } });
    messages.push({ role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "Sunny, 22C" }] });
    const second = await client.messages.create({ model: "claude-sonnet-4-5", max_tokens: 200, tools, messages });
    expect(second.stop_reason).toBe("end_turn");
    expect(claude.requests[1]!.body.messages[2].content[0]).toMatchObject({ type: "tool_result", content: "Sunny, 22C" });
  });

  it("countTokens: asked of an Anthropic upstream, counted here for any other model; free", async () => {
    const client = sdk();
    expect(await client.messages.countTokens({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hello" }] })).toEqual({ input_tokens: 42 });
    expect(claude.requests[0]!.path).toBe("/v1/messages/count_tokens");
    expect(claude.requests[0]!.body.model).toBe("claude-sonnet-4-5-20250929");
    const local = await client.messages.countTokens({ model: "gpt-4o", system: "Be brief.", messages: [{ role: "user", content: "hello there" }] });
    expect(local.input_tokens).toBeGreaterThan(5);
    expect((await costs()).total_requests).toBe(0);
  });

  it("masks the upstream's key where an answer repeats it, whole and streamed, and in an upstream error", async () => {
    claude.behave = () => ({ kind: "answer", text: `the key is ${UPSTREAM_KEY}.` });
    const whole = await sdk().messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
    expect(JSON.stringify(whole)).not.toContain(UPSTREAM_KEY);
    let streamed = "";
    for await (const event of sdk().messages.stream({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }] })) streamed += JSON.stringify(event);
    expect(streamed).toContain("***");
    expect(streamed).not.toContain(UPSTREAM_KEY);
    claude.behave = () => ({ kind: "error", status: 400, type: "invalid_request_error", message: `bad key ${UPSTREAM_KEY}` });
    const err = await sdk().messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(JSON.stringify((err as InstanceType<typeof Anthropic.BadRequestError>).error)).not.toContain(UPSTREAM_KEY);
  });

  it("an upstream error reaches the SDK as its own error class, in Anthropic's shape", async () => {
    claude.behave = () => ({ kind: "error", status: 400, type: "invalid_request_error", message: "messages: roles must alternate" });
    const err = await sdk().messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({ type: "error", error: { type: "invalid_request_error", message: "messages: roles must alternate" } });
    await expect.poll(async () => (await costs()).total_cost).toBe(0);
  });

  it("cache writes (5-minute and 1-hour), cache reads and web searches at their own prices", async () => {
    claude.behave = () => ({
      kind: "answer",
      usage: {
        input_tokens: 100,
        cache_creation_input_tokens: 1000,
        cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 },
        cache_read_input_tokens: 2000,
        output_tokens: 50,
        server_tool_use: { web_search_requests: 2 },
      },
    });
    const expected = (100 * 3 + 400 * 3.75 + 600 * 6 + 2000 * 0.3 + 50 * 15) / 1e6 + 2 * 0.01;
    const system: Anthropic.TextBlockParam[] = [{ type: "text", text: "A long shared prefix.", cache_control: { type: "ephemeral", ttl: "1h" } }];
    const { response } = await sdk().messages.create({ model: "claude-sonnet-4-5", max_tokens: 100, system, messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(Number(response.headers.get("x-tollgate-cost"))).toBeCloseTo(expected, 12);
    const stream = sdk().messages.stream({ model: "claude-sonnet-4-5", max_tokens: 100, system, messages: [{ role: "user", content: "hi" }] });
    const final = await stream.finalMessage();
    expect(final.usage.cache_read_input_tokens).toBe(2000);
    await expect.poll(async () => (await costs()).total_cost).toBeCloseTo(2 * expected, 12);
  });
});

describe("bad input on the Messages API: Anthropic's error shape, no budget moved", () => {
  const post = (body: unknown, headers: Record<string, string> = { "x-api-key": KEY }) =>
    fetch(`${proxy.url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const cases: Array<{ name: string; body: unknown; headers?: Record<string, string>; status: number; type: string; message: RegExp }> = [
    { name: "no key", body: { model: "claude-sonnet-4-5", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }, headers: {}, status: 401, type: "authentication_error", message: /Missing API key/ },
    { name: "a wrong key", body: { model: "claude-sonnet-4-5", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }, headers: { "x-api-key": "nope" }, status: 401, type: "authentication_error", message: /Incorrect API key/ },
    { name: "bad JSON", body: "{", status: 400, type: "invalid_request_error", message: /not valid JSON/ },
    { name: "no max_tokens", body: { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hi" }] }, status: 400, type: "invalid_request_error", message: /'max_tokens' is required/ },
    { name: "no messages", body: { model: "claude-sonnet-4-5", max_tokens: 5, messages: [] }, status: 400, type: "invalid_request_error", message: /'messages' must be a non-empty array/ },
    { name: "a tool role", body: { model: "claude-sonnet-4-5", max_tokens: 5, messages: [{ role: "tool", content: "x" }] }, status: 400, type: "invalid_request_error", message: /role' must be user, assistant or system/ },
    { name: "a thinking budget above max_tokens", body: { model: "claude-sonnet-4-5", max_tokens: 5, thinking: { type: "enabled", budget_tokens: 2048 }, messages: [{ role: "user", content: "x" }] }, status: 400, type: "invalid_request_error", message: /budget_tokens/ },
    { name: "an unknown model", body: { model: "mystery-1", max_tokens: 5, messages: [{ role: "user", content: "x" }] }, status: 404, type: "not_found_error", message: /not configured/ },
    { name: "thinking for a model on an OpenAI upstream", body: { model: "gpt-4o", max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "x" }] }, status: 400, type: "invalid_request_error", message: /'thinking' has no counterpart in the OpenAI API/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const res = await post(c.body, c.headers);
      expect(res.status).toBe(c.status);
      const body = (await res.json()) as { type: string; error: { type: string; message: string } };
      expect(body.type).toBe("error");
      expect(body.error.type).toBe(c.type);
      expect(body.error.message).toMatch(c.message);
      expect(claude.requests).toHaveLength(0);
      expect(openai.requests).toHaveLength(0);
      expect(await costs()).toMatchObject({ total_requests: 0, total_cost: 0 });
    });
  }

  it("a budget that does not fit: 429 rate_limit_error, the SDK's RateLimitError", async () => {
    await proxy.shutdown();
    await start({ budgets: { downgrade: false, global: { per_request: 0.000001 } } });
    const err = await sdk().messages.create({ model: "claude-sonnet-4-5", max_tokens: 1000, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(claude.requests).toHaveLength(0);
  });
});
