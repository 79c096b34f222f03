import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type Behavior, type FakeUpstream, type Received } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** Micro-batches through the SDK: many small requests, one upstream call, usage that adds up. */

const KEY = "sk-batch-test";
const prefix = uniquePrefix();
const SYSTEM = `You are a geography tutor. ${"Answer briefly and precisely, naming the country. ".repeat(100)}`;
let upstream: FakeUpstream;
let proxy: TestProxy;
let dropOne = false;

const isBatch = (req: Received) => req.body.response_format?.json_schema?.name === "batch_answers";

function answerBatch(req: Received): Behavior {
  const text = String(req.body.messages.at(-1).content);
  const ids = [...text.matchAll(/^### (\S+)\n(.*)$/gm)].map((m) => [m[1]!, m[2]!] as const);
  const answers = Object.fromEntries(ids.map(([id, question]) => [id, `Answer to: ${question}`]));
  if (dropOne) delete answers[ids[0]![0]];
  return { kind: "json", content: JSON.stringify(answers), usage: { prompt_tokens: 1200 + 15 * ids.length, completion_tokens: 9 * ids.length } };
}

beforeAll(async () => {
  upstream = await startUpstream((req) => (isBatch(req) ? answerBatch(req) : { kind: "json", content: "alone", usage: { prompt_tokens: 1215, completion_tokens: 9 } }));
  proxy = await startTestProxy(
    testConfig(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "app", key: KEY }],
      admin_key: "admin",
      batch: { max_size: 20 },
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

const ask = (i: number) =>
  proxy
    .client(KEY)
    .chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "system", content: SYSTEM }, { role: "user", content: `Where is city number ${i}?` }] }, { headers: { "x-tollgate-batch": "10000" } })
    .withResponse();

describe("micro-batches", () => {
  it("answers 20 concurrent requests through one upstream call, with usage that adds up to it", async () => {
    const asked = upstream.requests.length;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(i)));
    const calls = upstream.requests.slice(asked);
    expect(calls).toHaveLength(1);
    expect(isBatch(calls[0]!)).toBe(true);
    answers.forEach(({ data, response }, i) => {
      expect(data.object).toBe("chat.completion");
      expect(data.choices[0]!.message.content).toBe(`Answer to: Where is city number ${i}?`);
      expect(response.headers.get("x-tollgate-batched")).toBe("1");
    });
    const prompt = answers.reduce((s, a) => s + a.data.usage!.prompt_tokens, 0);
    const completion = answers.reduce((s, a) => s + a.data.usage!.completion_tokens, 0);
    expect(prompt).toBe(1200 + 15 * 20);
    expect(completion).toBe(9 * 20);
    const records = await proxy.services.store.usageRecords(100);
    const costs = answers.map((a) => records.find((r) => r.request_id === a.response.headers.get("x-request-id"))!.cost_nano);
    const alone = 20 * Math.round(1215 * 0.15 * 1000 + 9 * 0.6 * 1000);
    console.info(`micro-batch of 20 under a ~1,000-token system prompt: ${prompt} prompt tokens instead of ${20 * 1215}; $${costs.reduce((a, b) => a + b, 0) / 1e9} instead of $${alone / 1e9}`);
  });

  it("retries alone a request whose answer is missing from the batch", async () => {
    dropOne = true;
    try {
      const asked = upstream.requests.length;
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(100 + i)));
      const calls = upstream.requests.slice(asked);
      expect(calls.map(isBatch)).toEqual([true, false]);
      expect(answers.filter((a) => a.data.choices[0]!.message.content === "alone")).toHaveLength(1);
      expect(answers.filter((a) => a.response.headers.get("x-tollgate-batched") === "1")).toHaveLength(19);
      // The 19 batched parts still add up to the batch's whole usage.
      const batched = answers.filter((a) => a.response.headers.get("x-tollgate-batched") === "1");
      expect(batched.reduce((s, a) => s + a.data.usage!.prompt_tokens, 0)).toBe(1200 + 15 * 20);
    } finally {
      dropOne = false;
    }
  });

  it("refuses a malformed x-tollgate-batch before any budget moves", async () => {
    const res = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-tollgate-batch": "soon" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.param).toBe("x-tollgate-batch");
  });
});
