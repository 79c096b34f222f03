import type { Context } from "hono";
import { BudgetHold } from "../../budget/hold.js";
import { cooldownKey } from "../../budget/reserve.js";
import { CompletionAssembler } from "../../cache/assemble.js";
import { lookInCache } from "../../cache/lookup.js";
import { chatShape } from "../../endpoints/chat.js";
import { isStoredAnswer, rememberAnswer } from "../../endpoints/previous-response.js";
import type { EndpointShape, RequestBody } from "../../endpoints/shape.js";
import { headerUsd, type Nano } from "../../money.js";
import { planRequest, type ChatRequest, type Prepared, type ProxiedRequest, type RequestPlan } from "../../plan/index.js";
import type { ChatBody } from "../../request/parse.js";
import { restoreBigIntegers } from "../../request/big-integers.js";
import type { Services } from "../../services.js";
import { accountRequest, recordHeader, type Outcome, type Served } from "../../usage/account.js";
import type { UsageRecord } from "../../usage/record.js";
import { ResponsesStreamReader } from "../../usage/responses-stream.js";
import { StreamAccountant } from "../../usage/stream.js";
import { forwardWithFallback, type Forwarded } from "../../upstream/fallback.js";
import { passedAnswerHeaders, passedErrorHeaders, readJsonAnswer, relayStream } from "../../upstream/relay.js";
import { maskSecrets, SecretMasker } from "../../upstream/secrets.js";
import { compressConversation, readCompressHeader } from "../../optimize/compress.js";
import { answerInBatch } from "../../batch/step.js";
import { admit } from "../admit.js";
import { exchange, type Answer, type Exchange } from "../exchange.js";
import { respondFromCache, SSE_HEADERS, tollgateHeaders } from "../respond.js";

type Settle = (cost: Nano, record: UsageRecord | null) => Promise<void>;

/**
 * A proxied OpenAI endpoint (chat completions, Responses, completions, embeddings), in the order of
 * SPEC 3. Each step lives in its own folder; this file only sequences them and turns the
 * upstream's answer into the client's.
 */
export function proxiedEndpoint<B extends RequestBody>(services: Services, shape: EndpointShape<B>) {
  return exchange(services, async (ex, c) => {
    let request = await admit(services, c, shape);
    let plan = await planRequest(services, request, shape);
    const compressed = shape.rewritable ? await compressIfLong(services, c, request as unknown as ChatRequest, plan.decision.model) : undefined;
    if (compressed) {
      request = compressed as unknown as ProxiedRequest<B>;
      plan = await planRequest(services, request, shape);
    }
    const routed = await plan.prepare(plan.decision.model);

    const cached = shape.cache === "never" ? ({ kind: "off" } as const) : await lookInCache(services.cache, services.config.cache.scope, ex, request, routed, c.req.header("x-tollgate-cache"), shape.cache === "always");
    if (cached.kind === "hit") return { response: await respondFromCache(services, served(shape, request, plan, routed, plan.decision.route), cached.text) };

    const hold = await BudgetHold.take(services, {
      requestId: request.id,
      caller: request.caller,
      candidates: plan.decision.candidates,
      price: plan.prepare,
      header: (model) => recordHeader(request, shape.name, model, services, plan.routeLabel ?? plan.decision.route),
    });
    let forwardedAt: number | undefined;
    const servedNow = (): Served => ({ ...served(shape, request, plan, hold.priced, routeOf(plan, hold)), fallbackFrom: hold.fallbackFrom, forwardedAt });
    const settle: Settle = (cost, record) => hold.settle(cost, record);
    ex.defer(() => hold.close(() => accountUnfinished(services, ex, servedNow(), forwardedAt !== undefined, settle)));

    forwardedAt = performance.now();
    services.metrics.overhead.observe((forwardedAt - request.startedMono) / 1000);
    if (shape.rewritable) {
      const batched = await answerInBatch(services, request.batchWaitMs, hold as unknown as BudgetHold<Prepared<ChatBody>>, request.id);
      if (batched) {
        const accounted = await accountRequest(services, servedNow(), { status: 200, usage: batched.answer.usage }, settle);
        const headers = { ...tollgateHeaders(servedNow(), hold.capped), "x-tollgate-batched": "1", "x-tollgate-cost": headerUsd(accounted.cost), "content-type": "application/json" };
        return { response: new Response(batched.completion, { status: 200, headers }), finished: accounted.settled };
      }
    }
    const forwarded = await forwardWithFallback(hold.priced, {
      send: (candidate) => sendUpstream(services, ex, shape, candidate),
      next: async (failed) => ((await fallbackTo(services, hold, failed)) ? hold.priced : undefined),
      coolDown: (model, ms) => services.store.setValue(cooldownKey(model), "1", ms).then(() => undefined, () => undefined),
      now: () => services.clock.now(),
    });
    return relayAnswer(services, ex, shape, servedNow(), hold.capped, forwarded, cached.kind === "miss" ? cached.store : undefined, settle);
  });
}

