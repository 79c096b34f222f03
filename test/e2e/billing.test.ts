import OpenAI from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UsageRecord } from "../../src/usage/record.js";
import { startBillingUpstream, type BilledModel, type BillingUpstream } from "../support/billing-upstream.js";
import { pngDataUrl, wavBase64 } from "../support/media.js";
import { spawnProxy, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * What is billed is what is recorded, and no budget is spent past its limit: three replicas on one
 * Redis, a fake upstream that bills every case as OpenAI does (test/support/billing-upstream.ts),
 * one key per case with its own daily limit, eight requests in flight. Each case runs until the
 * budget refuses; then the records of its key must add up to what the upstream billed for it, and
 * that must be within the key's limit. Cases settled from the upstream's usage match to the
 * nano-dollar's rounding; a case charged at its hold (no usage) matches within the input count's
 * error, documented as 2%.
 */

const PRICES: Record<string, BilledModel> = {
  "gpt-4o": { input: 2.5, output: 10, web_search: 0.01 },
  "gpt-4o-audio": { input: 2.5, output: 10, input_audio: 40, output_audio: 80 },
  "gpt-4.1": { input: 2, output: 8 },
  "o4-mini": { input: 1.1, output: 4.4, reasoning: true },
};

interface Case {
  /** The key id, the `user` tag the upstream bills by, and `metadata.row`. */
  row: string;
  limit: number;
  requests: number;
  /** The relative error allowed between recorded and billed (0: rounding only). */
  error?: number;
  send: (client: OpenAI, i: number) => Promise<unknown>;
}

const say = (text: string) => [{ role: "user" as const, content: text }];

const CASES: Case[] = [
  {
    row: "priority",
    limit: 0.5,
    requests: 40,
    send: (c, i) => c.chat.completions.create({ model: "gpt-4o", messages: say(`q${i}`), max_tokens: 1000, service_tier: "priority", user: "priority" }),
  },
  {
    row: "flex",
    limit: 0.1,
    requests: 40,
    send: (c, i) => c.chat.completions.create({ model: "gpt-4o", messages: say(`q${i}`), max_tokens: 1000, service_tier: "flex", user: "flex" }),
  },
  {
    row: "chat-search",
    limit: 0.3,
    requests: 24,
    send: (c, i) => c.chat.completions.create({ model: "gpt-4o", messages: say(`news ${i}`), max_tokens: 500, web_search_options: {}, user: "chat-search" }),
  },
  {
    row: "responses-search",
    limit: 1,
    requests: 12,
    send: (c, i) => c.responses.create({ model: "gpt-4o", input: `news ${i}`, max_output_tokens: 500, tools: [{ type: "web_search" }], user: "responses-search" }),
  },
  {
    row: "audio-out",
    limit: 0.5,
    requests: 12,
    send: (c, i) =>
      c.chat.completions.create({ model: "gpt-4o-audio", messages: say(`read ${i}`), max_tokens: 1000, modalities: ["text", "audio"], audio: { voice: "alloy", format: "wav" }, user: "audio-out" }),
  },
  {
    row: "audio-in",
    limit: 0.2,
    requests: 16,
    send: (c) =>
      c.chat.completions.create({
        model: "gpt-4o-audio",
        messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: WAV_60S, format: "wav" } }] }],
        max_tokens: 100,
        user: "audio-in",
      }),
  },
  {
    row: "images",
    limit: 0.5,
    requests: 12,
    send: (c, i) =>
      c.chat.completions.create({
        model: "gpt-4o",
        max_tokens: 100,
        user: "images",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: `describe ${i}` },
              // Inline images are sized from their header; remote ones held at the most tiles (8).
              ...Array.from({ length: 50 }, (_, j) => ({ type: "image_url" as const, image_url: { url: j % 2 === 0 ? pngDataUrl(768, 2048) : `https://img.test/${j}/1024x1024.png` } })),
            ],
          },
        ],
      }),
  },
  {
    row: "reasoning-no-usage",
    limit: 0.2,
    requests: 16,
    error: 0.02,
    send: async (c, i) => {
      const stream = await c.chat.completions.create({ model: "o4-mini", messages: say(`solve ${i}`), max_completion_tokens: 5000, stream: true, user: "reasoning-no-usage", metadata: { row: "no-usage" } });
      for await (const _ of stream);
    },
  },
];

