import type { Config } from "../config/schema.js";
import type { RequestBody } from "../endpoints/shape.js";
import type { HoldExtras } from "../pricing/estimate.js";
import type { RequestTokens } from "../tokens/request.js";

/**
 * What a request may be billed for besides its text tokens, read from its body for the hold: input
 * audio (counted with the prompt), an audio answer, web searches, the service tier. The settle
 * bills what the answer says it used instead (src/usage/account.ts).
 */

/** A Responses tool that searches the web (`web_search`, `web_search_preview` and their dated versions). */
const isWebSearchTool = (tool: unknown) => typeof (tool as { type?: unknown } | null)?.type === "string" && (tool as { type: string }).type.startsWith("web_search");

function hasWebSearchTool(body: RequestBody): boolean {
  return Array.isArray(body.tools) && body.tools.some(isWebSearchTool);
}

/**
 * The most web searches a request can make: a chat request with `web_search_options` searches
 * once (the search models do on every call); a Responses request with a web search tool up to its
 * `max_tool_calls`, never more than `budgets.web_search.max`.
 */
export function searchesHeld(body: RequestBody, settings: Config["budgets"]["web_search"]): number {
  if (body.web_search_options !== undefined && body.web_search_options !== null) return 1;
  if (!hasWebSearchTool(body)) return 0;
  const own = typeof body.max_tool_calls === "number" && body.max_tool_calls >= 0 ? body.max_tool_calls : Infinity;
  return Math.min(own, settings.max);
}

/** A Responses request with a web search tool goes upstream with the tool-call limit it was held for. */
export function withSearchLimit<B extends RequestBody>(body: B, settings: Config["budgets"]["web_search"]): B {
  if (!hasWebSearchTool(body) || (typeof body.max_tool_calls === "number" && body.max_tool_calls <= settings.max)) return body;
  return { ...body, max_tool_calls: settings.max };
}

export function holdExtras(body: RequestBody, tokens: RequestTokens, settings: Config["budgets"]["web_search"]): HoldExtras {
  const tier = body.service_tier;
  return {
    audioInput: tokens.audio,
    audioOutput: Array.isArray(body.modalities) && body.modalities.includes("audio"),
    webSearches: searchesHeld(body, settings),
    searchTokens: settings.input_tokens,
    ...(typeof tier === "string" ? { serviceTier: tier } : {}),
  };
}
