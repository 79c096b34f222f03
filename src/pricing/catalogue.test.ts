import { calcPrice } from "@pydantic/genai-prices";
import { describe, expect, it } from "vitest";
import { genaiPrices, toPrice } from "./catalogue.js";
import { ratesFor } from "./rates.js";

// A fixed moment: prices that change on a date are read as of it.
const AT = new Date("2026-06-01T12:00:00Z");
const OPENAI = "https://api.openai.com/v1";
const ANTHROPIC = "https://api.anthropic.com/v1";
const LOOPBACK = "http://127.0.0.1:9/v1";

/** The package's own answer for a usage, in USD: the oracle a resolved price must agree with. */
function packagePrice(usage: Record<string, number>, model: string, providerId: string): number {
  const result = calcPrice(usage, model, { providerId, timestamp: AT });
  if (!result) throw new Error(`the package does not price ${providerId}/${model}`);
  return result.total_price;
}

describe("genaiPrices.lookup", () => {
  it("names itself with the package version", () => {
    expect(genaiPrices.id).toMatch(/^genai-prices@\d+\.\d+\.\d+/);
  });

  it("finds the provider by the upstream's base URL and prices as the package does", () => {
    const found = genaiPrices.lookup({ model: "gpt-5-mini", baseUrl: OPENAI, upstream: "primary", at: AT });
    expect(found).toMatchObject({ provider: "openai", model: "gpt-5-mini", providerFrom: "base_url" });
    const price = found!.price;
    expect(price.input).toBeCloseTo(packagePrice({ input_tokens: 1e6 }, "gpt-5-mini", "openai"), 12);
    expect(price.output).toBeCloseTo(packagePrice({ output_tokens: 1e6 }, "gpt-5-mini", "openai"), 12);
    expect(price.cached_input).toBeCloseTo(packagePrice({ input_tokens: 1e6, cache_read_tokens: 1e6 }, "gpt-5-mini", "openai"), 12);
    expect(price.cached_input!).toBeLessThan(price.input);
    expect(found!.context_window).toBeGreaterThan(0);
  });

  it("matches a dated snapshot id to its model", () => {
    const found = genaiPrices.lookup({ model: "claude-sonnet-4-5-20250929", baseUrl: ANTHROPIC, upstream: "claude", at: AT });
    expect(found).toMatchObject({ provider: "anthropic", model: "claude-sonnet-4-5", providerFrom: "base_url" });
  });

  it("takes the provider from the upstream's name when the URL names none (a gateway, a test server)", () => {
    expect(genaiPrices.lookup({ model: "gpt-5-mini", baseUrl: LOOPBACK, upstream: "openai", at: AT })).toMatchObject({ provider: "openai", providerFrom: "upstream name" });
  });

  it("guesses the provider from the model's name last, and says so", () => {
    expect(genaiPrices.lookup({ model: "gpt-5-mini", baseUrl: LOOPBACK, upstream: "gateway", at: AT })).toMatchObject({ provider: "openai", providerFrom: "model name" });
  });

  it("knows nothing of a model it does not list", () => {
    expect(genaiPrices.lookup({ model: "house-model-7b", baseUrl: LOOPBACK, upstream: "local", at: AT })).toBeUndefined();
    expect(genaiPrices.lookup({ model: "gpt-nonexistent-9", baseUrl: ANTHROPIC, upstream: "anthropic", at: AT })).toBeUndefined();
  });

  it("turns tiered prices into long-context rates that cost a request as the package does", () => {
    const found = genaiPrices.lookup({ model: "claude-sonnet-4-5", baseUrl: ANTHROPIC, upstream: "anthropic", at: AT })!;
    const tiers = found.price.long_context ?? [];
    expect(tiers.length).toBeGreaterThan(0);
    const threshold = tiers[0]!.above_input_tokens;
    for (const input of [threshold, threshold + 1, threshold + 50_000]) {
      const rates = ratesFor(found.price, input);
      const ours = (input * rates.input + 1000 * rates.output) / 1e6;
      expect(ours).toBeCloseTo(packagePrice({ input_tokens: input, output_tokens: 1000 }, "claude-sonnet-4-5", "anthropic"), 9);
    }
    expect(ratesFor(found.price, threshold + 1).input).toBeGreaterThan(ratesFor(found.price, threshold).input);
  });

  it("reads a price that changed on a date as of the moment given", () => {
    // o3's price was cut on 2025-06-10.
    const before = genaiPrices.lookup({ model: "o3", baseUrl: OPENAI, upstream: "openai", at: new Date("2025-05-01T00:00:00Z") })!;
    const after = genaiPrices.lookup({ model: "o3", baseUrl: OPENAI, upstream: "openai", at: new Date("2025-07-01T00:00:00Z") })!;
    expect(after.price.input).toBeLessThan(before.price.input);
    expect(after.price.input).toBeCloseTo(calcPrice({ input_tokens: 1e6 }, "o3", { providerId: "openai", timestamp: new Date("2025-07-01T00:00:00Z") })!.total_price, 12);
  });

  it("resolves peak and off-peak rates to the dearest, whatever the hour of the start", () => {
    const prices = [0, 6, 12, 18].map((hour) => genaiPrices.lookup({ model: "deepseek-chat", baseUrl: "https://api.deepseek.com/v1", upstream: "deepseek", at: new Date(Date.UTC(2026, 0, 10, hour)) })!.price);
    expect(new Set(prices.map((p) => p.input)).size).toBe(1);
    const dearest = Math.max(...[0, 6, 12, 18].map((hour) => calcPrice({ input_tokens: 1e6 }, "deepseek-chat", { providerId: "deepseek", timestamp: new Date(Date.UTC(2026, 0, 10, hour)) })!.total_price));
    expect(prices[0]!.input).toBeCloseTo(dearest, 12);
  });
});

describe("toPrice", () => {
  it("maps the catalogue's keys (cache writes included), and an embedding's missing output price to 0", () => {
    expect(toPrice({ input_mtok: 1, cache_read_mtok: 0.1, output_mtok: 5, cache_write_mtok: 1.25 })).toEqual({ input: 1, cached_input: 0.1, output: 5, cache_write: 1.25 });
    expect(toPrice({ input_mtok: 0.02 })).toEqual({ input: 0.02, output: 0 });
  });

  it("has no price without a text input rate (audio by the hour, images)", () => {
    expect(toPrice({ input_audio_hours: 0.36 })).toBeUndefined();
  });

  it("merges each key's tiers into one list of long-context rates, sorted by threshold", () => {
    const price = toPrice({
      input_mtok: { base: 2, tiers: [{ start: 500_000, price: 6 }, { start: 200_000, price: 4 }] } as never,
      output_mtok: { base: 10, tiers: [{ start: 200_000, price: 15 }] } as never,
    });
    expect(price).toEqual({
      input: 2,
      output: 10,
      long_context: [
        { above_input_tokens: 200_000, input: 4, output: 15 },
        { above_input_tokens: 500_000, input: 6, output: 15 },
      ],
    });
  });
});