/** POST /v1/chat/completions. */
export const chatCompletions = (services: Services) => proxiedEndpoint(services, chatShape);

/**
 * Replaces the older turns of a long conversation by a summary (optimize.compress), asked of the
 * economy tier's model through this proxy's own pipeline as the caller: its cost lands on the
 * caller's budget with a record of its own (`route: compress`).
 */
async function compressIfLong(services: Services, c: Context, request: ChatRequest, routedModel: string): Promise<ChatRequest | undefined> {
  if (request.routeLabel !== undefined) return undefined;
  const mode = readCompressHeader(c.req.header("x-tollgate-compress"));
  const economy = services.tierModels.economy[0];
  const result = await compressConversation(
    {
      config: services.config,
      store: services.store,
      logger: services.logger,
      economyModel: economy === undefined ? undefined : services.config.models[economy],
      summarize: async (body) => {
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "x-tollgate-internal": services.internalToken,
          "x-tollgate-tier": "economy",
          "x-tollgate-compress": "off",
          "x-tollgate-cache": "off",
        };
        const authorization = c.req.header("authorization");
        if (authorization !== undefined) headers.authorization = authorization;
        const answer = await services.dispatch(new Request(new URL("/v1/chat/completions", c.req.url), { method: "POST", headers, body: JSON.stringify({ ...body, model: economy }) }));
        if (answer.status !== 200) throw new Error(`the summary call answered ${answer.status}`);
        const completion = (await answer.json()) as { choices?: Array<{ message?: { content?: unknown } }> };
        const content = completion.choices?.[0]?.message?.content;
        return typeof content === "string" && content.trim() !== "" ? content : undefined;
      },
    },
    request.body,
    services.config.models[routedModel]!,
    mode,
  );
  if (!result) return undefined;
  return { ...request, body: result.body, bodyChars: Math.ceil((request.bodyChars * result.after) / result.before), compressed: { before: result.before, after: result.after } };
}


function served<B extends RequestBody>(shape: EndpointShape<B>, request: ProxiedRequest<B>, plan: RequestPlan<B>, prepared: Prepared<B>, route: string): Served {
  route = plan.routeLabel ?? route;
  return { request, endpoint: shape.name, prepared, route, fallbackFrom: [], outputLimit: plan.outputLimit, optimizerSavedTokens: plan.optimizerSavedTokens };
}

/** `x-tollgate-route`: why the request went where it went. */
function routeOf<B extends RequestBody>(plan: RequestPlan<B>, hold: BudgetHold<Prepared<B>>): string {
  if (plan.routeLabel !== undefined) return plan.routeLabel;
  if (hold.fallbackFrom.length > 0 || hold.cooling.length > 0) return "fallback";
  return hold.model === plan.decision.model ? plan.decision.route : "budget-downgrade";
}

/** The request as the model receives it. */
function sendUpstream<B extends RequestBody>(services: Services, ex: Exchange, shape: EndpointShape<B>, prepared: Prepared<B>) {
  const body = shape.adapt(prepared.body, prepared.config, prepared.config.upstream_model ?? prepared.model);
  return services.upstream.post({
    upstream: prepared.config.upstream,
    path: shape.path,
    body: restoreBigIntegers(JSON.stringify(body)),
    signal: ex.signal,
    finishAfterHeaders: body.stream !== true,
  });
}

/** Fallback within the tier (`routing.fallback`): the budget moves to the next untried model. */
async function fallbackTo<B extends RequestBody>(services: Services, hold: BudgetHold<Prepared<B>>, failed: Prepared<B>): Promise<boolean> {
  const tier = failed.config.tier;
  const setting = services.config.routing.fallback;
  if (failed.config.kind !== "chat" || !(typeof setting === "boolean" ? setting : (setting[tier] ?? true))) return false;
  const tried = new Set([...hold.fallbackFrom, failed.model]);
  const alternatives = services.tierModels[tier].filter((m) => !tried.has(m));
  return alternatives.length > 0 && hold.moveTo(alternatives);
}

/**
 * Accounts for a request that ended without an answer being accounted: the upstream failed (nothing
 * billed), or the client left or something broke after the request went upstream (its prompt was
 * read, so it is charged, counted locally). A request that never went upstream holds nothing.
 */
