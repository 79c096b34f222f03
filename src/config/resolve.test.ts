import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { CatalogueMatch, CatalogueQuery, PriceCatalogue } from "../pricing/catalogue.js";
import { ConfigError, parseConfig } from "./load.js";
import { configSchema, DEFAULT_CONTEXT_WINDOW, resolveModels } from "./resolve.js";
import { configInputSchema } from "./schema.js";

const AT = new Date("2026-06-01T00:00:00Z");

/** A catalogue that knows two models, so the resolution rules are tested apart from the real data. */
function fakeCatalogue(): PriceCatalogue & { queries: CatalogueQuery[] } {
  const queries: CatalogueQuery[] = [];
  const known: Record<string, Omit<CatalogueMatch, "providerFrom">> = {
    "small-1": { provider: "acme", model: "small-1", price: { input: 0.5, cached_input: 0.05, output: 2 }, context_window: 300_000 },
    "long-1": {
      provider: "acme",
      model: "long-1",
      price: { input: 3, output: 15, long_context: [{ above_input_tokens: 200_000, input: 6, output: 22.5 }] },
      context_window: 1_000_000,
      max_output_tokens: 64_000,
    },
  };
  return {
    id: "fake@1.0.0",
    queries,
    lookup(query) {
      queries.push(query);
      const entry = known[query.model];
      return entry && { ...entry, providerFrom: query.upstream === "guess" ? "model name" : "base_url" };
    },
  };
}

function input(models: Record<string, unknown>, upstreams: Record<string, unknown> = { acme: { base_url: "https://api.acme.test/v1" } }) {
  return configInputSchema.parse({ upstreams, models });
}

describe("resolveModels", () => {
  it("prices a model without a price from the catalogue, with its context window and output limit", () => {
    const catalogue = fakeCatalogue();
    const { models, problems } = resolveModels(input({ long: { upstream: "acme", upstream_model: "long-1", tier: "premium" } }), { catalogue, at: AT });
    expect(problems).toEqual([]);
    expect(models.long).toMatchObject({
      price: { input: 3, output: 15, long_context: [{ above_input_tokens: 200_000, input: 6, output: 22.5 }] },
      price_source: "catalogue:fake@1.0.0",
      context_window: 1_000_000,
      max_output_tokens: 64_000,
    });
    // Looked up by upstream_model, on the upstream's URL and name, as of the given moment.
    expect(catalogue.queries).toEqual([{ model: "long-1", baseUrl: "https://api.acme.test/v1", upstream: "acme", at: AT }]);
  });

  it("looks a model up by its own name when it has no upstream_model", () => {
    const { models } = resolveModels(input({ "small-1": { upstream: "acme", tier: "economy" } }), { catalogue: fakeCatalogue(), at: AT });
    expect(models["small-1"]?.price).toEqual({ input: 0.5, cached_input: 0.05, output: 2 });
  });

  it("keeps a configured price whole, and reports where it differs from the catalogue's", () => {
    const resolved = resolveModels(
      input({
        mine: { upstream: "acme", upstream_model: "long-1", tier: "premium", price: { input: 2.5, output: 15 }, context_window: 500_000, max_output_tokens: 8000 },
        same: { upstream: "acme", upstream_model: "small-1", tier: "economy", price: { input: 0.5, cached_input: 0.05, output: 2 } },
      }),
      { catalogue: fakeCatalogue(), at: AT },
    );
    // The catalogue neither fills the configured price's gaps nor adds its long-context rates.
    expect(resolved.models.mine).toMatchObject({ price: { input: 2.5, output: 15 }, price_source: "config", context_window: 500_000, max_output_tokens: 8000 });
    expect(resolved.models.mine?.price.long_context).toBeUndefined();
    expect(resolved.models.same?.price_source).toBe("config");
    expect(resolved.differences).toEqual([
      {
        model: "mine",
        catalogueModel: "acme/long-1",
        configured: { input: 2.5, output: 15 },
        catalogue: { input: 3, output: 15, long_context: [{ above_input_tokens: 200_000, input: 6, output: 22.5 }] },
        detail: "input 2.5 (catalogue 3), no long-context rates (catalogue: above 200000 input tokens)",
      },
    ]);
    expect(resolved.matches).toEqual({ mine: "acme/long-1", same: "acme/small-1" });
  });

  it("prices a model the catalogue does not know from the configuration, with the default window", () => {
    const { models, problems } = resolveModels(input({ house: { upstream: "acme", tier: "economy", price: { input: 1, output: 1 } } }), { catalogue: fakeCatalogue(), at: AT });
    expect(problems).toEqual([]);
    expect(models.house).toMatchObject({ price_source: "config", context_window: DEFAULT_CONTEXT_WINDOW });
    expect(models.house).not.toHaveProperty("max_output_tokens");
  });

  it("names each model that neither the configuration nor the catalogue prices", () => {
    const { models, problems } = resolveModels(
      input({ "house-a": { upstream: "acme", tier: "economy" }, "small-1": { upstream: "acme", tier: "economy" }, "house-b": { upstream: "acme", upstream_model: "b-7b", tier: "standard" } }),
      { catalogue: fakeCatalogue(), at: AT },
    );
    expect(Object.keys(models)).toEqual(["small-1"]);
    expect(problems.map((p) => p.path)).toEqual([
      ["models", "house-a", "price"],
      ["models", "house-b", "price"],
    ]);
    expect(problems[1]!.message).toMatch(/model "house-b" has no price.*fake@1\.0\.0.*"b-7b".*upstream "acme"/);
  });

  it("warns when the provider was only guessed from the model's name", () => {
    const { warnings } = resolveModels(input({ "small-1": { upstream: "guess", tier: "economy" } }, { guess: { base_url: "http://10.0.0.5/v1" } }), { catalogue: fakeCatalogue(), at: AT });
    expect(warnings).toEqual([expect.stringMatching(/model "small-1".*guess.*acme\/small-1 by its name/)]);
  });

  it("sorts configured long-context rates by threshold", () => {
    const { models } = resolveModels(
      input({
        x: {
          upstream: "acme",
          tier: "economy",
          price: { input: 1, output: 1, long_context: [{ above_input_tokens: 500_000, input: 3, output: 3 }, { above_input_tokens: 100_000, input: 2, output: 2 }] },
        },
      }),
      { catalogue: fakeCatalogue(), at: AT },
    );
    expect(models.x?.price.long_context?.map((t) => t.above_input_tokens)).toEqual([100_000, 500_000]);
  });
});

