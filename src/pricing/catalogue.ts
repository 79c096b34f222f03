import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { calcPrice, findProvider, type ModelInfo, type ModelPrice, type Provider, type TieredPrices } from "@pydantic/genai-prices";
import type { LongContextPrice, Price } from "../config/schema.js";

/**
 * A price catalogue: what a maintained table knows of a model (its prices per 1M tokens, its context
 * window), for the models a configuration does not price itself. Consulted once, when the
 * configuration is resolved (src/config/resolve.ts); the request path only reads the resolved prices.
 *
 *   const found = genaiPrices.lookup({ model: "gpt-5-mini", baseUrl: "https://api.openai.com/v1", upstream: "openai", at: new Date() });
 *   found?.price // { input: 0.25, cached_input: 0.025, output: 2 }
 */
export interface PriceCatalogue {
  /** Name and version, as shown in `price_source`: "genai-prices@0.1.8". */
  readonly id: string;
  lookup(query: CatalogueQuery): CatalogueMatch | undefined;
}

export interface CatalogueQuery {
  /** The model id the upstream is sent (`upstream_model`, else the configured name). */
  model: string;
  /** The upstream's base URL: its host names the provider (api.openai.com, api.anthropic.com, ...). */
  baseUrl: string;
  /** The upstream's name in the configuration: the provider when the URL names none (a gateway, a test server). */
  upstream: string;
  /** Prices that change on a date are read as of this moment. */
  at: Date;
}

export interface CatalogueMatch {
  /** The catalogue's provider and model ids: "anthropic", "claude-sonnet-4-5". */
  provider: string;
  model: string;
  /** How the provider was found; "model name" is a guess worth a warning. */
  providerFrom: "base_url" | "upstream name" | "model name";
  price: Price;
  context_window?: number;
  max_output_tokens?: number;
}

/** The package's own version, read from its package.json (which its exports map does not expose). */
function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(name));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version) return pkg.version;
    } catch {
      // Not this directory: look one up.
    }
  }
  return "unknown";
}

type Rate = number | TieredPrices | undefined;
type LongContextRates = Omit<LongContextPrice, "above_input_tokens">;

/** The rate of one price key for a request of `inputTokens`: a tier applies above its start, as the catalogue defines it. */
function rateAt(rate: Rate, inputTokens: number): number | undefined {
  if (rate === undefined || typeof rate === "number") return rate;
  // The highest tier the input is above, whatever order the data lists them in.
  let price = rate.base;
  let start = -1;
  for (const tier of rate.tiers) {
    if (inputTokens > tier.start && tier.start > start) {
      price = tier.price;
      start = tier.start;
    }
  }
  return price;
}

function tierStarts(rate: Rate): number[] {
  return rate !== undefined && typeof rate === "object" ? rate.tiers.map((t) => t.start) : [];
}

/**
 * The catalogue's entry for `at`: entries with a start date replace earlier ones once it passes.
 * Prices are resolved once, at start, so an entry for a time of day (peak and off-peak hours) cannot
 * follow the clock: the dearest of them is used, the one that never under-counts a budget.
 */
function pricesAt(model: ModelInfo, at: Date): ModelPrice {
  if (!Array.isArray(model.prices)) return model.prices;
  let dated = model.prices[0]?.prices ?? {};
  const hourly: ModelPrice[] = [];
  for (const entry of model.prices) {
    const constraint = entry.constraint;
    if (constraint === undefined) dated = entry.prices;
    else if (constraint.type === "start_date") {
      if (at >= new Date(constraint.start_date)) dated = entry.prices;
    } else hourly.push(entry.prices);
  }
  const weight = (p: ModelPrice) => (rateAt(p.input_mtok, 0) ?? 0) + (rateAt(p.output_mtok, 0) ?? 0);
  return hourly.reduce((dearest, p) => (weight(p) > weight(dearest) ? p : dearest), dated);
}

