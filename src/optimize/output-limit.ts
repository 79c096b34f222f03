import type { ChatBody } from "../request/parse.js";

export interface OutputLimit {
  body: ChatBody;
  /** The limit set by the proxy for this request type, when it set one. */
  applied?: number;
}

/**
 * Caps output per request type (SPEC 8): sets `max_tokens` when the client set no limit of its
 * own. A client's own limit is never raised, nor replaced. Parameter adaptation later renames
 * it for reasoning models.
 */
export function applyOutputLimit(body: ChatBody, requestType: string, limits: Record<string, number>): OutputLimit {
  // Own keys only: the request type "constructor" would otherwise find Object's constructor.
  const limit = Object.hasOwn(limits, requestType) ? limits[requestType] : undefined;
  if (limit === undefined || body.max_tokens != null || body.max_completion_tokens != null) return { body };
  return { body: { ...body, max_tokens: limit }, applied: limit };
}
