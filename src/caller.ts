import type { Tier } from "./config/schema.js";

/**
 * Who is calling: a configured key with its limits, the admin key (on the pass-through), or
 * nobody in particular when the proxy runs open. Every step that needs the caller reads this
 * type; `server/auth.ts` produces it.
 */
export interface Caller {
  keyId: string | null;
  team: string | null;
  maxTier?: Tier;
  /** The endpoint classes the key may call (`keys[].endpoints`); undefined: all. */
  endpoints?: readonly string[];
  /** The models the key may name or be routed to (`keys[].models`); undefined: all. */
  models?: ReadonlySet<string>;
  /** The admin key on the pass-through, or the one tenant of an open proxy: reaches every stored object, spends nothing. */
  admin?: true;
  /** The end user the request is for, within its key (`user`, or `x-tollgate-user`). */
  endUser?: string;
  /** Labels of its spend (`x-tollgate-tags`). */
  tags?: readonly string[];
}
