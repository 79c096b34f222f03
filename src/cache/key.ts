import { createHash } from "node:crypto";
import type { ChatBody } from "../request/parse.js";

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
 * The exact-match key of a request: the routed model, the messages and every parameter that can
 * change the answer (everything but the fields above).
 */
export function cacheKey(routedModel: string, body: ChatBody): string {
  const material: Record<string, unknown> = { model: routedModel };
  for (const [field, value] of Object.entries(body)) if (!NOT_IN_KEY.has(field)) material[field] = value;
  return createHash("sha256").update(canonical(material)).digest("base64url");
}
