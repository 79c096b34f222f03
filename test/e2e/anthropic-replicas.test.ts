import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startFakeAnthropic, type FakeAnthropic } from "../support/anthropic-upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * The Messages API's budgets across two replicas on one Redis: requests from the Anthropic SDK,
 * created and streamed, held and settled in the shared store; the key's daily budget holds, and
 * what is recorded is what the answers' usage says.
 */

const KEY = "tg-anthropic-replica-key";
const ADMIN = "tg-anthropic-replica-admin";
const REQUESTS = 40;
/** What each answer's usage costs on claude-haiku-4-5: 8 input tokens at $1/M, 40 output at $5/M. */
const EACH = 8 * 1 + 40 * 5;
const LIMIT_USD = 0.0025;
const prefix = uniquePrefix();
let claude: FakeAnthropic;
let replicas: ProxyProcess[] = [];

beforeAll(async () => {
  claude = await startFakeAnthropic(() => ({ kind: "answer", usage: { input_tokens: 8, output_tokens: 40 } }));
  const input = testConfigInput("http://127.0.0.1:9/v1", {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [{ id: "app", key: KEY }],
    admin_key: ADMIN,
    budgets: { downgrade: false, keys: { app: { daily: LIMIT_USD } } },
    routing: { client_model: "pin" },
  });
  input.upstreams.claude = { base_url: claude.baseUrl, api_key: "sk-ant-replicas-0123456789", protocol: "anthropic", timeout_ms: 5000 };
  input.models["claude-haiku-4-5"] = { upstream: "claude", tier: "economy", price: { input: 1, output: 5 }, context_window: 200000, max_output_tokens: 64000 };
  replicas = await Promise.all([0, 1].map(() => spawnProxy(writeConfigFile(input))));
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await claude?.close();
  await cleanPrefix(prefix);
});

it("holds and settles Messages requests across two replicas within the key's daily budget", { timeout: 60_000 }, async () => {
  const clients = replicas.map((r) => new Anthropic({ baseURL: r.url, apiKey: KEY, maxRetries: 0 }));
  const results = await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const client = clients[i % clients.length]!;
      const params = { model: "claude-haiku-4-5", max_tokens: 40, messages: [{ role: "user" as const, content: `request number ${i}` }] };
      try {
        if (i % 2 === 0) await client.messages.create(params);
        else await client.messages.stream(params).finalMessage();
        return "ok";
      } catch (err) {
        return err instanceof Anthropic.RateLimitError ? "limited" : String(err);
      }
    }),
  );
  const ok = results.filter((r) => r === "ok").length;
  expect(results.filter((r) => r !== "ok" && r !== "limited")).toEqual([]);
  expect(ok).toBeGreaterThan(0);
  expect(results).toContain("limited");
  expect(ok * EACH).toBeLessThanOrEqual(LIMIT_USD * 1e6);
  // Both replicas read the same settled spend: every answer at the price of its usage.
  for (const replica of replicas) {
    await expect
      .poll(async () => {
        const res = await fetch(`${replica.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } });
        const costs = (await res.json()) as { total_requests: number; total_cost: number };
        return [costs.total_requests, Math.round(costs.total_cost * 1e6)];
      })
      .toEqual([ok, ok * EACH]);
  }
  expect(claude.requests).toHaveLength(ok);
});