async function accountUnfinished(services: Services, ex: Exchange, served: Served, forwarded: boolean, settle: Settle): Promise<void> {
  if (!forwarded) return;
  const failure = ex.failure as { status?: number; code?: string } | undefined;
  const upstreamFailed = !ex.clientGone && typeof failure?.code === "string" && failure.code.startsWith("upstream_");
  const outcome: Outcome = ex.clientGone
    ? { status: 499, outputText: [] }
    : upstreamFailed
      ? { status: failure.status ?? 502, nothingBilled: true }
      : { status: 500, outputText: [] };
  await (await accountRequest(services, served, outcome, settle)).settled;
}

async function relayAnswer<B extends RequestBody>(
  services: Services,
  ex: Exchange,
  shape: EndpointShape<B>,
  served: Served,
  capped: boolean,
  forwarded: Forwarded<Prepared<B>>,
  storeInCache: ((answered: Prepared, answer: string) => Promise<void>) | undefined,
  settle: Settle,
): Promise<Answer> {
  const { reply } = forwarded;
  const headers = { ...tollgateHeaders(served, capped), ...passedAnswerHeaders(reply) };
  if (storeInCache) headers["x-tollgate-cache"] = "miss";
  // An answer the upstream stores becomes the caller's object (src/gate/objects.ts).
  const remember = (outcome: Outcome) =>
    outcome.responseId && outcome.status < 400 && isStoredAnswer(shape.name, served.request.body)
      ? rememberAnswer(services.objects, served.request.caller, outcome.responseId, served.prepared, outcome)
      : Promise.resolve();

  if (forwarded.errorText !== undefined || reply.status >= 400) {
    const text = forwarded.errorText ?? (await readJsonAnswer(reply)).text;
    const accounted = await accountRequest(services, served, { status: reply.status, nothingBilled: true }, settle);
    return { finished: accounted.settled, response: upstreamError(services, reply.status, text, String(reply.headers["content-type"] ?? "application/json"), { ...headers, ...passedErrorHeaders(reply) }) };
  }

  const contentType = String(reply.headers["content-type"] ?? "");
  if (served.request.body.stream !== true || !contentType.includes("text/event-stream")) {
    const { text, outcome, replayable } = await readJsonAnswer(reply);
    const accounted = await accountRequest(services, served, { ...outcome, status: ex.clientGone ? 499 : outcome.status }, settle);
    await remember(outcome);
    if (served.request.body.stream === true) {
      // A stream answered with a whole body: not an answer the client's SDK can read, so an error it raises.
      return { response: upstreamError(services, 502, text, contentType, headers, "the upstream answered a streamed request without a stream") };
    }
    const masked = maskSecrets(text, services.upstream.secrets);
    if (storeInCache && outcome.usage && (replayable || shape.cache === "always")) await storeInCache(served.prepared, masked);
    headers["x-tollgate-cost"] = headerUsd(accounted.cost);
    headers["content-type"] = contentType || "application/json";
    return { response: new Response(masked, { status: reply.status, headers }), finished: accounted.settled };
  }

  const assembler = storeInCache ? new CompletionAssembler() : undefined;
  const clientWantsUsage = served.request.body.stream_options?.include_usage === true;
  const reader = shape.streamDialect === "responses" ? new ResponsesStreamReader() : new StreamAccountant(clientWantsUsage, assembler && ((chunk) => assembler.add(chunk)));
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const stream = relayStream(reply, {
    reader,
    masker: new SecretMasker(services.upstream.secrets),
    onFailure: (err) => services.logger.log("error", "relay_failed", { request_id: served.request.id, error: (err as Error)?.stack ?? String(err) }),
    onEnd: async (outcome) => {
      try {
        const accounted = await accountRequest(services, served, outcome, settle);
        await accounted.settled;
        await remember(outcome);
        const answer = outcome.status === 200 ? assembler?.json() : undefined;
        if (storeInCache && answer) await storeInCache(served.prepared, answer);
      } finally {
        finish();
      }
    },
  });
  return { response: new Response(stream, { status: 200, headers: { ...headers, ...SSE_HEADERS } }), finished };
}

/** An upstream error passed on: its status and body, with anything key-shaped masked. */
function upstreamError(services: Services, status: number, text: string, contentType: string, headers: Record<string, string>, message?: string): Response {
  const masked = maskSecrets(text, services.upstream.secrets);
  if (message === undefined) return new Response(masked, { status, headers: { ...headers, "content-type": contentType } });
  const body = { error: { message: `${message}: ${masked.slice(0, 2000)}`, type: "server_error", param: null, code: "upstream_stream_broken" } };
  return new Response(JSON.stringify(body), { status, headers: { ...headers, "content-type": "application/json" } });
}
