import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config/schema.js";
import { formatUsd, headerUsd, nanoToUsd, tokensCost, usdToNano } from "../money.js";
import { testConfig } from "../../test/support/proxy.js";
import { inputCost, readUsage, unitsCost, usageCost } from "./cost.js";
import { batchRequestCost, expectedOutput, requestCost, worstCaseOutput } from "./estimate.js";

const models = testConfig("http://upstream.test/v1").models;
const mini = models["gpt-4o-mini"]!; // input 0.15, cached 0.075, output 0.60, max_output_tokens 16384
const turbo = models["gpt-4-turbo"]!; // input 10, no cached price, output 30
const gpt4o = models["gpt-4o"]!; // no max_output_tokens

describe("usageCost", () => {
  it("prices uncached input, cached input and output separately", () => {
    // 600 × 0.15 + 400 × 0.075 + 200 × 0.60 USD per 1M tokens = 90,000 + 30,000 + 120,000 nano-USD.
    expect(usageCost(mini, { promptTokens: 1000, cachedTokens: 400, completionTokens: 200 })).toBe(240_000);
  });

  it("prices cached tokens at the input price when the model has no cached price", () => {
    const cached = usageCost(turbo, { promptTokens: 1000, cachedTokens: 400, completionTokens: 100 });
    expect(cached).toBe(10_000_000 + 3_000_000);
    expect(cached).toBe(usageCost(turbo, { promptTokens: 1000, cachedTokens: 0, completionTokens: 100 }));
  });

  it("never counts more cached tokens than prompt tokens", () => {
    expect(usageCost(mini, { promptTokens: 100, cachedTokens: 500, completionTokens: 0 })).toBe(7_500);
  });

  it("is zero for zero tokens and an integer for odd prices", () => {
    expect(usageCost(mini, { promptTokens: 0, cachedTokens: 0, completionTokens: 0 })).toBe(0);
    const odd: ModelConfig = { ...mini, price: { input: 0.0137, cached_input: 0.00333, output: 1.0001 } };
    for (const [p, c, o] of [[1, 0, 1], [7, 3, 11], [123_457, 9_999, 31]] as const) {
      expect(Number.isInteger(usageCost(odd, { promptTokens: p, cachedTokens: c, completionTokens: o }))).toBe(true);
    }
  });
});

describe("expectedOutput", () => {
  it("uses the client's limit when given", () => {
    expect(expectedOutput(100_000, 1000, 300, "half_input")).toBe(300);
    expect(expectedOutput(100_000, 1000, 300, 50)).toBe(300);
  });

  it("falls back to half the input, rounded up, or a configured number of tokens", () => {
    expect(expectedOutput(100_000, 1001, undefined, "half_input")).toBe(501);
    expect(expectedOutput(100_000, 0, undefined, "half_input")).toBe(0);
    expect(expectedOutput(100_000, 100_000, undefined, 256)).toBe(256);
  });

  it("is never above the worst case (the model's output ceiling)", () => {
    expect(expectedOutput(worstCaseOutput(mini, 10, 100_000), 10, 100_000, "half_input")).toBe(16384);
    expect(expectedOutput(worstCaseOutput(mini, 100_000, undefined), 100_000, undefined, 20_000)).toBe(16384);
    expect(expectedOutput(worstCaseOutput(gpt4o, 10, 100_000), 10, 100_000, "half_input")).toBe(100_000);
  });
});

describe("requestCost", () => {
  it("prices input once and output once per choice", () => {
    expect(requestCost(mini, 1000, 500, 1)).toBe(150_000 + 300_000);
    expect(requestCost(mini, 1000, 500, 3)).toBe(150_000 + 900_000);
  });

  it("ignores the cached price: an estimate cannot know what will be cached", () => {
    expect(requestCost(gpt4o, 1_000_000, 0, 1)).toBe(usdToNano(2.5));
  });

  it("prices a batch at the model's batch prices, else half", () => {
    expect(batchRequestCost(mini, 1000, 500, 1)).toBe(75_000 + 150_000);
    expect(batchRequestCost({ price: { input: 1, output: 2, batch_input: 0.1, batch_output: 0.2 } }, 1000, 1000, 2)).toBe(100_000 + 400_000);
  });
});

