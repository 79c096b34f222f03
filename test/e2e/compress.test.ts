import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import type { ChatMessage } from "../../src/request/parse.js";
import { startUpstream, type FakeUpstream, type Received } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** Context compression by summary, through the SDK, on real Redis, with a fake upstream that summarizes. */

const KEY = "sk-compress-test";
const prefix = uniquePrefix();
let upstream: FakeUpstream;
let proxy: TestProxy;
let failSummaries = false;

const isSummaryCall = (req: Received) => String(req.body.messages?.[0]?.content ?? "").startsWith("You compress conversations");

beforeAll(async () => {
  upstream = await startUpstream((req) => {
    if (isSummaryCall(req)) {
      return failSummaries ? { kind: "error", status: 500 } : { kind: "json", content: "The user planned a trip to Lisbon on 12 May for 3 people, budget 2,000 EUR.", usage: { prompt_tokens: 3000, completion_tokens: 40 } };
    }
    return { kind: "json", content: "Sure.", usage: { prompt_tokens: 500, completion_tokens: 5 } };
  });
  proxy = await startTestProxy(
    testConfig(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "app", key: KEY }],
      admin_key: "admin",
      optimize: { compress: { enabled: true, trigger_tokens: 2000, keep_turns: 4 } },
      budgets: { global: { daily: 10 } },
    }),
    { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)) },
  );
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await cleanPrefix(prefix);
});

/** A conversation of `turns` messages, about 100 tokens each, opened by `opening`. */
function conversation(opening: string, turns: number): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: "You are a travel agent." }, { role: "user", content: opening }];
  for (let i = 1; i < turns; i++) messages.push({ role: i % 2 === 1 ? "assistant" : "user", content: `Turn ${i}: ${"details about the trip and its plans ".repeat(16)}` });
  return messages;
}

const ask = (messages: ChatMessage[]) => proxy.client(KEY).chat.completions.create({ model: "auto", messages: messages as never, max_tokens: 100 }).withResponse();

async function keySpend(): Promise<number> {
  const { config, clock, store, windows } = proxy.services;
  const counters = countersFor(scopesFor(config.budgets, "app", null), windows.at(clock.now()));
  return (await store.spent([counters.find((c) => c.scope.kind === "key" && c.window === "daily")!.id]))[0]!;
}

describe("context compression", () => {
  it("summarizes the older turns once, reuses the summary on the next turn, and bills it to the caller", async () => {
    const messages = conversation("Plan a trip to Lisbon for three.", 40);
    const asked = upstream.requests.length;
    const { response } = await ask(messages);
    expect(response.headers.get("x-tollgate-compressed")).toMatch(/^\d+->\d+$/);
    const [before, after] = response.headers.get("x-tollgate-compressed")!.split("->").map(Number);
    expect(after!).toBeLessThan(before! / 4);
    console.info(`compression: a 41-message conversation of ${before} prompt tokens sent as ${after}`);
    const calls = upstream.requests.slice(asked);
    expect(calls.map(isSummaryCall)).toEqual([true, false]);
    expect(calls[0]!.body.model).toBe("gpt-4o-mini");
    const sent = calls[1]!.body.messages as ChatMessage[];
    expect(sent[0]).toEqual(messages[0]);
    expect(String(sent[1]!.content)).toContain("Lisbon on 12 May");
    expect(sent.slice(2)).toEqual(messages.slice(-4));

    const records = await proxy.services.store.usageRecords(10);
    const summary = records.find((r) => r.route === "compress")!;
    expect(summary).toMatchObject({ key_id: "app", routed_model: "gpt-4o-mini", input_tokens: 3000, output_tokens: 40 });
    const main = records.find((r) => r.route !== "compress")!;
    expect(main.compressed_tokens).toBe(before! - after!);
    expect(await keySpend()).toBe(summary.cost_nano + main.cost_nano);

    // The next turn: the same conversation with two more messages reuses the stored summary.
    const next = [...messages, { role: "assistant", content: "Sure." }, { role: "user", content: "And the hotel?" }];
    const again = upstream.requests.length;
    const second = await ask(next);
    expect(second.response.headers.get("x-tollgate-compressed")).toMatch(/->/);
    const secondCalls = upstream.requests.slice(again);
    expect(secondCalls.map(isSummaryCall)).toEqual([false]);
    const sentNext = secondCalls[0]!.body.messages as ChatMessage[];
    expect(String(sentNext[1]!.content)).toContain("Lisbon on 12 May");
    expect(sentNext.slice(2)).toEqual(next.slice(messages.length - 4));

    const costs = await (await fetch(`${proxy.url}/v1/costs`, { headers: { authorization: "Bearer admin" } })).json();
    expect(costs.savings.compression).toMatchObject({ requests: 2, summaries: 1 });
    // Net of the summary's own cost: what the removed tokens would have cost, less the summary.
    const removed = records.filter((r) => r.route !== "compress").reduce((s, r) => s + r.compress_saved_nano, 0);
    expect(costs.savings.compression.summaries_cost).toBeCloseTo(summary.cost_nano / 1e9, 12);
    expect(removed).toBeGreaterThan(summary.cost_nano);
  });

  it("falls back to the request as it was when the summary call fails; the client sees no error", async () => {
    failSummaries = true;
    try {
      const messages = conversation("Plan a trip to Porto for two.", 40);
      const { data, response } = await ask(messages);
      expect(data.choices[0]!.message.content).toBe("Sure.");
      expect(response.headers.get("x-tollgate-compressed")).toBeNull();
      expect(upstream.requests.at(-1)!.body.messages).toEqual(messages);
    } finally {
      failSummaries = false;
    }
  });

  it("leaves a request alone when the client says x-tollgate-compress: off", async () => {
    const messages = conversation("Plan a trip to Faro for one.", 40);
    const asked = upstream.requests.length;
    const { response } = await proxy.client(KEY).chat.completions.create({ model: "auto", messages: messages as never, max_tokens: 100 }, { headers: { "x-tollgate-compress": "off" } }).withResponse();
    expect(response.headers.get("x-tollgate-compressed")).toBeNull();
    expect(upstream.requests.length).toBe(asked + 1);
  });
});
