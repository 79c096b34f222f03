import { TIERS, type Config, type Tier } from "../config/schema.js";

/** Tier order for comparisons: economy < standard < premium (never compare the strings). */
export const TIER_RANK: Record<Tier, number> = { economy: 0, standard: 1, premium: 2 };

export function lowerTier(a: Tier, b: Tier): Tier {
  return TIER_RANK[a] <= TIER_RANK[b] ? a : b;
}

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

/** Each tier's models in order: the `tiers:` list, else the models declared with that tier. */
export function tierModels(config: Config): Record<Tier, string[]> {
  const out = {} as Record<Tier, string[]>;
  for (const tier of TIERS) {
    const listed = config.tiers[tier];
    out[tier] = listed && listed.length > 0
      ? [...listed]
      : Object.entries(config.models).filter(([, m]) => m.tier === tier && m.kind === "chat").map(([name]) => name);
  }
  return out;
}

/** Tiers from `tier` downward, most capable first. */
export function tiersAtOrBelow(tier: Tier): Tier[] {
  return TIERS.filter((t) => TIER_RANK[t] <= TIER_RANK[tier]).reverse();
}