describe("unit and saved-input costs", () => {
  it("prices units only where the price has a rate for them", () => {
    expect(unitsCost({ input: 0, output: 0, per_image: 0.04 }, "per_image", 3)).toBe(120_000_000);
    expect(unitsCost({ input: 0, output: 0 }, "per_image", 3)).toBeUndefined();
  });

  it("prices saved input at the rates of the prompt's size", () => {
    const long = { price: { input: 1, output: 2, long_context: [{ above_input_tokens: 1000, input: 3, output: 4 }] } };
    expect(inputCost(long, 100, 500)).toBe(100_000);
    expect(inputCost(long, 100, 5000)).toBe(300_000);
  });
});


describe("readUsage", () => {
  it("reads OpenAI usage with and without cached-token details", () => {
    expect(readUsage({ prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, prompt_tokens_details: { cached_tokens: 4 } })).toEqual({
      promptTokens: 12,
      cachedTokens: 4,
      completionTokens: 5,
    });
    expect(readUsage({ prompt_tokens: 12, completion_tokens: 5 })).toEqual({ promptTokens: 12, cachedTokens: 0, completionTokens: 5 });
    expect(readUsage({ prompt_tokens: 12, completion_tokens: 5, prompt_tokens_details: null })?.cachedTokens).toBe(0);
    expect(readUsage({ prompt_tokens: 12, completion_tokens: 5, prompt_tokens_details: { cached_tokens: "4" } })?.cachedTokens).toBe(0);
  });

  it("gives undefined for missing or malformed usage", () => {
    for (const raw of [undefined, null, 42, "usage", [], {}, { prompt_tokens: 1 }, { completion_tokens: 1 }, { prompt_tokens: "1", completion_tokens: 2 }]) {
      expect(readUsage(raw)).toBeUndefined();
    }
  });
});

describe("money", () => {
  it("prices tokens in whole nano-USD: USD per 1M tokens × 1000 per token", () => {
    expect(tokensCost(1, 0.15)).toBe(150);
    expect(tokensCost(1_000_000, 2.5)).toBe(2_500_000_000);
    expect(tokensCost(3, 0.0001)).toBe(0);
    expect(tokensCost(7, 0.075)).toBe(525);
    for (const [tokens, price] of [[1, 0.1], [3, 0.3], [999_999, 0.075], [13, 1.1]] as const) {
      expect(Number.isInteger(tokensCost(tokens, price))).toBe(true);
    }
  });

  it("sums without float drift", () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(usdToNano(0.1) + usdToNano(0.2)).toBe(usdToNano(0.3));
    let total = 0;
    for (let i = 0; i < 10_000; i++) total += tokensCost(1, 0.1);
    expect(total).toBe(usdToNano(0.001));
    expect(nanoToUsd(usdToNano(20))).toBe(20);
  });

  it("formats USD for people and for headers", () => {
    expect(formatUsd(usdToNano(20))).toBe("$20.00");
    expect(formatUsd(0)).toBe("$0.00");
    expect(headerUsd(1_050_000)).toBe("0.00105");
    expect(headerUsd(usdToNano(2))).toBe("2");
    expect(headerUsd(0)).toBe("0");
    expect(headerUsd(1)).toBe("0.000000001");
    expect(headerUsd(-2_500_000_000)).toBe("-2.5");
    expect(headerUsd(1_000_000_010)).toBe("1.00000001");
    // Every digit of the integer, as the decimal text of nano / 1e9 (exact below $1,000 in a double):
    // seeded amounts of every size, and their negatives.
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let i = 0; i < 2000; i++) {
      const nano = Math.floor((next() / 2147483647) * 10 ** (next() % 13));
      for (const n of [nano, -nano]) expect(headerUsd(n)).toBe((n / 1e9).toFixed(9).replace(/0+$/, "").replace(/\.$/, ""));
    }
  });
});
