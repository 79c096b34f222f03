import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_KEYS } from "../../src/demo/config.js";
import { startDemo, type Demo } from "../../src/demo/index.js";
import { MemoryLogger } from "../../src/log.js";

/** `npm run demo`'s module: the proxy in front of the built-in demo upstream, through the openai SDK. */

let demo: Demo;
const logger = new MemoryLogger();
const client = (apiKey: string = DEMO_KEYS.demo) => new OpenAI({ baseURL: `${demo.url}/v1`, apiKey, maxRetries: 0 });
const hello = [{ role: "user" as const, content: "Say hello in French." }];

beforeAll(async () => {
  demo = await startDemo({ port: 0, logger });
});

afterAll(async () => {
  await demo?.stop();
});

describe("the demo", () => {
  it("listens on loopback, its upstream too, and prints what to try with its own URL and keys", () => {
    expect(new URL(demo.url).hostname).toBe("127.0.0.1");
    expect(new URL(demo.upstream.baseUrl).hostname).toBe("127.0.0.1");
    for (const text of [`curl -si ${demo.url}/v1/chat/completions`, "x-tollgate-route", "budget-downgrade", "budget_exceeded", `${demo.url}/v1/costs`, 'from "openai"', DEMO_KEYS.intern]) {
      expect(demo.instructions).toContain(text);
    }
    // The models are priced from the catalogue.
    expect(Object.values(demo.proxy.services.config.models).every((m) => m.price_source.startsWith("catalogue:genai-prices@"))).toBe(true);
  });

  it("mentions /dashboard exactly when the proxy serves it", async () => {
    const res = await fetch(`${demo.url}/dashboard`);
    await res.body?.cancel();
    expect(demo.instructions.includes(`${demo.url}/dashboard`)).toBe(res.status !== 404);
  });

  it("answers a plain request through the demo upstream, deterministically, with realistic usage and its cost", async () => {
    const first = await client().chat.completions.create({ model: "auto", messages: hello }).withResponse();
    const again = await client().chat.completions.create({ model: "auto", messages: hello });
    const answer = first.data.choices[0]!.message.content!;
    expect(answer).toMatch(/^Demo answer from gpt-5-mini to "Say hello in French\."/);
    expect(again.choices[0]!.message.content).toBe(answer);
    expect(first.data.choices[0]!.finish_reason).toBe("stop");
    // 3 per message + the text + 3 to prime the reply; the answer counted as it reads.
    expect(first.data.usage?.prompt_tokens).toBeGreaterThan(6);
    expect(first.data.usage?.completion_tokens).toBeGreaterThan(20);
    expect(first.response.headers.get("x-tollgate-model")).toBe("gpt-5-mini");
    expect(first.response.headers.get("x-tollgate-tier")).toBe("economy");
    expect(first.response.headers.get("x-upstream-request-id")).toMatch(/^req_demo_\d+$/);
    expect(Number(first.response.headers.get("x-tollgate-cost"))).toBeGreaterThan(0);
  });

  it("streams the same answer, with usage when asked", async () => {
    const plain = await client().chat.completions.create({ model: "auto", messages: hello });
    const stream = await client().chat.completions.create({ model: "auto", messages: hello, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(plain.choices[0]!.message.content);
    expect(chunks).toBeGreaterThan(10);
    expect(usage).toMatchObject({ prompt_tokens: plain.usage!.prompt_tokens, completion_tokens: plain.usage!.completion_tokens });
  });

  it("cuts the answer at the client's limit", async () => {
    const short = await client().chat.completions.create({ model: "auto", messages: hello, max_tokens: 5 });
    expect(short.choices[0]!.finish_reason).toBe("length");
    expect(short.usage?.completion_tokens).toBe(5);
  });

  it("downgrades a premium request whose worst case is over the per-request limit", async () => {
    const { response } = await client()
      .chat.completions.create({ model: "auto", messages: [{ role: "user", content: "Prove that there are infinitely many primes." }] }, { headers: { "x-tollgate-tier": "premium" } })
      .withResponse();
    expect(response.headers.get("x-tollgate-route")).toBe("budget-downgrade");
    expect(response.headers.get("x-tollgate-tier")).not.toBe("premium");
  });

  it("refuses the intern's request: its daily budget is less than the smallest answer", async () => {
    const error = await client(DEMO_KEYS.intern)
      .chat.completions.create({ model: "auto", messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: 429, code: "budget_exceeded" });
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toMatch(/daily budget of key intern/);
  });

  it("answers a repeated deterministic request from the cache, at no cost", async () => {
    const body = { model: "auto", messages: [{ role: "user" as const, content: "What is tollgate?" }], temperature: 0 };
    const first = await client().chat.completions.create(body).withResponse();
    const second = await client().chat.completions.create(body).withResponse();
    expect(first.response.headers.get("x-tollgate-cache")).toBe("miss");
    expect(second.response.headers.get("x-tollgate-cache")).toBe("hit");
    expect(second.response.headers.get("x-tollgate-cost")).toBe("0");
    expect(second.data.choices[0]!.message.content).toBe(first.data.choices[0]!.message.content);
  });

  it("reports what it all cost to the admin key", async () => {
    const res = await fetch(`${demo.url}/v1/costs`, { headers: { authorization: `Bearer ${DEMO_KEYS.admin}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { total_requests: number; total_cost: number; by_key: Record<string, unknown> };
    expect(body.total_requests).toBeGreaterThan(0);
    expect(body.total_cost).toBeGreaterThan(0);
    expect(Object.keys(body.by_key)).toContain("demo");
  });
});
