import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { readBatchHeader } from "../batch/step.js";
import { previousResponse } from "../endpoints/previous-response.js";
import type { EndpointShape, RequestBody } from "../endpoints/shape.js";
import type { ProxiedRequest } from "../plan/index.js";
import { parseJsonBody } from "../request/parse.js";
import type { Services } from "../services.js";
import type { Caller } from "./auth.js";
import { readRequestType } from "./request-headers.js";

const ID_PREFIX: Record<string, string> = { "chat.completions": "chatcmpl-tg-", responses: "resp-tg-", completions: "cmpl-tg-", embeddings: "emb-tg-" };

/** A parsed body with tollgate's request headers read (each a 400 when malformed). */
export function requestOf<B extends RequestBody>(c: Context, id: string, startedAt: number, startedMono: number, caller: Caller, body: B, bodyChars: number): ProxiedRequest<B> {
  return {
    id,
    startedAt,
    startedMono,
    caller,
    body,
    bodyChars,
    requestType: readRequestType(c.req.header("x-tollgate-request-type")),
    tierHeader: c.req.header("x-tollgate-tier"),
    maxTierHeader: c.req.header("x-tollgate-max-tier"),
    batchWaitMs: readBatchHeader(c.req.header("x-tollgate-batch")),
  };
}

/**
 * Steps 1-2 of SPEC 3: authenticate first (no CPU spent on bodies from unknown callers), then
 * parse and validate the body and read tollgate's request headers. A Responses request that
 * continues a stored response learns where that response lives and how much context it holds.
 */
export async function admit<B extends RequestBody>(services: Services, c: Context, shape: EndpointShape<B>): Promise<ProxiedRequest<B>> {
  const startedMono = performance.now();
  const startedAt = services.clock.now();
  const caller = services.auth.authenticate(c.req.header("authorization"));
  const text = await c.req.text();
  const body = shape.validate(parseJsonBody(text));
  const request = requestOf(c, `${ID_PREFIX[shape.name] ?? "req-tg-"}${randomUUID()}`, startedAt, startedMono, caller, body, text.length);
  if (c.req.header("x-tollgate-internal") === services.internalToken) request.routeLabel = "compress";
  const previousId = body.previous_response_id;
  if (typeof previousId === "string") {
    const previous = await previousResponse(services, previousId);
    if (previous) {
      request.priorTokens = previous.tokens;
      request.allowedModels = new Set(Object.entries(services.config.models).filter(([, m]) => m.upstream === previous.upstream && m.kind === "chat").map(([n]) => n));
    }
  }
  return request;
}
