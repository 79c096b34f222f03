import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, startTestProxy, testConfig, testConfigInput, writeConfigFile, type ProxyProcess, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** Output limits, context fit, the prompt optimizer and the response cache, through the SDK. */

let upstream: FakeUpstream;
let proxy: TestProxy;
let client: OpenAI;
const prefix = uniquePrefix();
const sent = () => upstream.requests.at(-1)!.body;
const user = (content: string) => ({ role: "user" as const, content });

/** The proxies' clock: a fixed instant, so the cost report's days do not depend on when the suite runs. */
const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));

/** A proxy with every saving mechanism on, over Redis under `keyPrefix`. */
function startSavingsProxy(keyPrefix: string): Promise<TestProxy> {
  const input = testConfigInput("http://placeholder/v1");
  const config = testConfig(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: keyPrefix },
    models: {
      ...input.models,
      // A small window so context fit has something to do.
      tiny: { upstream: "openai", tier: "economy", price: { input: 1, output: 2 }, context_window: 400, max_output_tokens: 100 },
    },
    optimize: { prompt: true, fit_context: true, output_limits: { classification: 50, summary: 300 } },
    cache: { enabled: true, ttl_seconds: 60 },
    routing: { client_model: "pin" },
  });
  return startTestProxy(config, { clock });
}

const filler = (n: number) => `older message ${n}: ${"lorem ipsum dolor sit amet ".repeat(30)}`;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startSavingsProxy(prefix);
  client = proxy.client();
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

beforeEach(() => {
  upstream.behave = () => ({ kind: "json" });
});

describe("output limits per request type", () => {
  it("sets max_tokens when the client set none, and says so", async () => {
    const { response } = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: [user("Sum up this text")] }, { headers: { "x-tollgate-request-type": "summary" } })
      .withResponse();
    expect(sent().max_tokens).toBe(300);
    expect(response.headers.get("x-tollgate-output-limit")).toBe("300; type=summary");
  });

  it("never raises or replaces the client's own limit", async () => {
    const { response } = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: [user("Sum up")], max_tokens: 1000 }, { headers: { "x-tollgate-request-type": "classification" } })
      .withResponse();
    expect(sent().max_tokens).toBe(1000);
    expect(response.headers.get("x-tollgate-output-limit")).toBeNull();
  });

  it("gives a reasoning model the limit as max_completion_tokens", async () => {
    await client.chat.completions.create({ model: "o3-mini", messages: [user("Label this")] }, { headers: { "x-tollgate-request-type": "classification" } });
    expect(sent().max_completion_tokens).toBe(50);
    expect(sent()).not.toHaveProperty("max_tokens");
  });

  it("sends a request type without a configured limit at the model's own limit (what it is held for), and counts it under its name", async () => {
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [user("hello")] }, { headers: { "x-tollgate-request-type": "brainstorm" } });
    expect(sent().max_tokens).toBe(16384);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record.request_type).toBe("brainstorm");
  });
});

describe("context fit", () => {
  it("drops the oldest messages, keeping the system prompt, the last user message and tool pairs", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "You are terse." },
      user(filler(1)),
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: "{\"q\":\"a\"}" } }] },
      { role: "tool", tool_call_id: "call_1", content: filler(2) },
      user(filler(3)),
      { role: "assistant", content: filler(4) },
      user("And the final question?"),
    ];
    const { response } = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 50 }).withResponse();
    const got = sent().messages as Array<{ role: string; content: string | null; tool_call_id?: string }>;
    expect(got[0]).toEqual({ role: "system", content: "You are terse." });
    expect(got.at(-1)).toEqual({ role: "user", content: "And the final question?" });
    // A tool result never travels without the call it answers.
    const toolIndex = got.findIndex((m) => m.role === "tool");
    if (toolIndex >= 0) expect(got[toolIndex - 1]!.role).toBe("assistant");
    const dropped = Number(response.headers.get("x-tollgate-context-dropped"));
    expect(dropped).toBeGreaterThan(0);
    expect(got.length).toBe(messages.length - dropped);
    expect(got.some((m) => m.content === filler(1))).toBe(false);
  });

  it("answers 400 context_length_exceeded when even the kept messages do not fit", async () => {
    const error = await client.chat.completions
      .create({ model: "tiny", messages: [{ role: "system", content: filler(0).repeat(3) }, user(filler(9))], max_tokens: 50 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.code).toBe("context_length_exceeded");
  });
});

