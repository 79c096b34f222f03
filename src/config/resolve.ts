import { genaiPrices, type CatalogueMatch, type PriceCatalogue } from "../pricing/catalogue.js";
import { configInputSchema, type Config, type ConfigInput, type ModelConfig, type Price } from "./schema.js";

/** The context window assumed for a model that neither the configuration nor the catalogue sizes. */
export const DEFAULT_CONTEXT_WINDOW = 128_000;

/** A model whose configured price is not the catalogue's: the configured one is used, and the start logs it. */
export interface PriceDifference {
  model: string;
  /** "anthropic/claude-sonnet-4-5" */
  catalogueModel: string;
  configured: Price;
  catalogue: Price;
  /** "input 2.5 (catalogue 3), no long-context rates (catalogue: above 200000 input tokens)" */
  detail: string;
}

export interface ResolvedModels {
  models: Record<string, ModelConfig>;
  differences: PriceDifference[];
  /** Which catalogue entry each model was looked up as: "openai/gpt-5-mini". */
  matches: Record<string, string>;
  /** Worth a warning at start: a provider guessed from the model's name. */
  warnings: string[];
  /** Models priced by neither the configuration nor the catalogue. */
  problems: Array<{ path: (string | number)[]; message: string }>;
}

export interface ResolveOptions {
  catalogue?: PriceCatalogue;
  /** When prices that change on a date are read; now by default. */
  at?: Date;
}

const RATE_FIELDS = ["input", "cached_input", "output"] as const;

/** Prices of what is billed besides text tokens: filled in from the catalogue when the configuration leaves them out. */
const EXTRA_FIELDS = ["input_audio", "output_audio", "cached_audio", "per_request", "web_search"] as const;

function extrasOf(price: Price | undefined): Partial<Price> {
  const out: Partial<Price> = {};
  for (const field of EXTRA_FIELDS) if (price?.[field] !== undefined) out[field] = price[field];
  return out;
}

function describeDifference(configured: Price, catalogue: Price): string | undefined {
  const parts: string[] = [];
  for (const field of RATE_FIELDS) {
    const mine = configured[field];
    const theirs = catalogue[field];
    if (mine === theirs) continue;
    parts.push(`${field} ${mine ?? "not set"} (catalogue ${theirs ?? "not set"})`);
  }
  const tiers = catalogue.long_context ?? [];
  if (tiers.length > 0 && (configured.long_context ?? []).length === 0) {
    parts.push(`no long-context rates (catalogue: above ${tiers.map((t) => t.above_input_tokens).join(", ")} input tokens)`);
  }
  return parts.length > 0 ? parts.join(", ") : undefined;
}

function sortedLongContext(price: Price): Price {
  if (!price.long_context) return price;
  return { ...price, long_context: [...price.long_context].sort((a, b) => a.above_input_tokens - b.above_input_tokens) };
}

/**
 * Gives every model concrete prices, a context window and (when known) an output limit: the
 * configuration's own fields first, then the catalogue's entry for the model's upstream id on the
 * upstream's provider. A price in the configuration always wins, whole for its token rates: the
 * catalogue neither fills their gaps nor adds long-context rates; it only adds the prices of what
 * the configuration does not price at all (audio tokens, fees per call and per web search).
 */
export function resolveModels(input: Pick<ConfigInput, "models" | "upstreams">, options: ResolveOptions = {}): ResolvedModels {
  const catalogue = options.catalogue ?? genaiPrices;
  const at = options.at ?? new Date();
  const resolved: ResolvedModels = { models: {}, differences: [], matches: {}, warnings: [], problems: [] };
  for (const [name, model] of Object.entries(input.models)) {
    const upstream = input.upstreams[model.upstream];
    const id = model.upstream_model ?? name;
    let found: CatalogueMatch | undefined;
    if (upstream) found = catalogue.lookup({ model: id, baseUrl: upstream.base_url, upstream: model.upstream, at });
    if (found) resolved.matches[name] = `${found.provider}/${found.model}`;

    let price: Price;
    let source: string;
    if (model.price) {
      // The token rates configured win whole; what the configuration does not price at all
      // (audio, fees per call or search) comes from the catalogue, so it is not billed as free.
      price = { ...extrasOf(found?.price), ...sortedLongContext(model.price) };
      source = "config";
      const detail = found && describeDifference(price, found.price);
      if (found && detail) resolved.differences.push({ model: name, catalogueModel: `${found.provider}/${found.model}`, configured: price, catalogue: found.price, detail });
    } else if (found) {
      price = found.price;
      source = `catalogue:${catalogue.id}`;
      if (found.providerFrom === "model name") {
        resolved.warnings.push(
          `model "${name}": upstream "${model.upstream}" (${upstream?.base_url}) is no provider the catalogue knows; priced as ${found.provider}/${found.model} by its name. Give it a price if that is wrong.`,
        );
      }
    } else {
      if (upstream) {
        resolved.problems.push({
          path: ["models", name, "price"],
          message: `model "${name}" has no price, and the catalogue (${catalogue.id}) does not know "${id}" on upstream "${model.upstream}" (${upstream.base_url}): give it price: { input, output } in USD per 1M tokens`,
        });
      }
      continue;
    }

    const { price: _price, context_window, max_output_tokens, ...rest } = model;
    const maxOutput = max_output_tokens ?? found?.max_output_tokens;
    resolved.models[name] = {
      ...rest,
      price,
      price_source: source,
      context_window: context_window ?? found?.context_window ?? DEFAULT_CONTEXT_WINDOW,
      ...(maxOutput !== undefined ? { max_output_tokens: maxOutput } : {}),
    };
  }
  return resolved;
}

/**
 * The configuration as the proxy uses it: every model's price, context window and output limit
 * resolved once, here, from its own fields or the price catalogue (src/config/resolve.ts), so the
 * request path never consults the catalogue. A model priced by neither is an error naming it.
 */
export const configSchema = configInputSchema.transform((input, ctx): Config => {
  const resolved = resolveModels(input);
  for (const problem of resolved.problems) ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
  return { ...input, models: resolved.models };
});

