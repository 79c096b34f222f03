import { afterEach, describe, expect, it, vi } from "vitest";
import { testConfig } from "../../test/support/proxy.js";
import type { Config } from "../config/schema.js";
import { MemoryLogger } from "../log.js";
import { Metrics } from "../metrics.js";
import { usdToNano, type Nano } from "../money.js";
import { NO_EXTRAS } from "../pricing/estimate.js";
import type { Prepared, ProxiedRequest } from "../plan/index.js";
import { tierModels } from "../routing/tiers.js";
import type { EncodingName } from "../tokens/count.js";
import { accountRequest, type AccountServices, type Outcome, type Served } from "./account.js";
import type { UsageRecord } from "./record.js";

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
// gpt-4o: $2.50 input, $1.25 cached, $10 output per 1M tokens; gpt-4-turbo (the premium default): $10 and $30.
const USAGE = { promptTokens: 1000, cachedTokens: 200, completionTokens: 100 };
const GPT_4O_COST = 800 * 2500 + 200 * 1250 + 100 * 10_000;
const TURBO_COST = 1000 * 10_000 + 100 * 30_000;

afterEach(() => {
  vi.useRealTimers();
});

function services(config: Config = testConfig("http://upstream.test/v1")) {
  const encodings: string[] = [];
  const logger = new MemoryLogger();
  const accountServices: AccountServices = {
    config,
    tierModels: tierModels(config),
    metrics: new Metrics(),
    logger,
    encodingOf: (model): EncodingName => (encodings.push(model), "o200k_base"),
  };
  return { services: accountServices, logger, encodings };
}

/** A chat request for `requested`, prepared for gpt-4o: 1000 prompt tokens, nothing dropped. */
function served(config: Config, requested = "auto", extra: { prepared?: Partial<Prepared>; request?: Partial<ProxiedRequest>; served?: Partial<Served> } = {}): Served {
  const body = { model: requested, messages: [{ role: "user", content: "Say hello" }] };
  const request: ProxiedRequest = {
    id: "req-1", startedAt: T0, startedMono: performance.now(), caller: { keyId: "k1", team: "research" }, body,
    bodyChars: JSON.stringify(body).length, requestType: "chat", ...extra.request,
  };
  const prepared: Prepared = {
    model: "gpt-4o", config: config.models["gpt-4o"]!, body, promptTokens: 1000, inputTokens: 1000, droppedMessages: 0, droppedTokens: 0,
    worstOutput: 4096, holdAmount: 43_460_000, expectedCost: 7_500_000, outputCapped: null, extras: NO_EXTRAS, capped: () => undefined, ...extra.prepared,
  };
  return { request, endpoint: "chat.completions", prepared, route: "default", fallbackFrom: [], outputLimit: undefined, optimizerSavedTokens: 0, ...extra.served };
}

/** accountRequest with a settle that records its calls. */
async function account(s: AccountServices, what: Served, outcome: Outcome) {
  const calls: Array<[Nano, UsageRecord]> = [];
  const stored = Promise.resolve();
  const accounted = await accountRequest(s, what, outcome, (cost, record) => (calls.push([cost, record]), stored));
  return { accounted, calls, stored };
}

