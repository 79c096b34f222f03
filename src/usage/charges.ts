/**
 * What an answer says it was billed for besides its usage: the service tier it was served at and
 * the web searches the model made (a Responses answer's `web_search_call` output items, an
 * Anthropic answer's server tool use).
 */
export interface AnswerCharges {
  serviceTier?: string;
  webSearches?: number;
}

/** The charges an answer (a chat completion, a response, or a stream's final response) names. */
export function answerCharges(answer: unknown): AnswerCharges {
  if (answer === null || typeof answer !== "object") return {};
  const { service_tier: tier, output, usage } = answer as { service_tier?: unknown; output?: unknown; usage?: unknown };
  const charges: AnswerCharges = {};
  if (typeof tier === "string") charges.serviceTier = tier;
  if (Array.isArray(output)) charges.webSearches = output.filter((item) => (item as { type?: unknown } | null)?.type === "web_search_call").length;
  const searches = serverToolSearches(usage);
  if (searches !== undefined) charges.webSearches = searches;
  return charges;
}

/** Web searches an Anthropic `usage` names (`server_tool_use.web_search_requests`). */
export function serverToolSearches(usage: unknown): number | undefined {
  const used = (usage as { server_tool_use?: { web_search_requests?: unknown } } | null | undefined)?.server_tool_use?.web_search_requests;
  return typeof used === "number" && used >= 0 ? used : undefined;
}
