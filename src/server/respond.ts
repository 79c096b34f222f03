import type { CachedCompletion } from "../cache/replay.js";
import { replayAsSse } from "../cache/replay.js";
import { headerUsd } from "../money.js";
import { readUsage } from "../pricing/cost.js";
import type { Services } from "../services.js";
import { accountRequest, type RequestTrace } from "../usage/account.js";

/** The x-tollgate-* headers every answer carries (SPEC 4.3), plus what the optimizers did. */
export function tollgateHeaders(trace: RequestTrace, upstreamModel: string): Record<string, string> {
  const headers: Record<string, string> = {
    "x-request-id": trace.requestId,
    "x-tollgate-tier": trace.tier,
    "x-tollgate-model": upstreamModel,
    "x-tollgate-route": trace.route,
    "x-tollgate-estimated-cost": headerUsd(trace.estimate),
  };
  if (trace.fallbackFrom.length > 0) headers["x-tollgate-fallback"] = [...trace.fallbackFrom, trace.model].join(",");
  if (trace.outputLimit !== null) headers["x-tollgate-output-limit"] = `${trace.outputLimit}; type=${trace.requestType}`;
  if (trace.droppedMessages > 0) headers["x-tollgate-context-dropped"] = String(trace.droppedMessages);
  if (trace.optimizerSavedTokens > 0) headers["x-tollgate-prompt-saved-tokens"] = String(trace.optimizerSavedTokens);
  return headers;
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  // Chunked from the first byte: @hono/node-server then writes each chunk as it comes.
  "transfer-encoding": "chunked",
};

/** Serves a cached answer: $0, recorded as a hit, replayed as SSE when the client streams. */
export async function respondFromCache(services: Services, trace: RequestTrace, cached: string, headers: Record<string, string>): Promise<Response> {
  const completion = JSON.parse(cached) as CachedCompletion;
  const usage = readUsage(completion.usage) ?? { promptTokens: trace.promptTokens, cachedTokens: 0, completionTokens: 0 };
  await accountRequest(services, trace, { status: 200, usage, cacheHit: true });
  const out = { ...headers, "x-tollgate-cache": "hit", "x-tollgate-cost": "0" };
  if (trace.stream) {
    const sse = { ...out, "content-type": SSE_HEADERS["content-type"], "cache-control": "no-cache" };
    return new Response(replayAsSse(completion, trace.clientWantsUsage), { status: 200, headers: sse });
  }
  return new Response(cached, { status: 200, headers: { ...out, "content-type": "application/json" } });
}
