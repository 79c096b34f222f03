import type { ModelConfig, Price, Tier } from "../config/schema.js";
import { TIERS } from "../config/schema.js";

/**
 * Model names the configuration does not know: an SDK's default (`gpt-4.1` of the Agents SDK,
 * `gpt-3.5-turbo` of LangChain) is routed like an auto alias rather than refused, so only the base
 * URL changes. The answer says so in `x-tollgate-route: unknown-model:<name>`.
 */

/** The route label of an unknown name: printable ASCII and short, since it travels in a header. */
export function unknownModelRoute(name: string): string {
  return `unknown-model:${name.replace(/[^\x21-\x7e]/g, "?").slice(0, 64)}`;
}

/** One number to compare prices by: the input and output rates per 1M tokens, added. */
const blended = (price: Price) => price.input + price.output;

/**
 * The ceiling an unknown name sets when the catalogue prices it, as a configured name's tier does:
 * the most capable tier whose default model costs no more than the named one (economy when even
 * that one costs more), so a client naming a cheap model is never routed to a dearer one.
 */
export function priceCeiling(price: Price, tierModels: Record<Tier, string[]>, models: Record<string, ModelConfig>): Tier {
  let ceiling: Tier = "economy";
  for (const tier of TIERS) {
    const first = tierModels[tier][0];
    if (first !== undefined && blended(models[first]!.price) <= blended(price)) ceiling = tier;
  }
  return ceiling;
}