describe("prompt optimizer", () => {
  it("tidies user prose, leaves code alone and records the tokens saved", async () => {
    const code = "```js\nconst   x  =  1;   // in order to keep spacing\n```";
    const { response } = await client.chat.completions
      .create({
        model: "gpt-4o-mini",
        messages: [
          { role: "system", content: "Keep   this    system   prompt exactly." },
          user(`Could you please   explain,   in order to learn,   this code:\n\n\n\n${code}`),
        ],
      })
      .withResponse();
    const got = sent().messages;
    expect(got[0].content).toBe("Keep   this    system   prompt exactly.");
    expect(got[1].content).toBe(`Explain, to learn, this code:\n\n${code}`);
    const saved = Number(response.headers.get("x-tollgate-prompt-saved-tokens"));
    expect(saved).toBeGreaterThan(0);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record.optimizer_saved_tokens).toBe(saved);
  });
});

describe("response cache", () => {
  const question = (tag: string) => [user(`What is the capital of France? (${tag})`)];

  it("serves a repeated deterministic request from the cache at $0", async () => {
    upstream.behave = () => ({ kind: "json", content: "Paris.", usage: { prompt_tokens: 15, completion_tokens: 2 } });
    const before = upstream.requests.length;
    const first = await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("a"), temperature: 0 }).withResponse();
    expect(first.response.headers.get("x-tollgate-cache")).toBe("miss");
    const second = await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("a"), temperature: 0 }).withResponse();
    expect(second.response.headers.get("x-tollgate-cache")).toBe("hit");
    expect(second.response.headers.get("x-tollgate-cost")).toBe("0");
    expect(second.data.choices[0]!.message.content).toBe("Paris.");
    expect(upstream.requests.length - before).toBe(1);
    const record = (await proxy.services.store.usageRecords(1))[0]!;
    expect(record).toMatchObject({ cache_hit: true, cost_nano: 0, usage_source: "cache", input_tokens: 15, output_tokens: 2 });
    expect(record.requested_model_cost_nano).toBe(15 * 150 + 2 * 600);
  });

  it("files a downgraded answer under the model that gave it, never replaying it as the routed model's", async () => {
    const ownPrefix = `${prefix}downgrade:`;
    // Two replicas share the store (and its cache). On the first, gpt-4o's worst case (50 output
    // tokens, $0.0005) does not fit $0.0002 and gpt-4o-mini answers; on the second, gpt-4o fits.
    const replica = (daily: number) =>
      startTestProxy(testConfig(upstream.baseUrl, { store: { redis_url: redisUrl(), key_prefix: ownPrefix }, cache: { enabled: true, ttl_seconds: 3600 }, budgets: { global: { daily } } }), { clock });
    const tight = await replica(0.0002);
    const ample = await replica(1);
    onTestFinished(async () => {
      await tight.shutdown();
      await ample.shutdown();
      await cleanPrefix(ownPrefix);
    });
    upstream.behave = (req) => ({ kind: "json", content: `answered by ${req.body.model}`, usage: { prompt_tokens: 15, completion_tokens: 2 } });
    const ask = (p: TestProxy) =>
      p.client().chat.completions.create({ model: "gpt-4o", messages: question("downgrade"), temperature: 0, max_tokens: 50 }, { headers: { "x-tollgate-tier": "standard" } }).withResponse();
    const downgraded = await ask(tight);
    expect(downgraded.response.headers.get("x-tollgate-route")).toBe("budget-downgrade");
    expect(downgraded.data.choices[0]!.message.content).toBe("answered by gpt-4o-mini");

    // Where gpt-4o fits, the request is gpt-4o's, and no answer of gpt-4o is cached yet.
    const asked = upstream.requests.length;
    const routed = await ask(ample);
    expect(routed.response.headers.get("x-tollgate-cache")).toBe("miss");
    expect(routed.response.headers.get("x-tollgate-model")).toBe("gpt-4o");
    expect(routed.data.choices[0]!.message.content).toBe("answered by gpt-4o");
    expect(upstream.requests.length).toBe(asked + 1);
    // From then on each replica replays its own model's answer.
    expect((await ask(ample)).data.choices[0]!.message.content).toBe("answered by gpt-4o");
    const again = await ask(tight);
    expect(again.response.headers.get("x-tollgate-cache")).toBe("hit");
    expect(again.data.choices[0]!.message.content).toBe("answered by gpt-4o");
  });

  it("replays an answer with the upstream's secrets masked, as the client first saw it", async () => {
    upstream.behave = () => ({ kind: "stream", pieces: ["key: ", "sk-upstream-openai", " done"], usage: { prompt_tokens: 15, completion_tokens: 3 } });
    const read = async () => {
      let text = "";
      for await (const chunk of await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("secret"), temperature: 0, stream: true })) text += chunk.choices[0]?.delta?.content ?? "";
      return text;
    };
    const asked = upstream.requests.length;
    expect(await read()).toBe("key: *** done");
    expect(await read()).toBe("key: *** done");
    expect(upstream.requests.length).toBe(asked + 1);
  });

  it("replays a hit as a stream the SDK parses like a live one", async () => {
    upstream.behave = () => ({ kind: "stream", pieces: ["Par", "is", "."], usage: { prompt_tokens: 15, completion_tokens: 3 } });
    const live = await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("s"), temperature: 0, stream: true, stream_options: { include_usage: true } });
    const liveChunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of live) liveChunks.push(c);
    const before = upstream.requests.length;
    const { data: replay, response } = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: question("s"), temperature: 0, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(response.headers.get("x-tollgate-cache")).toBe("hit");
    const replayChunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of replay) replayChunks.push(c);
    expect(upstream.requests.length).toBe(before);
    const text = (chunks: typeof liveChunks) => chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    expect(text(replayChunks)).toBe("Paris.");
    expect(text(replayChunks)).toBe(text(liveChunks));
    expect(replayChunks.at(-1)!.usage).toEqual(liveChunks.at(-1)!.usage);
    expect(replayChunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe("stop");
    const { id, model, object, created } = liveChunks[1]!;
    expect(replayChunks[1]).toMatchObject({ id, model, object, created });
  });

  it("bypasses the cache with x-tollgate-cache: off and caches non-deterministic requests only when asked", async () => {
    const before = upstream.requests.length;
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("a"), temperature: 0 }, { headers: { "x-tollgate-cache": "off" } });
    expect(upstream.requests.length).toBe(before + 1);
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("warm"), temperature: 0.7 });
    const notCached = await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("warm"), temperature: 0.7 }).withResponse();
    expect(notCached.response.headers.get("x-tollgate-cache")).toBeNull();
    expect(upstream.requests.length).toBe(before + 3);
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("on"), temperature: 0.7 }, { headers: { "x-tollgate-cache": "on" } });
    const hit = await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("on"), temperature: 0.7 }, { headers: { "x-tollgate-cache": "on" } }).withResponse();
    expect(hit.response.headers.get("x-tollgate-cache")).toBe("hit");
  });

  it("rejects another value of x-tollgate-cache", async () => {
    const error = await client.chat.completions.create({ model: "gpt-4o-mini", messages: question("x") }, { headers: { "x-tollgate-cache": "maybe" } }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe("x-tollgate-cache");
  });

  it("sends ten concurrent identical requests upstream once", async () => {
    upstream.behave = () => ({ kind: "json", content: "Paris.", delayMs: 200 });
    const before = upstream.requests.length;
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => client.chat.completions.create({ model: "gpt-4o-mini", messages: question("burst"), temperature: 0 }).withResponse()),
    );
    expect(upstream.requests.length - before).toBe(1);
    expect(answers.map((a) => a.response.headers.get("x-tollgate-cache")).sort()).toEqual([...Array(9).fill("hit"), "miss"]);
    expect(answers.every((a) => a.data.choices[0]!.message.content === "Paris.")).toBe(true);
  });

  it("reports what each mechanism saved", async () => {
    // A proxy and a key prefix of this test's own: the report counts only the requests below.
    const ownPrefix = uniquePrefix();
    const own = await startSavingsProxy(ownPrefix);
    onTestFinished(async () => {
      await own.shutdown();
      await cleanPrefix(ownPrefix);
    });
    const ownClient = own.client();
    upstream.behave = () => ({ kind: "json", content: "Paris.", usage: { prompt_tokens: 15, completion_tokens: 2 } });
    // The cache: a miss, then a hit.
    for (let i = 0; i < 2; i++) await ownClient.chat.completions.create({ model: "gpt-4o-mini", messages: question("report"), temperature: 0 });
    // The prompt optimizer: wordy prose, tidied.
    await ownClient.chat.completions.create({ model: "gpt-4o-mini", messages: [user("Could you please   explain,   in order to learn,   this")] });
    // Context fit: older messages dropped to fit the small window.
    await ownClient.chat.completions.create({ model: "tiny", messages: [user(filler(1)), { role: "assistant", content: filler(2) }, user(filler(3)), { role: "assistant", content: filler(4) }, user("And now?")], max_tokens: 50 });
    // Output limits: one request of a type with a limit, and no limit of its own.
    await ownClient.chat.completions.create({ model: "gpt-4o-mini", messages: [user("Sum up this text")] }, { headers: { "x-tollgate-request-type": "summary" } });

    const res = await fetch(`${own.url}/v1/costs`);
    const { savings } = await res.json();
    expect(savings.cache.hits).toBe(1);
    expect(savings.cache.usd).toBeGreaterThan(0);
    expect(savings.prompt_optimizer.tokens).toBeGreaterThan(0);
    expect(savings.context_fit.requests).toBe(1);
    expect(savings.context_fit.tokens).toBeGreaterThan(0);
    expect(savings.output_limits.requests).toBe(1);
  });
});

