import type { Config, Price } from "../config/schema.js";
import { genaiPrices } from "../pricing/catalogue.js";
import { usdToNano, type Nano } from "../money.js";
import { readUsage, unitsCost as priceUnits, usageCost, type TokenUsage, type UnitKind } from "../pricing/cost.js";

/**
 * What a metered call costs. Before the call: its class's hold, or more when the request says how
 * many units it buys at a known unit price (ten images hold ten images). After: the answer's token
 * usage at the model's prices when it carries one (image and transcription models do), else the
 * units at their unit price, else the hold itself (`usage_source: "held"`).
 */

export type { UnitKind } from "../pricing/cost.js";

export interface Units {
  kind: UnitKind;
  /** Images, seconds, or thousands of characters. */
  count: number;
}

/** The request fields a metered call is priced by. */
export interface MeteredRequest {
  model: string | undefined;
  units: Units | undefined;
}

/** Reads a metered request's model and units, from its JSON body or its multipart text fields. */
export function readMeteredRequest(endpoint: string, path: string, field: (name: string) => string | undefined): MeteredRequest {
  const model = field("model");
  let units: Units | undefined;
  if (endpoint === "images") {
    const n = Number(field("n") ?? 1);
    units = { kind: "per_image", count: Number.isInteger(n) && n > 0 ? n : 1 };
  } else if (path === "/audio/speech") {
    const input = field("input");
    if (input !== undefined) units = { kind: "per_1k_characters", count: input.length / 1000 };
  } else if (endpoint === "videos") {
    const seconds = Number(field("seconds") ?? NaN);
    if (Number.isFinite(seconds) && seconds > 0) units = { kind: "per_video_second", count: seconds };
  }
  return { model, units };
}

function unitsCost(price: Price | undefined, units: Units | undefined): Nano | undefined {
  return units && priceUnits(price, units.kind, units.count);
}

/** What a metered call holds: its class's hold, or its units' price when that is more. */
export function meteredHold(holdUsd: number, price: Price | undefined, request: MeteredRequest): Nano {
  return Math.max(usdToNano(holdUsd), unitsCost(price, request.units) ?? 0);
}

export interface MeteredAnswer {
  /** Token usage the answer reports. */
  usage: TokenUsage | undefined;
  /** Seconds of audio the answer reports (`usage: {type: "duration", seconds}`). */
  audioSeconds: number | undefined;
}

export interface MeteredCost {
  cost: Nano;
  /** `upstream`: the answer's usage or duration; `estimated`: the request's units; `held`: nothing said, the hold. */
  source: "upstream" | "estimated" | "held";
  usage: TokenUsage | undefined;
}

export function meteredCost(price: Price | undefined, request: MeteredRequest, answer: MeteredAnswer, held: Nano): MeteredCost {
  if (answer.usage && price) return { cost: usageCost({ price }, answer.usage), source: "upstream", usage: answer.usage };
  const byDuration = answer.audioSeconds === undefined ? undefined : unitsCost(price, { kind: "per_audio_second", count: answer.audioSeconds });
  if (byDuration !== undefined) return { cost: byDuration, source: "upstream", usage: answer.usage };
  const byUnits = unitsCost(price, request.units);
  if (byUnits !== undefined) return { cost: byUnits, source: "estimated", usage: answer.usage };
  return { cost: held, source: "held", usage: answer.usage };
}

/** Reads a metered answer's `usage` object: token counts, or a duration. */
export function readMeteredUsage(raw: unknown): MeteredAnswer {
  const seconds = (raw as { type?: unknown; seconds?: unknown } | null)?.type === "duration" ? (raw as { seconds?: unknown }).seconds : undefined;
  return { usage: readUsage(raw), audioSeconds: typeof seconds === "number" && seconds >= 0 ? seconds : undefined };
}

/** Catalogue prices of models named by metered calls but not configured; bounded, since clients name them. */
const cataloguePrices = new Map<string, Price | undefined>();
const CATALOGUE_MEMO = 256;

/** A metered call's model price: the configured model's, else the catalogue's for the upstream it goes to. */
export function meteredPrice(config: Config, model: string | undefined, upstream: string, at: number): Price | undefined {
  if (model === undefined) return undefined;
  if (Object.hasOwn(config.models, model)) return config.models[model]!.price;
  const memo = `${upstream}\u0000${model}`;
  if (cataloguePrices.has(memo)) return cataloguePrices.get(memo);
  const baseUrl = config.upstreams[upstream]?.base_url ?? "";
  const price = genaiPrices.lookup({ model, baseUrl, upstream, at: new Date(at) })?.price;
  if (cataloguePrices.size >= CATALOGUE_MEMO) cataloguePrices.delete(cataloguePrices.keys().next().value!);
  cataloguePrices.set(memo, price);
  return price;
}

/** The catalogue's price of a name no model configures, on the first upstream whose provider knows it. */
export function cataloguePrice(config: Config, model: string, at: number): Price | undefined {
  for (const upstream of Object.keys(config.upstreams)) {
    const price = meteredPrice(config, model, upstream, at);
    if (price) return price;
  }
  return undefined;
}
