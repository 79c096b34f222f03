import type { CachedCompletion } from "../cache/replay.js";
import { replayAsSse } from "../cache/replay.js";
import { headerUsd } from "../money.js";
import { readUsage } from "../pricing/cost.js";
import type { Services } from "../services.js";
import { accountRequest, type Served } from "../usage/account.js";
import { untraced, type RequestTrace } from "../telemetry/tracing.js";

/** The x-tollgate-* headers every answer carries (SPEC 4.3), plus what the optimizers and the budget did. */
export function tollgateHeaders(served: Served, capped: boolean): Record<string, string> {
  const { prepared } = served;
  const headers: Record<string, string> = {
    "x-request-id": served.request.id,
    "x-tollgate-tier": prepared.config.tier,
    "x-tollgate-model": prepared.config.upstream_model ?? prepared.model,
    "x-tollgate-route": served.route,
    "x-tollgate-estimated-cost": headerUsd(prepared.expectedCost),
  };
  if (served.fallbackFrom.length > 0) headers["x-tollgate-fallback"] = [...served.fallbackFrom, prepared.model].join(",");
  if (served.outputLimit !== undefined) headers["x-tollgate-output-limit"] = `${served.outputLimit}; type=${served.request.requestType}`;
  if (capped && prepared.outputCapped !== null) headers["x-tollgate-output-capped"] = String(prepared.outputCapped);
  if (prepared.droppedMessages > 0) headers["x-tollgate-context-dropped"] = String(prepared.droppedMessages);
  if (served.optimizerSavedTokens > 0) headers["x-tollgate-prompt-saved-tokens"] = String(served.optimizerSavedTokens);
  const compressed = served.request.compressed;
  if (compressed) headers["x-tollgate-compressed"] = `${compressed.before}->${compressed.after}`;
  return headers;
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  // Chunked from the first byte: @hono/node-server then writes each chunk as it comes.
  "transfer-encoding": "chunked",
};

/** Serves a cached answer: $0, recorded as a hit (no budget held), replayed as SSE when the client streams. */
export async function respondFromCache(services: Services, served: Served, cached: string, trace: RequestTrace = untraced): Promise<Response> {
  const completion = JSON.parse(cached) as CachedCompletion;
  const usage = readUsage(completion.usage) ?? { promptTokens: served.prepared.promptTokens, cachedTokens: 0, completionTokens: 0 };
  const day = services.windows.at(services.clock.now()).day;
  const accounted = await accountRequest(services, served, { status: 200, usage, cacheHit: true }, (actual, record) => {
    if (record) trace.record(record);
    return trace.step("settle", () => services.settler.settle({ requestId: served.request.id, counters: [], actual, record, day }).then(() => undefined));
  });
  await accounted.settled;
  const out = { ...tollgateHeaders(served, false), "x-tollgate-cache": "hit", "x-tollgate-cost": "0" };
  if (served.request.body.stream === true) {
    const sse = { ...out, "content-type": SSE_HEADERS["content-type"], "cache-control": "no-cache" };
    return new Response(replayAsSse(completion, served.request.body.stream_options?.include_usage === true), { status: 200, headers: sse });
  }
  return new Response(cached, { status: 200, headers: { ...out, "content-type": "application/json" } });
}
