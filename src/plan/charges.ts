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

/** Anthropic's server-side web search tool (`web_search_20250305`): limited by its own `max_uses`. */
const isAnthropicSearchTool = (tool: unknown) => /^web_search_\d{8}$/.test(String((tool as { type?: unknown } | null)?.type));

function anthropicSearchTools(body: RequestBody): Array<Record<string, unknown>> {
  return Array.isArray(body.tools) ? (body.tools as Array<Record<string, unknown>>).filter(isAnthropicSearchTool) : [];
}

/**
 * The most web searches a request can make: a chat request with `web_search_options` searches
 * once (the search models do on every call); a Responses request with a web search tool up to its
 * `max_tool_calls`, never more than `budgets.web_search.max`.
 */
export function searchesHeld(body: RequestBody, settings: Config["budgets"]["web_search"]): number {
  if (body.web_search_options !== undefined && body.web_search_options !== null) return 1;
  if (!hasWebSearchTool(body)) return 0;
  const anthropic = anthropicSearchTools(body);
  if (anthropic.length > 0) return anthropic.reduce((n, tool) => n + Math.min(typeof tool.max_uses === "number" ? tool.max_uses : Infinity, settings.max), 0);
  const own = typeof body.max_tool_calls === "number" && body.max_tool_calls >= 0 ? body.max_tool_calls : Infinity;
  return Math.min(own, settings.max);
}

/** A request with a web search tool goes upstream with the limit it was held for: a Responses tool-call limit, an Anthropic tool's `max_uses`. */
export function withSearchLimit<B extends RequestBody>(body: B, settings: Config["budgets"]["web_search"]): B {
  if (anthropicSearchTools(body).length > 0) {
    const limited = (tool: Record<string, unknown>) => (isAnthropicSearchTool(tool) && !(typeof tool.max_uses === "number" && tool.max_uses <= settings.max) ? { ...tool, max_uses: settings.max } : tool);
    return { ...body, tools: (body.tools as Array<Record<string, unknown>>).map(limited) };
  }
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
    ...cacheWriteOf(body),
  };
}

/**
 * Whether an Anthropic prompt asks for cache writes (`cache_control` on the request, its system
 * prompt, messages or tools), and the longest lifetime asked: the hold prices the prompt at it.
 */
function cacheWriteOf(body: RequestBody): Pick<HoldExtras, "cacheWrite"> {
  let found: "5m" | "1h" | undefined;
  const see = (block: unknown) => {
    const control = (block as { cache_control?: { ttl?: unknown } | null } | null)?.cache_control;
    if (control == null || typeof control !== "object") return;
    if (control.ttl === "1h") found = "1h";
    else found ??= "5m";
  };
  const blocks = (value: unknown) => (Array.isArray(value) ? value.forEach(see) : undefined);
  see(body);
  blocks(body.system);
  blocks(body.tools);
  if (Array.isArray(body.messages)) for (const message of body.messages as Array<{ content?: unknown }>) blocks(message?.content);
  return found ? { cacheWrite: found } : {};
}