describe("accountRequest", () => {
  it("costs the upstream's usage and settles once with that cost and the full record", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    const { services: s } = services();
    const what = served(s.config, "auto", { served: { fallbackFrom: ["gpt-4-turbo"], outputLimit: 500 } });
    vi.advanceTimersByTime(250);
    const { accounted, calls, stored } = await account(s, what, { status: 200, usage: USAGE });
    expect(accounted).toMatchObject({ cost: GPT_4O_COST, usage: USAGE, source: "upstream" });
    expect(accounted.settled).toBe(stored);
    expect(calls).toHaveLength(1);
    const [cost, record] = calls[0]!;
    expect(cost).toBe(GPT_4O_COST);
    expect(record).toEqual({
      time: new Date(T0).toISOString(), request_id: "req-1", endpoint: "chat.completions", key_id: "k1", team: "research", request_type: "chat",
      tier: "standard", requested_model: "auto", routed_model: "gpt-4o", route: "default", stream: false, fallback_from: ["gpt-4-turbo"],
      status: 200, input_tokens: 1000, cached_tokens: 200, output_tokens: 100, usage_source: "upstream", estimated_cost_nano: 7_500_000,
      cost_nano: GPT_4O_COST, requested_model_cost_nano: TURBO_COST, cache_hit: false, optimizer_saved_tokens: 0, optimizer_saved_nano: 0,
      context_dropped_messages: 0, context_dropped_tokens: 0, context_saved_nano: 0, output_limit: 500, output_capped: null, latency_ms: 250,
      compressed_tokens: 0, compress_saved_nano: 0, priced: true,
    });
    // An end user and tags are fields only when the request has them, not undefined ones.
    expect(Object.keys(record)).toHaveLength(32);
  });

  it("records the request's end user and tags, copied", async () => {
    const { services: s } = services();
    const tags = ["launch", "beta"];
    const { calls } = await account(s, served(s.config, "auto", { request: { caller: { keyId: "k1", team: "research", endUser: "u-7", tags } } }), { status: 200, usage: USAGE });
    const record = calls[0]![1];
    expect(record).toMatchObject({ end_user: "u-7", tags: ["launch", "beta"] });
    expect(record.tags).not.toBe(tags);
    expect(Object.keys(record)).toHaveLength(34);
  });

  it("measures savings against the model the client named, when it named one", async () => {
    const { services: s } = services();
    const { calls } = await account(s, served(s.config, "claude-3-sonnet"), { status: 200, usage: USAGE });
    // claude-3-sonnet has no cached rate: every prompt token at $3, output at $15.
    expect(calls[0]![1]).toMatchObject({ requested_model: "claude-3-sonnet", requested_model_cost_nano: 1000 * 3000 + 100 * 15_000 });
  });

  it("counts the output locally, on the routed model's encoding, when the upstream sent no usage", async () => {
    const { services: s, encodings } = services();
    const { accounted, calls } = await account(s, served(s.config), { status: 200, outputText: ["Hello", " world"] });
    // "Hello world" is two o200k tokens; the prompt is the prepared count, none of it cached.
    expect(accounted).toMatchObject({ usage: { promptTokens: 1000, cachedTokens: 0, completionTokens: 2 }, source: "estimated", cost: 1000 * 2500 + 2 * 10_000 });
    expect(encodings).toEqual(["gpt-4o"]);
    expect(calls[0]![1]).toMatchObject({ usage_source: "estimated", input_tokens: 1000, output_tokens: 2, cost_nano: accounted.cost });
  });

  it("charges a reasoning model's answer without usage at its hold: its reasoning was billed, never seen", async () => {
    const { services: s } = services();
    const reasoning = { ...s.config.models["gpt-4o"]!, reasoning: true };
    const { accounted, calls } = await account(s, served(s.config, "auto", { prepared: { config: reasoning } }), { status: 499, outputText: ["Hel"] });
    expect(accounted).toMatchObject({ cost: 43_460_000, usage: { promptTokens: 1000, cachedTokens: 0, completionTokens: 4096 }, source: "held" });
    expect(calls[0]![1]).toMatchObject({ usage_source: "held", cost_nano: 43_460_000, output_tokens: 4096 });
  });

  it("bills the service tier the answer names, and the web searches it made", async () => {
    const { services: s } = services();
    const what = served(s.config, "auto", { request: { body: { model: "auto", messages: [], service_tier: "priority" } } });
    const standard = (await account(s, served(s.config), { status: 200, usage: USAGE })).accounted.cost;
    // Asked for priority, served at it: twice the tokens' price.
    expect((await account(s, what, { status: 200, usage: USAGE, serviceTier: "priority" })).accounted.cost).toBe(2 * standard);
    // Asked for priority, served at the default tier (the answer says so): the standard price.
    expect((await account(s, what, { status: 200, usage: USAGE, serviceTier: "default" })).accounted.cost).toBe(standard);
    // No word from the answer: the tier asked for.
    expect((await account(s, what, { status: 200, usage: USAGE })).accounted.cost).toBe(2 * standard);
    const searched = await account(s, served(s.config), { status: 200, usage: USAGE, webSearches: 3 });
    // gpt-4o's fee per search comes from the catalogue ($10 per 1,000); the configuration priced only its tokens.
    expect(s.config.models["gpt-4o"]!.price.web_search).toBe(0.01);
    expect(searched.accounted.cost - standard).toBe(3 * usdToNano(0.01));
  });

  it("bills nothing when nothing was produced, and still records the request", async () => {
    const { services: s } = services();
    const { accounted, calls } = await account(s, served(s.config), { status: 503, nothingBilled: true, outputText: ["ignored"] });
    expect(accounted).toMatchObject({ cost: 0, usage: { promptTokens: 0, cachedTokens: 0, completionTokens: 0 }, source: "estimated" });
    expect(calls.map(([cost, r]) => [cost, r.status, r.cost_nano, r.requested_model_cost_nano])).toEqual([[0, 503, 0, 0]]);
  });

  it("costs a cache hit at 0 and keeps what it would have cost as the saving", async () => {
    const { services: s } = services();
    const { accounted, calls } = await account(s, served(s.config), { status: 200, usage: USAGE, cacheHit: true });
    expect(accounted).toMatchObject({ cost: 0, usage: USAGE, source: "cache" });
    expect(calls[0]).toEqual([0, expect.objectContaining({ usage_source: "cache", cache_hit: true, cost_nano: 0, requested_model_cost_nano: TURBO_COST, input_tokens: 1000 })]);
  });

  it("prices what the optimizer, context fit and compression saved at the routed model's input rate", async () => {
    const { services: s } = services();
    const what = served(s.config, "auto", {
      prepared: { droppedMessages: 2, droppedTokens: 300, outputCapped: 256 },
      request: { compressed: { before: 5000, after: 1000 } },
      served: { optimizerSavedTokens: 40 },
    });
    const { calls } = await account(s, what, { status: 200, usage: USAGE });
    expect(calls[0]![1]).toMatchObject({
      optimizer_saved_tokens: 40, optimizer_saved_nano: 40 * 2500,
      context_dropped_messages: 2, context_dropped_tokens: 300, context_saved_nano: 300 * 2500,
      compressed_tokens: 4000, compress_saved_nano: 4000 * 2500, output_capped: 256,
    });
  });

  it("counts the request, its tokens and its cost in the metrics and logs one line", async () => {
    const { services: s, logger } = services();
    await account(s, served(s.config), { status: 200, usage: USAGE });
    const value = async (metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }) =>
      (await metric.get()).values.map((v) => [v.labels, v.value]);
    expect(await value(s.metrics.requests)).toEqual([[{ tier: "standard", model: "gpt-4o", status: "200" }, 1]]);
    expect(await value(s.metrics.tokens)).toEqual([
      [{ direction: "input", model: "gpt-4o" }, 1000],
      [{ direction: "cached", model: "gpt-4o" }, 200],
      [{ direction: "output", model: "gpt-4o" }, 100],
    ]);
    expect(await value(s.metrics.cost)).toEqual([[{ model: "gpt-4o" }, GPT_4O_COST / 1e9]]);
    expect(logger.lines).toEqual([expect.objectContaining({ level: "info", event: "request", request_id: "req-1", cost_usd: GPT_4O_COST / 1e9, usage_source: "upstream" })]);
  });
});