describe("the configuration with the real catalogue (@pydantic/genai-prices)", () => {
  const upstreams = {
    openai: { base_url: "https://api.openai.com/v1" },
    anthropic: { base_url: "https://api.anthropic.com/v1" },
    local: { base_url: "http://127.0.0.1:9/v1" },
  };

  it("configSchema resolves prices as it parses, so every Config has concrete prices", () => {
    const config = configSchema.parse({
      upstreams,
      models: {
        "gpt-5-mini": { upstream: "openai", tier: "economy" },
        sonnet: { upstream: "anthropic", upstream_model: "claude-sonnet-4-5-20250929", tier: "standard" },
        house: { upstream: "local", tier: "premium", price: { input: 1, output: 2, batch_input: 0.5, batch_output: 1 } },
      },
    });
    expect(config.models["gpt-5-mini"]?.price_source).toMatch(/^catalogue:genai-prices@\d/);
    expect(config.models["gpt-5-mini"]?.price.input).toBeGreaterThan(0);
    expect(config.models.sonnet?.price.long_context?.length).toBeGreaterThan(0);
    expect(config.models.house).toMatchObject({ price: { input: 1, output: 2, batch_input: 0.5, batch_output: 1 }, price_source: "config" });
  });

  it("refuses a model it cannot price, naming it by path", () => {
    const text = stringify({ upstreams, models: { "house-model-x": { upstream: "local", tier: "economy" } } });
    let error: unknown;
    try {
      parseConfig(text, "test.yaml", {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^models\.house-model-x\.price: model "house-model-x" has no price/)]);
    expect(configSchema.safeParse({ upstreams, models: { "house-model-x": { upstream: "local", tier: "economy" } } }).success).toBe(false);
  });

  it("returns the differences for the start to log", () => {
    const text = stringify({ upstreams, models: { "gpt-5-mini": { upstream: "openai", tier: "economy", price: { input: 9, output: 9 } } } });
    const { config, pricing } = parseConfig(text, "test.yaml", {}, { at: AT });
    // The token rates configured win whole; the fee per web search the configuration left out is the catalogue's.
    expect(config.models["gpt-5-mini"]?.price).toEqual({ web_search: 0.01, input: 9, output: 9 });
    expect(pricing.differences.map((d) => [d.model, d.catalogueModel])).toEqual([["gpt-5-mini", "openai/gpt-5-mini"]]);
    expect(pricing.differences[0]!.detail).toMatch(/^input 9 \(catalogue [\d.]+\), cached_input not set \(catalogue [\d.]+\), output 9 \(catalogue [\d.]+\)$/);
  });
});
