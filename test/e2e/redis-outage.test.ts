import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";
import { startOwnRedis, type OwnRedis } from "../support/own-redis.js";
import { windowsAt } from "../../src/budget/window.js";
import { ManualClock } from "../../src/clock.js";

/** Redis stops mid-run: requests get 503, then succeed once it is back; nothing lost or counted twice. */

let redis: OwnRedis;
let upstream: FakeUpstream;
let proxy: TestProxy;
let client: OpenAI;
/** The proxies' clock: budget windows come from it, never from the wall clock. */
const clock = new ManualClock(Date.UTC(2026, 5, 15, 12));

beforeAll(async () => {
  redis = await startOwnRedis();
  upstream = await startUpstream((req) => ({ kind: "json", delayMs: req.body.messages[0].content === "slow" ? 1500 : 0 }));
  proxy = await startTestProxy(testConfig(upstream.baseUrl, { store: { redis_url: redis.url, key_prefix: "outage:" } }), { clock });
  client = proxy.client();
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await redis?.stop();
});

const ask = (content = "hi") =>
  client.chat.completions
    .create({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
    .withResponse()
    .then(({ response }) => ({ status: 200, cost: Math.round(Number(response.headers.get("x-tollgate-cost")) * 1e9), id: response.headers.get("x-request-id")! }))
    .catch((e: InstanceType<typeof OpenAI.APIError>) => ({ status: e.status, error: e }));

describe("Redis outage with store.on_error: closed", () => {
  it("answers 503 budget_store_unavailable while Redis is down and loses nothing", async () => {
    const answered: Array<{ cost: number; id: string }> = [];
    for (let i = 0; i < 3; i++) {
      const r = await ask();
      expect(r.status).toBe(200);
      answered.push(r as { cost: number; id: string });
    }

    // A request already reserved when Redis goes away settles once it is back.
    const slow = ask("slow");
    await expect.poll(() => upstream.requests.some((r) => r.body.messages[0].content === "slow")).toBe(true);
    await redis.stop();

    const during = await ask();
    expect(during.status).toBe(503);
    const error = (during as { error: InstanceType<typeof OpenAI.APIError> }).error;
    expect(error.error).toMatchObject({ code: "budget_store_unavailable", type: "server_error" });
    expect((await fetch(`${proxy.url}/ready`)).status).toBe(503);

    const slowResult = await slow;
    expect(slowResult.status).toBe(200);
    answered.push(slowResult as { cost: number; id: string });
    // The slow request's settle, and the release by id of the refused request's reserve (it may have run before its reply was lost).
    await expect.poll(() => proxy.services.settler.backlog).toBe(2);

    await redis.start();
    await expect.poll(async () => (await fetch(`${proxy.url}/ready`)).status, { timeout: 10_000, interval: 100 }).toBe(200);
    const after = await ask();
    expect(after.status).toBe(200);
    answered.push(after as { cost: number; id: string });
    await expect.poll(() => proxy.services.settler.backlog, { timeout: 10_000 }).toBe(0);

    const day = windowsAt(clock.now(), "UTC").day;
    const [globalDaily] = await proxy.services.store.spent([`c:global::d:${day}`]);
    expect(globalDaily).toBe(answered.reduce((s, r) => s + r.cost, 0));
    const records = await proxy.services.store.usageRecords(100);
    expect(records.map((r) => r.request_id).sort()).toEqual(answered.map((r) => r.id).sort());
  }, 30_000);
});

describe("Redis outage with store.on_error: open", () => {
  it("lets traffic through, logs each such request, and records the spend once Redis is back", async () => {
    const own = await startOwnRedis();
    const open = await startTestProxy(testConfig(upstream.baseUrl, { store: { redis_url: own.url, key_prefix: "open:", on_error: "open" } }), { clock });
    try {
      const openClient = open.client();
      await own.stop();
      const { response } = await openClient.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).withResponse();
      expect(response.status).toBe(200);
      const cost = Math.round(Number(response.headers.get("x-tollgate-cost")) * 1e9);
      expect(open.logger.lines.some((l) => l.event === "budget_store_unavailable_open" && l.level === "error")).toBe(true);
      // The release by id of the reserve whose reply was lost, and the request's own settle.
      await expect.poll(() => open.services.settler.backlog).toBe(2);

      await own.start();
      await expect.poll(() => open.services.settler.backlog, { timeout: 10_000 }).toBe(0);
      const [spent] = await open.services.store.spent([`c:global::d:${windowsAt(clock.now(), "UTC").day}`]);
      expect(spent).toBe(cost);
      expect((await open.services.store.usageRecords(10)).map((r) => r.request_id)).toEqual([response.headers.get("x-request-id")]);
    } finally {
      await open.shutdown();
      await own.stop();
    }
  }, 30_000);
});
