import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { limitsSchema } from "../config/sections.js";
import { tierSchema } from "../config/units.js";

/**
 * What the admin API stores of a key, a team and the global scope, and the bodies it accepts.
 * A key's secret is never stored: only its SHA-256, and the last four characters to tell keys apart.
 */

const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
/** Free-form labels of the owner's (a customer id, a ticket): bounded, as they are read on every load. */
const metadataSchema = z
  .record(z.string().max(64), z.union([z.string().max(512), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 32, "at most 32 entries");

const keyFields = {
  team: idSchema.nullable(),
  budgets: limitsSchema,
  max_tier: tierSchema.nullable(),
  models: z.array(z.string().min(1)).max(200).nullable(),
  endpoints: z.array(z.string().min(1)).max(50).nullable(),
  expires_at: z.iso.datetime({ offset: true }).nullable(),
  metadata: metadataSchema,
};

/** `POST /v1/admin/keys`: everything but the id is optional (an id is made when none is given). */
export const keyCreateSchema = z.strictObject({ id: idSchema, ...keyFields }).partial();
/** `PATCH /v1/admin/keys/{id}`: the fields given replace the stored ones; null clears one. */
export const keyPatchSchema = z.strictObject(keyFields).partial();
export const teamCreateSchema = z.strictObject({ id: idSchema, budgets: limitsSchema.optional(), metadata: metadataSchema.optional() });
export const teamPatchSchema = z.strictObject({ budgets: limitsSchema, metadata: metadataSchema }).partial();
export const globalPatchSchema = z.strictObject({ budgets: limitsSchema });
export const rotateSchema = z.strictObject({ grace_seconds: z.number().int().nonnegative().max(30 * 86_400).default(0) });

export type KeyPatch = z.infer<typeof keyPatchSchema>;

export interface StoredKey {
  id: string;
  team: string | null;
  budgets: z.infer<typeof limitsSchema>;
  max_tier: z.infer<typeof tierSchema> | null;
  models: string[] | null;
  endpoints: string[] | null;
  expires_at: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  secret_sha256: string;
  /** The last characters of the secret, to tell keys apart in a list. */
  secret_hint: string;
  /** The secret a rotation replaced, accepted until `until`. */
  previous?: { secret_sha256: string; until: string };
}

export interface StoredTeam {
  id: string;
  budgets: z.infer<typeof limitsSchema>;
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface StoredGlobal {
  budgets: z.infer<typeof limitsSchema>;
}

/** Entry ids in the store (budget/interface.ts EntryStore). */
export const keyEntry = (id: string) => `key:${id}`;
export const teamEntry = (id: string) => `team:${id}`;
export const GLOBAL_ENTRY = "global";

export function sha256Hex(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** A new secret: 192 random bits, with a prefix that secret scanners and people recognize. */
export function newSecret(): string {
  return `sk-tg-${randomBytes(24).toString("base64url")}`;
}

export function newKeyId(): string {
  return `key_${randomBytes(6).toString("hex")}`;
}
