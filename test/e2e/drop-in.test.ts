import OpenAI from "openai";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import type { Config } from "../../src/config/schema.js";
import { EXAMPLE_DAY, EXAMPLE_KEY, exampleConfig } from "../support/example.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, type TestProxy } from "../support/proxy.js";

/**
 * Only the base URL changes: the example configuration answers what SDKs send by default (their
 * own model names, stored prompts, the API's own ranges), names its own models, and closes a
 * connection it leaves unread.
 */

let upstream: FakeUpstream;
let proxy: TestProxy;
let client: OpenAI;

async function start(change: (config: Config) => Config = (c) => c): Promise<TestProxy> {
  return startTestProxy(change(exampleConfig(upstream.baseUrl)), { clock: new ManualClock(EXAMPLE_DAY) });
}

beforeAll(async () => {
  upstream = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json" }));
  proxy = await start();
  client = proxy.client(EXAMPLE_KEY);
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
});

/** What the key has spent today, in nano-USD (every scope moves together). */
async function spent(): Promise<number> {
  const records = await proxy.services.store.usageRecords(1000);
  return records.reduce((sum, r) => sum + r.cost_nano, 0);
}

describe("model names the configuration does not know", () => {
  it("routes an SDK's default chat model as auto, within its catalogue price, and says so", async () => {
    const { data, response } = await client.chat.completions.create({ model: "gpt-3.5-turbo", messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    expect(response.headers.get("x-tollgate-route")).toBe("unknown-model:gpt-3.5-turbo");
    // gpt-3.5-turbo costs less than any tier's default: its ceiling is economy.
    expect(response.headers.get("x-tollgate-tier")).toBe("economy");
    expect(upstream.requests.at(-1)!.body.model).toBe("gpt-5-mini");
  });

  it("routes a name that is an Object property like any other unknown name", async () => {
    const { response } = await client.chat.completions.create({ model: "constructor", messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(response.headers.get("x-tollgate-route")).toBe("unknown-model:constructor");
  });

  it("sends embeddings for an unknown model to the default embedding model", async () => {
    const { response } = await client.embeddings.create({ model: "text-embedding-ada-002", input: "hello" }).withResponse();
    expect(response.headers.get("x-tollgate-route")).toBe("unknown-model:text-embedding-ada-002");
    expect(upstream.requests.at(-1)!.body.model).toBe("text-embedding-3-small");
    expect(Number(response.headers.get("x-tollgate-cost"))).toBeGreaterThan(0);
  });
});

describe("agents on the example configuration", () => {
  /** An agent's turn: a long system prompt and tool list, a short question. */
  const agentTurn = (question: string) => ({
    model: "auto",
    messages: [
      { role: "system" as const, content: "You are a coding agent. Follow the repository's conventions. ".repeat(900) },
      { role: "user" as const, content: question },
    ],
    tools: Array.from({ length: 20 }, (_, i) => ({ type: "function" as const, function: { name: `tool_${i}`, description: "Runs a shell command in the workspace. ".repeat(20), parameters: { type: "object", properties: { cmd: { type: "string" } } } } })),
  });

  it("routes an agent's short turn by its score, not as long context", async () => {
    const { response } = await client.chat.completions.create(agentTurn("list the files")).withResponse();
    expect(response.headers.get("x-tollgate-route")).toMatch(/^score:/);
  });

  it("still sends a long conversation to standard", async () => {
    const long = agentTurn("and now?");
    long.messages.splice(1, 0, { role: "user", content: "Here is the log. ".repeat(3000) });
    const { response } = await client.chat.completions.create(long).withResponse();
    expect(response.headers.get("x-tollgate-route")).toBe("long-context");
    expect(response.headers.get("x-tollgate-tier")).toBe("standard");
  });

  it("matches a rule on the user agent", async () => {
    const byAgent = await start((c) => ({ ...c, routing: { ...c.routing, rules: [{ name: "review-bot", when: { header: { "user-agent": "review-bot/" }, keywords_mode: "any" }, tier: "standard" }, ...c.routing.rules] } }));
    try {
      const { response } = await byAgent.client(EXAMPLE_KEY).chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi" }] }, { headers: { "user-agent": "review-bot/1.2" } }).withResponse();
      expect(response.headers.get("x-tollgate-route")).toBe("review-bot");
    } finally {
      await byAgent.shutdown();
    }
  });
});

describe("GET /v1/models/{id}", () => {
  it("answers the auto aliases and configured models itself", async () => {
    const asked = upstream.requests.length;
    expect(await client.models.retrieve("auto")).toMatchObject({ id: "auto", object: "model", owned_by: "tollgate" });
    expect(await client.models.retrieve("text-embedding-3-small")).toMatchObject({ id: "text-embedding-3-small", owned_by: "openai" });
    expect(upstream.requests.length).toBe(asked);
  });

  it("asks the upstream about any other name, and needs a key", async () => {
    await client.models.retrieve("gpt-3.5-turbo");
    expect(upstream.requests.at(-1)!.path).toBe("/v1/models/gpt-3.5-turbo");
    await expect(proxy.client("sk-wrong").models.retrieve("auto")).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
  });
});

describe("the API's own ranges", () => {
  it("accepts a Responses request with a stored prompt and no model", async () => {
    const { response } = await client.responses.create({ prompt: { id: "pmpt_123", variables: { city: "Paris" } } }).withResponse();
    expect(response.status).toBe(200);
    expect(upstream.requests.at(-1)!.body).toMatchObject({ prompt: { id: "pmpt_123" }, model: "gpt-5-mini" });
  });

  it("accepts best_of from 0 to 20 and refuses 21, moving no budget", async () => {
    for (const best_of of [0, 20]) await client.completions.create({ model: "auto", prompt: "Say", best_of, max_tokens: 5 });
    const before = await spent();
    const records = (await proxy.services.store.usageRecords(1000)).length;
    await expect(client.completions.create({ model: "auto", prompt: "Say", best_of: 21 })).rejects.toMatchObject({ status: 400, param: "best_of", message: expect.stringMatching(/between 0 and 20/) });
    expect(await spent()).toBe(before);
    expect((await proxy.services.store.usageRecords(1000)).length).toBe(records);
  });

  it("closes the connection after a 413, so the next request takes a fresh one", async () => {
    const small = await start((c) => ({ ...c, server: { ...c.server, body_limit_mb: 0.01 } }));
    const pool = new Pool(small.url, { connections: 1, pipelining: 1 });
    try {
      const send = (content: string) =>
        pool.request({ path: "/v1/chat/completions", method: "POST", headers: { authorization: `Bearer ${EXAMPLE_KEY}`, "content-type": "application/json" }, body: JSON.stringify({ model: "auto", messages: [{ role: "user", content }] }) });
      const big = await send("x".repeat(20_000));
      expect(big.statusCode).toBe(413);
      expect(big.headers.connection).toBe("close");
      expect(JSON.parse(await big.body.text())).toMatchObject({ error: { code: "request_too_large" } });
      const next = await send("hi");
      expect(next.statusCode).toBe(200);
      await next.body.text();
    } finally {
      await pool.close();
      await small.shutdown();
    }
  });
});
