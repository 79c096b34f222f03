import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config/schema.js";
import { affordableOutput, requestCost } from "./estimate.js";
import { testConfig } from "../../test/support/proxy.js";
import { usageCost } from "./cost.js";
import { ratesFor } from "./rates.js";

const base = testConfig("http://upstream.test/v1").models["gpt-4o"]!;
/** Sonnet-like rates: 3 / 0.3 / 15, and 6 / 0.6 / 22.5 above 200,000 input tokens. */
const long: ModelConfig = {
  ...base,
  context_window: 1_000_000,
  price: { input: 3, cached_input: 0.3, output: 15, long_context: [{ above_input_tokens: 200_000, input: 6, cached_input: 0.6, output: 22.5 }] },
};

describe("ratesFor", () => {
  it("is the base price without long-context rates", () => {
    expect(ratesFor(base.price, 5_000_000)).toBe(base.price);
  });

  it("moves the whole request to the long-context rates once the input is above the threshold", () => {
    expect(ratesFor(long.price, 200_000)).toMatchObject({ input: 3, output: 15 });
    expect(ratesFor(long.price, 200_001)).toMatchObject({ input: 6, cached_input: 0.6, output: 22.5 });
  });

  it("takes the highest threshold passed", () => {
    const price = { input: 1, output: 1, long_context: [{ above_input_tokens: 100, input: 2, output: 2 }, { above_input_tokens: 1000, input: 3, output: 3 }] };
    expect([50, 101, 1000, 1001].map((n) => ratesFor(price, n).input)).toEqual([1, 2, 2, 3]);
  });
});

describe("costs at long-context rates", () => {
  it("usageCost prices every token of a long prompt at the higher rates, cached ones included", () => {
    // (250,000 − 50,000) × 6 + 50,000 × 0.6 + 1,000 × 22.5, per 1M tokens, in nano-USD.
    expect(usageCost(long, { promptTokens: 250_000, cachedTokens: 50_000, completionTokens: 1000 })).toBe(1_200_000_000 + 30_000_000 + 22_500_000);
    expect(usageCost(long, { promptTokens: 200_000, cachedTokens: 0, completionTokens: 1000 })).toBe(600_000_000 + 15_000_000);
  });

  it("the estimate, the hold and the affordable output use the rates of the request's input", () => {
    expect(requestCost(long, 300_000, 100, 1)).toBe(1_800_000_000 + 2_250_000);
    expect(requestCost(long, 300_000, 100, 2)).toBe(1_800_000_000 + 4_500_000);
    // $2 leaves $0.20 after a 300,000-token input at $6/1M: 8,888 tokens at $22.5/1M.
    expect(affordableOutput(long, 300_000, 1, 2_000_000_000)).toBe(8888);
    expect(affordableOutput(long, 100_000, 1, 2_000_000_000)).toBe(113_333);
  });
});
