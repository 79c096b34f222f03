import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { calcPrice } from "@pydantic/genai-prices";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { genaiPrices } from "../../src/pricing/catalogue.js";
import { startUpstream, type FakeUpstream, type Usage } from "../support/upstream.js";
import { spawnProxy, startTestProxy, testConfigInput, writeConfigFile, type TestProxy } from "../support/proxy.js";

/**
 * Prices from the catalogue, end to end: models configured without a price are priced from the
 * bundled @pydantic/genai-prices data and costed with it; a configured price wins; a model neither
 * prices stops the start. The expected costs come from the package's own calcPrice, so the test
 * checks tollgate's resolved rates against the catalogue's arithmetic, not against copied numbers.
 */

/** When prices that change on a date are read (none of the models here has one). */
const AT = new Date("2026-06-01T00:00:00Z");
const root = join(import.meta.dirname, "../..");

let upstream: FakeUpstream;
let proxy: TestProxy;
let usage: Usage;

/** The test configuration plus three models without prices of their own, and one with. */
function catalogueConfigInput(upstreamUrl: string): Record<string, any> {
  const input = testConfigInput(upstreamUrl);
  return {
    ...input,
    models: {
      ...input.models,
      "gpt-5-mini": { upstream: "openai", tier: "economy", max_output_tokens: 128_000 },
      "claude-sonnet-4-5": { upstream: "anthropic", upstream_model: "claude-sonnet-4-5-20250929", tier: "standard", max_output_tokens: 64_000 },
      "gpt-5.1-mine": { upstream: "openai", upstream_model: "gpt-5.1", tier: "standard", price: { input: 1, output: 4 } },
    },
    // The model asked for is the model served.
    routing: { client_model: "pin" },
  };
}

/** The catalogue package's own price for a usage, in USD. */
function packagePrice(tokens: Record<string, number>, model: string, providerId: string): number {
  const result = calcPrice(tokens, model, { providerId, timestamp: AT });
  if (!result) throw new Error(`the catalogue does not price ${providerId}/${model}`);
  return result.total_price;
}

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json", usage }));
  const { config } = parseConfig(stringify(catalogueConfigInput(upstream.baseUrl)), "catalogue-test.yaml", {}, { at: AT });
  proxy = await startTestProxy(config);
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
});

describe("a model configured without a price", () => {
  it("is priced from the catalogue, and /v1/models says so", async () => {
    const res = await fetch(`${proxy.url}/v1/models`);
    const { data } = (await res.json()) as { data: Array<Record<string, any>> };
    const mini = data.find((m) => m.id === "gpt-5-mini")!;
    expect(mini.price_source).toBe(`catalogue:${genaiPrices.id}`);
    expect(mini.price.input).toBeCloseTo(packagePrice({ input_tokens: 1e6 }, "gpt-5-mini", "openai"), 12);
    expect(mini.price.output).toBeCloseTo(packagePrice({ output_tokens: 1e6 }, "gpt-5-mini", "openai"), 12);
    expect(mini.context_window).toBeGreaterThan(128_000);
    expect(mini.max_output_tokens).toBe(128_000);
    const sonnet = data.find((m) => m.id === "claude-sonnet-4-5")!;
    expect(sonnet.price.long_context?.[0]).toMatchObject({ above_input_tokens: expect.any(Number) });
    // The test configuration's own models keep their prices.
    expect(data.find((m) => m.id === "gpt-4o-mini")).toMatchObject({ price: { input: 0.15, cached_input: 0.075, output: 0.6 }, price_source: "config" });
  });

  it("costs a request at the catalogue's rates: uncached, cached and output tokens", async () => {
    usage = { prompt_tokens: 1200, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 200 } };
    const { data, response } = await proxy
      .client()
      .chat.completions.create({ model: "gpt-5-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 300 })
      .withResponse();
    expect(data.usage?.prompt_tokens).toBe(1200);
    expect(response.headers.get("x-tollgate-model")).toBe("gpt-5-mini");
    const expected = packagePrice({ input_tokens: 1200, cache_read_tokens: 200, output_tokens: 300 }, "gpt-5-mini", "openai");
    expect(expected).toBeGreaterThan(0);
    expect(Number(response.headers.get("x-tollgate-cost"))).toBeCloseTo(expected, 9);
  });

  it("costs a streamed request the same way", async () => {
    usage = { prompt_tokens: 1200, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 200 } };
    upstream.behave = () => ({ kind: "stream", usage });
    try {
      const stream = await proxy.client().chat.completions.create({ model: "gpt-5-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 300, stream: true });
      for await (const _chunk of stream) {
        // drain
      }
    } finally {
      upstream.behave = () => ({ kind: "json", usage });
    }
    // The request is accounted before its lifecycle slot is given back.
    await proxy.services.lifecycle.idle();
    const logged = proxy.logger.lines.filter((l) => l.event === "request" && l.model === "gpt-5-mini").at(-1)!;
    expect(logged.usage_source).toBe("upstream");
    expect(logged.cost_usd as number).toBeCloseTo(packagePrice({ input_tokens: 1200, cache_read_tokens: 200, output_tokens: 300 }, "gpt-5-mini", "openai"), 9);
  });

  it("applies the catalogue's long-context rates to a prompt above their threshold", async () => {
    const short = { prompt_tokens: 150_000, completion_tokens: 1000 };
    const long = { prompt_tokens: 250_000, completion_tokens: 1000 };
    const costs: number[] = [];
    for (const u of [short, long]) {
      usage = u;
      const { response } = await proxy
        .client()
        .chat.completions.create({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "summarise the attached" }], max_tokens: 1000 })
        .withResponse();
      costs.push(Number(response.headers.get("x-tollgate-cost")));
    }
    expect(costs[0]).toBeCloseTo(packagePrice({ input_tokens: 150_000, output_tokens: 1000 }, "claude-sonnet-4-5-20250929", "anthropic"), 9);
    expect(costs[1]).toBeCloseTo(packagePrice({ input_tokens: 250_000, output_tokens: 1000 }, "claude-sonnet-4-5-20250929", "anthropic"), 9);
    // Above the threshold every token costs more, not only those past it.
    expect(costs[1]! / 250_000).toBeGreaterThan((costs[0]! / 150_000) * 1.5);
  });
});

