import type { Price } from "../config/schema.js";

/** The rates one request pays, USD per 1M tokens. */
export interface Rates {
  input: number;
  cached_input?: number;
  cache_write?: number;
  cache_write_1h?: number;
  output: number;
}

/**
 * The rates for a request of `inputTokens` (cached ones included): the model's base rates, or its
 * long-context rates once the input is above their threshold. As the providers bill it, the whole
 * request moves to the higher rates, not only the tokens past the threshold. `long_context` is
 * sorted by threshold when the configuration is resolved.
 *
 *   ratesFor(sonnet.price, 250_000) // { above_input_tokens: 200000, input: 6, cached_input: 0.6, output: 22.5 }
 */
export function ratesFor(price: Price, inputTokens: number): Rates {
  const tiers = price.long_context;
  if (tiers === undefined) return price;
  let rates: Rates = price;
  for (const tier of tiers) if (inputTokens > tier.above_input_tokens) rates = tier;
  return rates;
}