describe("a cache shared by two proxy processes", () => {
  let replicas: ProxyProcess[] = [];
  const sharedPrefix = uniquePrefix();

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await cleanPrefix(sharedPrefix);
  });

  it("answers from the cache another replica filled", async () => {
    upstream.behave = () => ({ kind: "json", content: "Shared." });
    const file = writeConfigFile(testConfigInput(upstream.baseUrl, { store: { redis_url: redisUrl(), key_prefix: sharedPrefix }, cache: { enabled: true } }));
    replicas = await Promise.all([spawnProxy(file), spawnProxy(file)]);
    const [a, b] = replicas.map((r) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: "x", maxRetries: 0 }));
    const before = upstream.requests.length;
    const first = await a!.chat.completions.create({ model: "gpt-4o-mini", messages: [user("shared?")], temperature: 0 }).withResponse();
    const second = await b!.chat.completions.create({ model: "gpt-4o-mini", messages: [user("shared?")], temperature: 0 }).withResponse();
    expect(first.response.headers.get("x-tollgate-cache")).toBe("miss");
    expect(second.response.headers.get("x-tollgate-cache")).toBe("hit");
    expect(second.data.choices[0]!.message.content).toBe("Shared.");
    expect(upstream.requests.length - before).toBe(1);
  }, 60_000);
});
