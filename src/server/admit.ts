import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { readBatchHeader } from "../batch/step.js";
import { ProxyError } from "../errors.js";
import type { EndpointClassName } from "../gate/classes.js";
import { requireGrant } from "../gate/policy.js";
import { objectNotFound } from "../gate/objects.js";
import { CONTINUATION_FIELDS, mayReference, REFERENCE_TEXTS, referencedIds } from "../gate/stored.js";
import type { EndpointShape, RequestBody } from "../endpoints/shape.js";
import type { ProxiedRequest } from "../plan/index.js";
import { scanJson } from "../request/json-scan.js";
import { parseJsonBody, type ChatBody } from "../request/parse.js";
import type { Services } from "../services.js";
import { anthropicCredential, type Caller } from "./auth.js";
import { requestHeader, requestHeaders, scannedBody } from "./node-request.js";
import { readEndUser, readRequestType, readTags } from "./request-headers.js";

const ID_PREFIX: Record<string, string> = { "chat.completions": "chatcmpl-tg-", responses: "resp-tg-", completions: "cmpl-tg-", embeddings: "emb-tg-", messages: "msg-tg-" };

/** A parsed body with tollgate's request headers read (each a 400 when malformed). */
export function requestOf<B extends RequestBody>(c: Context, id: string, startedAt: number, startedMono: number, caller: Caller, body: B, bodyChars: number): ProxiedRequest<B> {
  return {
    id,
    startedAt,
    startedMono,
    caller,
    body,
    bodyChars,
    requestType: readRequestType(requestHeader(c, "x-tollgate-request-type")),
    tierHeader: requestHeader(c, "x-tollgate-tier"),
    maxTierHeader: requestHeader(c, "x-tollgate-max-tier"),
    headers: requestHeaders(c),
    batchWaitMs: readBatchHeader(requestHeader(c, "x-tollgate-batch")),
  };
}

/**
 * Steps 1-2 of SPEC 3: authenticate first (no CPU spent on bodies from unknown callers), then
 * parse and validate the body and read tollgate's request headers. The key's limits apply: the
 * endpoints and models it may use. A Responses request that continues a stored response or a
 * conversation must own it, and learns where that response lives and how much context it holds.
 */
export async function admit<B extends RequestBody>(services: Services, c: Context, shape: EndpointShape<B>): Promise<ProxiedRequest<B>> {
  const startedMono = performance.now();
  const startedAt = services.clock.now();
  let caller = callerOf(services, c, shape.protocol);
  requireGrant(caller, shape.name as EndpointClassName);
  const text = await c.req.text();
  // The scan made as the body arrived, or (a request from within the proxy) one of its text.
  const arrived = scannedBody(c);
  const scanned = arrived?.noticing === REFERENCE_TEXTS ? arrived : scanJson(text, REFERENCE_TEXTS);
  const body = shape.validate(parseJsonBody(text, scanned));
  // Who the spend is for within the key, and its labels: scopes of their own when budgets name them.
  const endUser = readEndUser(requestHeader(c, "x-tollgate-user"), body);
  const tags = readTags(requestHeader(c, "x-tollgate-tags"));
  if (endUser !== undefined || tags !== undefined) caller = { ...caller, ...(endUser !== undefined ? { endUser } : {}), ...(tags !== undefined ? { tags } : {}) };
  checkParts(shape.view(body), services.config.server.max_parts);
  const request = requestOf(c, `${ID_PREFIX[shape.name] ?? "req-tg-"}${randomUUID()}`, startedAt, startedMono, caller, body, text.length);
  request.source = { text, body };
  if (requestHeader(c, "x-tollgate-internal") === services.internalToken) request.routeLabel = "compress";
  if (caller.models) {
    if (Object.hasOwn(services.config.models, body.model) && !caller.models.has(body.model)) throw modelNotAllowed(body.model);
    request.allowedModels = caller.models;
    request.restrictedBy = "key-models";
  }
  const previousId = body.previous_response_id;
  if (typeof previousId === "string") {
    const previous = await services.objects.reachable(caller, previousId);
    if (!previous) throw objectNotFound(previousId, "previous_response_id");
    if (previous !== "unrecorded") {
      request.priorTokens = previous.tokens;
      const upstream = previous.upstream;
      const allowed = Object.entries(services.config.models).filter(([n, m]) => m.upstream === upstream && m.kind === "chat" && (!caller.models || caller.models.has(n)));
      request.allowedModels = new Set(allowed.map(([n]) => n));
      request.restrictedBy = "previous-response";
    }
  }
  // Files, vector stores and containers named anywhere in the body (a tool's resources, an input file).
  if (mayReference(scanned)) {
    const ids = referencedIds(body, CONTINUATION_FIELDS);
    const reached = await Promise.all(ids.map((id) => services.objects.reachable(caller, id)));
    const missing = ids.find((_, i) => !reached[i]);
    if (missing !== undefined) throw objectNotFound(missing);
  }
  const conversation = body.conversation;
  const conversationId = typeof conversation === "string" ? conversation : (conversation as { id?: unknown } | null | undefined)?.id;
  if (typeof conversationId === "string") {
    const found = await services.objects.reachable(caller, conversationId);
    if (!found) throw objectNotFound(conversationId, "conversation");
    // Its items are input the upstream adds: held for what tollgate counted of them, else the window.
    if (found !== "unrecorded" && found.tokens !== undefined) request.priorTokens = found.tokens;
    else request.priorUnknown = true;
  }
  return request;
}

/** The caller a request's key names (401 otherwise); on the Messages API the key may come as `x-api-key`. */
export function callerOf(services: Services, c: Context, protocol: "openai" | "anthropic"): Caller {
  const authorization = protocol === "anthropic" ? anthropicCredential(requestHeader(c, "authorization"), requestHeader(c, "x-api-key")) : requestHeader(c, "authorization");
  return services.auth.authenticate(authorization);
}

export function modelNotAllowed(model: string): ProxyError {
  return new ProxyError("model_not_allowed", `This key may not use the model '${model}'.`, "model");
}

/** 400 for a request of more messages and content parts than `server.max_parts`. */
function checkParts(view: ChatBody, max: number): void {
  let parts = view.messages.length;
  for (const message of view.messages) if (Array.isArray(message.content)) parts += message.content.length;
  if (parts > max) {
    throw new ProxyError("invalid_request", `This request has ${parts} messages and content parts; this proxy accepts at most ${max} (server.max_parts).`, "messages");
  }
}
