import { createHash } from "node:crypto";

/** Fields that do not change what the model answers, left out of the cache key. */
const NOT_IN_KEY = new Set(["model", "stream", "stream_options", "user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"]);

/** JSON with object keys sorted, so equal requests serialise equally. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

/**
 * The exact-match key of a request: who may share the answer (`cache.scope`), the routed model,
 * the messages and every parameter that can change the answer (everything but the fields above).
 * Another tenant's answers are never served, and a hit or a miss says nothing about what another
 * tenant asked.
 */
export function cacheKey(scope: string, routedModel: string, body: Record<string, unknown>): string {
  const material: Record<string, unknown> = { scope, model: routedModel };
  for (const [field, value] of Object.entries(body)) if (!NOT_IN_KEY.has(field)) material[field] = value;
  return createHash("sha256").update(canonical(material)).digest("base64url");
}

/** The sharing scope of a caller's cached answers under `cache.scope`. */
/** Who shares cached answers (`cache.scope`). */
export type CacheScope = "key" | "team" | "global";

export function cacheScope(setting: CacheScope, caller: { keyId: string | null; team: string | null }): string {
  if (setting === "global") return "global";
  if (setting === "team") return caller.team === null ? `key:${caller.keyId ?? ""}` : `team:${caller.team}`;
  return `key:${caller.keyId ?? ""}`;
}