describe("a configured price", () => {
  it("overrides the catalogue's", async () => {
    usage = { prompt_tokens: 1200, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 200 } };
    const { response } = await proxy
      .client()
      .chat.completions.create({ model: "gpt-5.1-mine", messages: [{ role: "user", content: "hi" }], max_tokens: 300 })
      .withResponse();
    // 1,200 input tokens at $1 (no cached price: cached tokens at the input price) + 300 at $4, per 1M.
    expect(response.headers.get("x-tollgate-cost")).toBe("0.0024");
    expect(packagePrice({ input_tokens: 1200, cache_read_tokens: 200, output_tokens: 300 }, "gpt-5.1", "openai")).not.toBeCloseTo(0.0024, 6);
    const { data } = (await (await fetch(`${proxy.url}/v1/models`)).json()) as { data: Array<Record<string, any>> };
    expect(data.find((m) => m.id === "gpt-5.1-mine")).toMatchObject({ price: { input: 1, output: 4 }, price_source: "config" });
  });

  it("that differs from the catalogue's is logged at start", async () => {
    const child = await spawnProxy(writeConfigFile(catalogueConfigInput(upstream.baseUrl)));
    try {
      const lines = child.output.join("").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      const differs = lines.filter((l) => l.event === "price_differs_from_catalogue");
      expect(differs).toContainEqual(expect.objectContaining({ level: "warn", model: "gpt-5.1-mine", catalogue_model: "openai/gpt-5.1" }));
      // Not a model priced by the catalogue, nor one whose configured price is the catalogue's.
      expect(differs.map((l) => l.model)).not.toContain("gpt-5-mini");
      expect(differs.map((l) => l.model)).not.toContain("gpt-4o-mini");
      const sources = lines.find((l) => l.event === "prices")?.sources as Record<string, string>;
      expect(sources).toMatchObject({ "gpt-5-mini": `catalogue:${genaiPrices.id}`, "gpt-5.1-mine": "config" });
    } finally {
      expect(await child.stop()).toBe(0);
    }
  });
});

describe("a model neither the configuration nor the catalogue prices", () => {
  it("stops the start, naming it", () => {
    const input = catalogueConfigInput(upstream.baseUrl);
    const file = writeConfigFile({
      ...input,
      upstreams: { ...input.upstreams, house: { base_url: upstream.baseUrl } },
      models: { ...input.models, "house-model-x": { upstream: "house", tier: "economy" } },
    });
    const run = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", "--config", file], { cwd: root, encoding: "utf8", timeout: 20_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/models\.house-model-x\.price: model "house-model-x" has no price/);
    expect(run.stdout).not.toMatch(/"event":"listening"/);
  });
});