const WAV_60S = wavBase64(60, 16_000);
const KEYS = [...CASES.map((c) => c.row), "background", "conversation", "reasoning-left", "long-unread"];
const LIMITS: Record<string, number> = { ...Object.fromEntries(CASES.map((c) => [c.row, c.limit])), background: 0.1, conversation: 1, "reasoning-left": 1, "long-unread": 2 };

describe("what is billed is what is recorded, within every limit", () => {
  const prefix = uniquePrefix();
  let upstream: BillingUpstream;
  let replicas: ProxyProcess[] = [];
  let redis: Redis;
  const clients = (key: string) => replicas.map((r) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: `sk-${key}`, maxRetries: 0 }));

  beforeAll(async () => {
    upstream = await startBillingUpstream(PRICES);
    const models = Object.fromEntries(
      Object.entries(PRICES).map(([name, { reasoning, ...price }]) => [
        name,
        { upstream: "openai", tier: reasoning ? "premium" : "standard", reasoning: reasoning ?? false, price, context_window: name === "o4-mini" ? 200_000 : 128_000, max_output_tokens: name === "gpt-4.1" ? 65_536 : 16_384 },
      ]),
    );
    const file = writeConfigFile({
      server: { host: "127.0.0.1", port: 0 },
      store: { redis_url: redisUrl(), key_prefix: prefix },
      upstreams: { openai: { base_url: upstream.baseUrl, api_key: "sk-upstream", timeout_ms: 60_000 } },
      models,
      tiers: { standard: ["gpt-4o", "gpt-4o-audio", "gpt-4.1"], premium: ["o4-mini"] },
      routing: { client_model: "pin" },
      keys: KEYS.map((id) => ({ id, key: `sk-${id}` })),
      admin_key: "sk-admin",
      budgets: { downgrade: false, keys: Object.fromEntries(KEYS.map((id) => [id, { daily: LIMITS[id] }])) },
    });
    replicas = await Promise.all([0, 1, 2].map(() => spawnProxy(file)));
    redis = new Redis(redisUrl());
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    redis?.disconnect();
    await upstream?.close();
    await cleanPrefix(prefix);
  });

  /** Every priced record of a key (its calls to read a response are records too, unpriced), once no hold of any request is left. */
  async function recordsOf(key: string): Promise<UsageRecord[]> {
    await expect.poll(() => redis.zcard(`${prefix}{tg}:holds`), { timeout: 30_000 }).toBe(0);
    const entries = await redis.xrange(`${prefix}{tg}:usage`, "-", "+");
    return entries.map(([, fields]) => JSON.parse(fields[1]!) as UsageRecord).filter((r) => r.key_id === key && r.priced);
  }

  /** Runs `send` `count` times, eight in flight, round the replicas; the statuses. */
  async function run(key: string, count: number, send: (client: OpenAI, i: number) => Promise<unknown>): Promise<number[]> {
    const cs = clients(key);
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < count) {
          const i = next++;
          try {
            await send(cs[i % 3]!, i);
            statuses.push(200);
          } catch (err) {
            statuses.push((err as InstanceType<typeof OpenAI.APIError>).status ?? 0);
          }
        }
      }),
    );
    return statuses;
  }

  const table: string[] = [];

  function compare(row: string, records: UsageRecord[], error = 0): void {
    const recorded = records.reduce((sum, r) => sum + r.cost_nano, 0) / 1e9;
    const billed = upstream.billed.get(row) ?? 0;
    table.push(`| ${row} | ${LIMITS[row]} | ${recorded.toFixed(4)} | ${billed.toFixed(4)} | ${records.length} |`);
    expect(billed).toBeGreaterThan(0);
    // Rounding to whole nano-dollars per component, or the input count's error when charged at the hold.
    expect(Math.abs(recorded - billed)).toBeLessThanOrEqual(Math.max(error * billed, records.length * 10e-9));
    expect(billed).toBeLessThanOrEqual(LIMITS[row]! * (1 + error));
    expect(recorded).toBeLessThanOrEqual(LIMITS[row]!);
  }

  for (const c of CASES) {
    it(`${c.row}: recorded equals billed and stays within the limit`, async () => {
      const statuses = await run(c.row, c.requests, c.send);
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      // Enough answered to measure, and the budget refused the rest.
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(1);
      expect(statuses).toContain(429);
      compare(c.row, await recordsOf(c.row), c.error);
    }, 120_000);
  }

  it("background: held until it finishes, settled from its usage when retrieved through tollgate", async () => {
    const cs = clients("background");
    const ids: string[] = [];
    const statuses = await run("background", 12, async (client, i) => {
      const queued = await client.responses.create({ model: "gpt-4o", input: `long job ${i}`, max_output_tokens: 2000, background: true, user: "background" });
      expect(queued.status).toBe("queued");
      ids.push(queued.id);
    });
    // Each holds its worst case while it runs: the budget refuses once they fill it, with nothing billed yet.
    expect(statuses).toContain(429);
    expect(upstream.billed.get("background") ?? 0).toBe(0);
    for (const [i, id] of ids.entries()) expect((await cs[i % 3]!.responses.retrieve(id)).status).toBe("completed");
    const records = await recordsOf("background");
    expect(records).toHaveLength(ids.length);
    expect(records.every((r) => r.usage_source === "upstream")).toBe(true);
    compare("background", records);
  }, 120_000);

  it("conversation: held for the items tollgate counted as they passed", async () => {
    const [client] = clients("conversation");
    // About 150k tokens of earlier turns, added when the conversation was made.
    const items = Array.from({ length: 150 }, (_, i) => ({ type: "message" as const, role: "user" as const, content: `${i} ${"lorem ipsum dolor sit amet ".repeat(200)}` }));
    const conversation = await client!.conversations.create({ items });
    const statuses = await run("conversation", 12, (c, i) => c.responses.create({ model: "o4-mini", input: `next ${i}`, max_output_tokens: 1000, conversation: conversation.id, user: "conversation" }));
    expect(statuses).toContain(429);
    compare("conversation", await recordsOf("conversation"));
  }, 120_000);

  it("reasoning that goes on after the client left is read to its usage", async () => {
    const controllers: AbortController[] = [];
    const statuses = await run("reasoning-left", 4, async (client, i) => {
      const controller = new AbortController();
      controllers.push(controller);
      const stream = await client.chat.completions.create(
        { model: "o4-mini", messages: say(`prove ${i}`), max_completion_tokens: 15_000, stream: true, user: "reasoning-left", metadata: { row: "reasoning-left" } },
        { signal: controller.signal },
      );
      // The client reads the first words and leaves.
      for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) break;
      controller.abort();
    });
    expect(statuses).toEqual([200, 200, 200, 200]);
    // Every replica saw its clients leave and reads on; then the upstream finishes, and bills.
    await expect.poll(async () => (await Promise.all(replicas.map(draining))).reduce((a, b) => a + b, 0), { timeout: 10_000 }).toBe(4);
    upstream.resume();
    const records = await recordsOf("reasoning-left");
    expect(records.map((r) => [r.status, r.usage_source, r.output_tokens])).toEqual(Array.from({ length: 4 }, () => [499, "upstream", 15_000]));
    compare("reasoning-left", records);
  }, 120_000);

  it("a long stream its client never read, then left, is read to its usage", async () => {
    const statuses = await run("long-unread", 3, async (client, i) => {
      const controller = new AbortController();
      await client.chat.completions.create({ model: "gpt-4.1", messages: say(`write ${i}`), stream: true, max_tokens: 60_000, user: "long-unread", metadata: { row: "long-unread" } }, { signal: controller.signal });
      controller.abort();
    });
    expect(statuses).toEqual([200, 200, 200]);
    const records = await recordsOf("long-unread");
    expect(records.map((r) => [r.usage_source, r.output_tokens])).toEqual(Array.from({ length: 3 }, () => ["upstream", 60_000]));
    compare("long-unread", records);
    console.info(`billing:\n| case | limit | recorded | billed | requests |\n|---|---|---|---|---|\n${table.join("\n")}`);
  }, 120_000);
});

/** A replica's answers being read on for clients that left (`tollgate_upstream_draining`). */
async function draining(replica: ProxyProcess): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`, { headers: { authorization: "Bearer sk-admin" } })).text();
  return Number(/^tollgate_upstream_draining (\d+)/m.exec(text)?.[1] ?? 0);
}
