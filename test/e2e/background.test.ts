import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Background responses whose owner never comes back for them: tollgate's own poll settles them
 * from the finished response, and one unfinished past `responses.background_hold_hours` is charged
 * at its hold. And a conversation tollgate cannot size is held for the model's window.
 */

const KEY = "sk-background";
const T0 = Date.UTC(2026, 5, 15, 12);

describe("background responses and conversations", () => {
  const prefix = uniquePrefix();
  const clock = new ManualClock(T0);
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let redis: Redis;
  /** The upstream's responses: their status, and the usage once finished. */
  const responses = new Map<string, { status: string; usage: unknown }>();

  beforeAll(async () => {
    upstream = await startUpstream();
    upstream.route = (req, res) => {
      const id = /\/v1\/responses\/([^/]+)$/.exec(req.path)?.[1];
      if (req.method === "POST" && req.path === "/v1/responses" && req.body.background === true) {
        const created = `resp_bg_${responses.size + 1}`;
        responses.set(created, { status: "queued", usage: null });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: created, object: "response", status: "queued", model: req.body.model, output: [], usage: null }));
        return true;
      }
      if (req.method === "GET" && id !== undefined && responses.has(id)) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id, object: "response", model: "gpt-4o", output: [], ...responses.get(id) }));
        return true;
      }
      return false;
    };
    proxy = await startTestProxy(
      testConfig(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix },
        keys: [{ id: "app", key: KEY }],
        routing: { client_model: "pin" },
        budgets: { downgrade: false, keys: { app: { daily: 5 } } },
        responses: { background_poll_seconds: 60, background_hold_hours: 2 },
      }),
      { clock },
    );
    redis = new Redis(redisUrl());
  });

  afterAll(async () => {
    await proxy?.shutdown();
    await upstream?.close();
    redis?.disconnect();
    await cleanPrefix(prefix);
  });

  const spent = async () => {
    const counters = countersFor(scopesFor(proxy.services.config.budgets, "app", null), proxy.services.windows.at(T0));
    return (await proxy.services.store.spent(counters.map((c) => c.id)))[0]!;
  };
  const holds = () => redis.zcard(`${prefix}{tg}:holds`);
  const recordOf = async (id: string) => (await proxy.services.store.usageRecords(100)).find((r) => r.request_id === id);

  it("holds a queued response's worst case, and settles it from its usage when the poll finds it done", async () => {
    const client = proxy.client(KEY);
    const { data: queued, response } = await client.responses.create({ model: "gpt-4o", input: "a long job", max_output_tokens: 1000, background: true }).withResponse();
    const requestId = response.headers.get("x-request-id")!;
    expect(queued.status).toBe("queued");
    // Held, not settled: the hold is the worst case, and no record yet.
    expect(await holds()).toBe(1);
    const held = await spent();
    expect(held).toBeGreaterThanOrEqual(1000 * 10_000);
    expect(await recordOf(requestId)).toBeUndefined();

    // Not done at the first poll: its lease moves on to the next.
    clock.advance(61_000);
    await proxy.services.leases.chargeExpired();
    expect(await holds()).toBe(1);
    expect(await recordOf(requestId)).toBeUndefined();

    responses.set(queued.id, { status: "completed", usage: { input_tokens: 40, output_tokens: 600, output_tokens_details: { reasoning_tokens: 0 } } });
    clock.advance(61_000);
    await proxy.services.leases.chargeExpired();
    expect(await holds()).toBe(0);
    const record = await recordOf(requestId);
    // gpt-4o: 40 × $2.50 + 600 × $10 per 1M tokens.
    expect(record).toMatchObject({ usage_source: "upstream", input_tokens: 40, output_tokens: 600, cost_nano: 40 * 2500 + 600 * 10_000 });
    expect(await spent()).toBe(record!.cost_nano);
  });

  it("charges one still unfinished past its deadline at its hold, as unreconciled", async () => {
    const before = await spent();
    const { data: queued, response } = await proxy.client(KEY).responses.create({ model: "gpt-4o", input: "a job that never ends", max_output_tokens: 1000, background: true }).withResponse();
    const held = (await spent()) - before;
    for (let hour = 0; hour < 2; hour++) {
      clock.advance(3600_000);
      await proxy.services.leases.chargeExpired();
    }
    expect(responses.get(queued.id)!.status).toBe("queued");
    clock.advance(61_000);
    await proxy.services.leases.chargeExpired();
    expect(await holds()).toBe(0);
    const record = await recordOf(response.headers.get("x-request-id")!);
    expect(record).toMatchObject({ usage_source: "unreconciled", cost_nano: held });
  });

  it("holds a conversation tollgate did not see grow for the model's whole window", async () => {
    const client = proxy.client(KEY);
    // Made through tollgate with no items: its size is known (empty), so a turn is held for its own input.
    const conversation = await client.conversations.create({});
    expect(await proxy.services.objects.find(conversation.id)).toMatchObject({ tokens: 0 });
    const estimate = (headers: Headers) => Number(headers.get("x-tollgate-estimated-cost"));
    const small = await client.responses.create({ model: "gpt-4o", input: "hello", max_output_tokens: 100, conversation: conversation.id }).withResponse();
    expect(estimate(small.response.headers)).toBeLessThan(0.01);
    // The fake's answer carries usage: the conversation is now as large as that turn said.
    const size = (await proxy.services.objects.find(conversation.id))!.tokens!;
    expect(size).toBeGreaterThan(0);

    // Items added elsewhere leave its size unknown: the next turn holds the whole window of input.
    await proxy.services.objects.update(conversation.id, { owner: "key:app", upstream: "openai" });
    const before = await spent();
    let heldDuring = 0;
    upstream.behave = () => {
      void spent().then((s) => (heldDuring = s - before));
      return { kind: "json" };
    };
    await client.responses.create({ model: "gpt-4o", input: "hello again", max_output_tokens: 100, conversation: conversation.id });
    await expect.poll(() => heldDuring).toBeGreaterThan(0);
    // gpt-4o's window is 128,000 tokens: nearly all of it held as input at $2.50 per 1M.
    expect(heldDuring).toBeGreaterThanOrEqual((128_000 - 200) * 2500);
  });
});
