import { connect } from "node:net";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ManualClock } from "../../src/clock.js";
import type { Config } from "../../src/config/schema.js";
import { EXAMPLE_DAY, EXAMPLE_KEY, exampleConfig } from "../support/example.js";
import { startRealtimeUpstream, type FakeRealtimeUpstream } from "../support/realtime-upstream.js";
import { startTestProxy, type TestProxy } from "../support/proxy.js";

/**
 * GET /v1/realtime through tollgate: the openai SDK's realtime WebSocket client holds a session to
 * a fake realtime upstream, each response is held before it goes on and settled from its usage, and
 * the spend shows in /v1/costs; a response that does not fit the budget is refused with an `error`
 * event and never reaches the upstream.
 */

const ADMIN = "sk-tollgate-admin";
let upstream: FakeRealtimeUpstream;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  upstream = await startRealtimeUpstream();
});

afterAll(async () => {
  for (const p of proxies) await p.shutdown();
  await upstream?.close();
});

async function proxyWith(change: (config: Config) => Config = (c) => c): Promise<TestProxy> {
  const proxy = await startTestProxy(change(exampleConfig(upstream.baseUrl, { TOLLGATE_ADMIN_KEY: ADMIN })), { clock: new ManualClock(EXAMPLE_DAY) });
  proxies.push(proxy);
  return proxy;
}

/**
 * The SDK's realtime client pointed at tollgate. It always dials wss://; the loopback proxy speaks
 * plain WebSocket, so the connection is made over plain TCP, as a TLS-terminating balancer would.
 */
async function sdkSession(proxy: TestProxy): Promise<OpenAIRealtimeWS> {
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: EXAMPLE_KEY });
  const rt = new OpenAIRealtimeWS({ model: "gpt-realtime", options: { createConnection: () => connect(proxy.port, "127.0.0.1") } }, client);
  await new Promise<void>((resolve, reject) => {
    rt.socket.once("open", () => resolve());
    rt.socket.once("error", reject);
  });
  return rt;
}

/** The next event of `type` the session receives. */
const next = (rt: OpenAIRealtimeWS, type: string) => new Promise<Record<string, any>>((resolve) => rt.on("event", (event) => event.type === type && resolve(event as never)));

/** The price of one fake response on gpt-realtime (USD per 1M: text 4 in, 16 out; audio 32 in, 64 out). */
const RESPONSE_USD = (40 * 4 + 60 * 32 + 5 * 16 + 15 * 64) / 1e6;

describe("the realtime WebSocket", () => {
  it("holds a session from the openai SDK's client, and each response's spend is in /v1/costs", async () => {
    const proxy = await proxyWith();
    const rt = await sdkSession(proxy);
    for (const question of ["hi", "and again"]) {
      const delta = next(rt, "response.output_text.delta");
      const done = next(rt, "response.done");
      rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: question }] } });
      rt.send({ type: "response.create" });
      expect((await delta).delta).toBe("Hello by voice (Bearer ***).");
      expect((await done).response.usage.output_tokens).toBe(20);
    }
    rt.close();
    const session = upstream.sessions.at(-1)!;
    expect(session.url).toBe("/v1/realtime?model=gpt-realtime");
    expect(session.headers.authorization).toBe("Bearer sk-upstream-openai");
    expect(session.events.map((e) => e.type)).toEqual(["conversation.item.create", "response.create", "conversation.item.create", "response.create"]);
    const costs = async () => (await (await fetch(`${proxy.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { total_cost: number; total_requests: number };
    await expect.poll(costs).toMatchObject({ total_requests: 2 });
    expect((await costs()).total_cost).toBeCloseTo(2 * RESPONSE_USD, 9);
    const records = await proxy.services.store.usageRecords(10);
    expect(records.map((r) => [r.endpoint, r.routed_model, r.usage_source, r.key_id])).toEqual([
      ["realtime", "gpt-realtime", "upstream", "ci-bot"],
      ["realtime", "gpt-realtime", "upstream", "ci-bot"],
    ]);
  });

  it("refuses a response that does not fit the budget with an error event, and the upstream never sees it", async () => {
    // The key's daily budget is below one response's worst case (4096 output tokens of audio at $64/1M).
    const proxy = await proxyWith((c) => ({ ...c, budgets: { ...c.budgets, keys: { "ci-bot": { daily: 0.1 } } } }));
    const rt = await sdkSession(proxy);
    const error = next(rt, "error");
    rt.on("error", () => {});
    rt.send({ type: "response.create", event_id: "evt_client_1" });
    expect((await error).error).toMatchObject({ code: "budget_exceeded", type: "insufficient_quota", event_id: "evt_client_1" });
    // The session goes on: a later event still reaches the upstream, the refused one never did.
    rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "still here" }] } });
    await expect.poll(() => upstream.sessions.at(-1)!.events.map((e) => e.type)).toEqual(["conversation.item.create"]);
    rt.close();
    expect(await proxy.services.store.usageRecords(10)).toEqual([]);
  });

  it("takes the key from the subprotocol browsers use, and never sends it upstream", async () => {
    const proxy = await proxyWith();
    const url = `${proxy.url.replace("http", "ws")}/v1/realtime?model=gpt-realtime`;
    const socket = new WebSocket(url, ["realtime", `openai-insecure-api-key.${EXAMPLE_KEY}`, "openai-beta.realtime-v1"]);
    const first = await new Promise<Record<string, any>>((resolve, reject) => {
      socket.once("message", (data) => resolve(JSON.parse(data.toString())));
      socket.once("error", reject);
    });
    expect(first.type).toBe("session.created");
    expect(socket.protocol).toBe("realtime");
    const session = upstream.sessions.at(-1)!;
    expect(String(session.headers["sec-websocket-protocol"])).not.toContain(EXAMPLE_KEY);
    expect(session.headers.authorization).toBe("Bearer sk-upstream-openai");
    socket.close();
  });

  it("refuses a wrong key, an unknown model and a chat model before any upstream is reached", async () => {
    const proxy = await proxyWith();
    const sessions = upstream.sessions.length;
    const status = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; body: any }>((resolve) => {
        const socket = new WebSocket(`${proxy.url.replace("http", "ws")}${path}`, { headers });
        socket.once("unexpected-response", (_, res) => {
          let body = "";
          res.on("data", (part: Buffer) => (body += part.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
        });
        socket.once("error", () => {});
      });
    expect(await status("/v1/realtime?model=gpt-realtime", { authorization: "Bearer sk-wrong" })).toMatchObject({ status: 401, body: { error: { code: "invalid_api_key" } } });
    expect(await status("/v1/realtime?model=gpt-4o-realtime-preview", { authorization: `Bearer ${EXAMPLE_KEY}` })).toMatchObject({ status: 404, body: { error: { code: "model_not_found", message: expect.stringContaining("gpt-realtime") } } });
    expect(await status("/v1/realtime?model=gpt-5-mini", { authorization: `Bearer ${EXAMPLE_KEY}` })).toMatchObject({ status: 404, body: { error: { code: "model_not_found" } } });
    expect(upstream.sessions.length).toBe(sessions);
    expect(await proxy.services.store.usageRecords(10)).toEqual([]);
  });
});
