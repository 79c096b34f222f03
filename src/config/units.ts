import { z } from "zod";

/** Value types the configuration's sections share. */

export const TIERS = ["economy", "standard", "premium"] as const;
export const tierSchema = z.enum(TIERS);
export type Tier = z.infer<typeof tierSchema>;

export const usd = z.number().nonnegative();
export const positiveInt = z.number().int().positive();