/** Token prices in tollgate's shape; undefined when the entry has no text input price (audio, images). */
export function toPrice(prices: ModelPrice): Price | undefined {
  const input = prices.input_mtok;
  if (input === undefined) return undefined;
  const cached = prices.cache_read_mtok;
  const writes = prices.cache_write_mtok;
  const writes1h = prices.cache_write_1h_mtok;
  // Embedding models have no output price: their output is free.
  const output = prices.output_mtok ?? 0;
  const base = (tokens: number): LongContextRates => {
    const optional: Array<[keyof LongContextRates, Rate]> = [["cached_input", cached], ["cache_write", writes], ["cache_write_1h", writes1h]];
    const rates: LongContextRates = { input: rateAt(input, tokens)!, output: rateAt(output, tokens)! };
    for (const [field, rate] of optional) {
      const value = rateAt(rate, tokens);
      if (value !== undefined) rates[field] = value;
    }
    return rates;
  };
  const starts = [...new Set([input, cached, writes, writes1h, output].flatMap(tierStarts))].sort((a, b) => a - b);
  const longContext: LongContextPrice[] = starts.map((start) => ({ above_input_tokens: start, ...base(start + 1) }));
  return { ...base(0), ...(longContext.length > 0 ? { long_context: longContext } : {}), ...extraPrices(prices) };
}

/** The catalogue's keys for what is billed besides text tokens, and tollgate's name for each (fees per 1,000 become per one). */
const EXTRAS: Array<[from: string, to: keyof Price, per: number]> = [
  ["input_audio_mtok", "input_audio", 1],
  ["output_audio_mtok", "output_audio", 1],
  ["cache_audio_read_mtok", "cached_audio", 1],
  ["requests_kcount", "per_request", 1000],
  ["web_searches_kcount", "web_search", 1000],
];

/** Audio token prices and fees per call or per search, as the catalogue has them. */
export function extraPrices(prices: ModelPrice): Partial<Price> {
  const out: Partial<Record<keyof Price, number>> = {};
  for (const [from, to, per] of EXTRAS) {
    const rate = rateAt(prices[from], 0);
    if (rate !== undefined) out[to] = rate / per;
  }
  return out as Partial<Price>;
}

const NO_USAGE = { input_tokens: 0, output_tokens: 0 };

/** The provider an upstream is: by its URL, else by its name, else by the model id's pattern. */
function providerFor(query: CatalogueQuery): { provider: Provider; from: CatalogueMatch["providerFrom"] } | undefined {
  const byUrl = findProvider({ providerApiUrl: query.baseUrl });
  if (byUrl) return { provider: byUrl, from: "base_url" };
  const byName = findProvider({ providerId: query.upstream });
  if (byName) return { provider: byName, from: "upstream name" };
  const byModel = findProvider({ modelId: query.model });
  if (byModel) return { provider: byModel, from: "model name" };
  return undefined;
}

/**
 * @pydantic/genai-prices (MIT): its bundled data only. Its remote refresh (`updatePrices`) is never
 * installed, so a lookup never leaves the process. Model matching is the package's own (`calcPrice`:
 * aliases, dated snapshots such as claude-sonnet-4-5-20250929, the provider's fallbacks).
 */
export const genaiPrices: PriceCatalogue = {
  id: `genai-prices@${packageVersion("@pydantic/genai-prices")}`,
  lookup(query) {
    const found = providerFor(query);
    if (!found) return undefined;
    let model: ModelInfo | undefined;
    let provider = found.provider;
    try {
      const result = calcPrice(NO_USAGE, query.model, { provider: found.provider, timestamp: query.at });
      model = result?.model;
      if (result) provider = result.provider;
    } catch {
      // An entry the package cannot price with plain token usage: treated as unknown.
      return undefined;
    }
    if (!model) return undefined;
    const price = toPrice(pricesAt(model, query.at));
    if (!price) return undefined;
    return {
      provider: provider.id,
      model: model.id,
      providerFrom: found.from,
      price,
      ...(model.context_window !== undefined ? { context_window: model.context_window } : {}),
    };
  },
};
