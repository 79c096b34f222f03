import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { windowsAt } from "../../src/budget/window.js";
import { RedisBudgetStore } from "../../src/budget/redis.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

const prefix = uniquePrefix();
let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "stream", pieces: Array.from({ length: 10 }, (_, i) => `p${i} `), delayMs: 100 }));
});

afterAll(async () => {
  await upstream?.close();
  await cleanPrefix(prefix);
});

describe("SIGTERM", () => {
  it("stops accepting, lets the stream in flight finish and settle, then exits", async () => {
    const file = writeConfigFile(testConfigInput(upstream.baseUrl, { store: { redis_url: redisUrl(), key_prefix: prefix } }));
    const replica = await spawnProxy(file);
    const client = new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: "x", maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true });
    const exit = replica.stop("SIGTERM");
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe(Array.from({ length: 10 }, (_, i) => `p${i} `).join(""));
    expect(await exit).toBe(0);
    await expect(fetch(`${replica.url}/health`)).rejects.toThrow();

    const store = new RedisBudgetStore({ url: redisUrl(), keyPrefix: prefix });
    try {
      await store.waitUntilReady(5000);
      const records = await store.usageRecords(10);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ status: 200, usage_source: "upstream", stream: true });
      // The child process runs on the system clock: the request was counted on the day it started
      // (its record's time), or on the next if midnight fell between its start and its hold.
      const started = Date.parse(records[0]!.time);
      const days = [...new Set([started, started + 60_000].map((t) => windowsAt(t, "UTC").day))];
      const spent = await store.spent(days.map((day) => `c:global::d:${day}`));
      expect(spent.reduce((a, b) => a + b, 0)).toBe(records[0]!.cost_nano);
    } finally {
      await store.close();
    }
  }, 30_000);
});
