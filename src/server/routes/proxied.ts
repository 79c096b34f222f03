import { cooldownKey } from "../../budget/reserve.js";
import { correctRate, takeRate } from "../../budget/rate-limits.js";
import { CompletionAssembler } from "../../cache/assemble.js";
import { lookInCache, type CacheLookup } from "../../cache/lookup.js";
import { chatShape } from "../../endpoints/chat.js";
import { isStoredAnswer, rememberAnswer, rememberConversationTurn } from "../../endpoints/previous-response.js";
import { chatSide, type EndpointShape, type RequestBody } from "../../endpoints/shape.js";
import { headerUsd, type Nano } from "../../money.js";
import { planRequest, type Prepared, type ProxiedRequest, type RequestPlan } from "../../plan/index.js";
import { restoreBigIntegers } from "../../request/big-integers.js";
import { spliceBody } from "../../request/splice.js";
import type { Services } from "../../services.js";
import { accountRequest, recordHeader, type Outcome, type Served } from "../../usage/account.js";
import type { UsageRecord } from "../../usage/record.js";
import { wireFor, type Wire } from "../../endpoints/wire.js";
import { upstreamProtocol } from "../../config/schema.js";
import { forwardWithFallback, type Forwarded } from "../../upstream/fallback.js";
import { passedAnswerHeaders, passedErrorHeaders, readJsonAnswer, relayStream } from "../../upstream/relay.js";
import { maskSecrets, SecretMasker } from "../../upstream/secrets.js";
import { Attempts, type Attempt } from "../../plan/attempts.js";
import { compressIfLong } from "../summarize.js";
import { isUnfinishedBackground } from "../../usage/background.js";
import { UpstreamFailure } from "../../upstream/client.js";
import { answerInBatch } from "../../batch/step.js";
import { admit } from "../admit.js";
import { exchange, type Answer, type Exchange } from "../exchange.js";
import { requestHeader } from "../node-request.js";
import { respondFromCache, SSE_HEADERS, tollgateHeaders } from "../respond.js";
import { anthropicHeaders } from "../request-headers.js";
import { untraced } from "../../telemetry/tracing.js";

type Settle = (cost: Nano, record: UsageRecord | null) => Promise<void>;

/**
 * A proxied OpenAI endpoint (chat completions, Responses, completions, embeddings), in the order of
 * SPEC 3. Each step lives in its own folder; this file only sequences them and turns the
 * upstream's answer into the client's.
 */
export function proxiedEndpoint<B extends RequestBody>(services: Services, shape: EndpointShape<B>) {
  return exchange(services, async (ex, c) => {
    // Registered first, so it closes last: the request's span covers its settle.
    const trace = services.tracing?.request(shape.name, c.req.header("traceparent")) ?? untraced;
    ex.defer(() => trace.end(ex.failure));
    const admitted = await admit(services, c, shape);
    trace.requested(admitted.body.model, admitted.caller.keyId);
    const chat = chatSide(shape);
    const { request, plan, routed } = await trace.step("plan", async () => {
      let request = admitted;
      let plan = await planRequest(services, request, shape);
      const compressed = chat && (await compressIfLong(services, c, chat.holding(request), plan.decision.model));
      if (chat && compressed) {
        request = { ...request, body: chat.fromChat(compressed.body), bodyChars: compressed.bodyChars, compressed: compressed.compressed };
        plan = await planRequest(services, request, shape);
      }
      return { request, plan, routed: await plan.prepare(plan.decision.model) };
    });

    const cached = await lookInCache(services.cache, services.config.cache.scope, ex, request, routed, requestHeader(c, "x-tollgate-cache"), shape.cache);
    if (cached.kind === "hit") return { response: await respondFromCache(services, served(shape, request, plan, { prepared: routed, capped: false, fallbackFrom: [], route: plan.routeLabel ?? plan.decision.route }), cached.text, trace) };

    // Rate limits count the request and its worst-case tokens; the settle corrects them to what it used.
    const rate = await takeRate(services.store, services.config, request.caller, routed.inputTokens + routed.worstOutput * shape.choices(routed.body), services.clock.now());
    const attempts = await trace.step("hold", () => Attempts.start(services, request, plan, (model) => recordHeader(request, shape.name, model, services, plan.routeLabel ?? plan.decision.route)));
    let forwardedAt: number | undefined;
    const servedNow = (): Served => served(shape, request, plan, attempts.current, forwardedAt);
    const settle: Settle = async (cost, record) => {
      if (record) trace.record(record);
      await trace.step("settle", () => attempts.settle(cost, record));
      if (record) await correctRate(services.store, rate, record.input_tokens + record.output_tokens).catch(() => {});
    };
    ex.defer(() => attempts.close(() => accountUnfinished(services, ex, servedNow(), forwardedAt !== undefined, settle)));

    forwardedAt = performance.now();
    services.metrics.overhead.observe((forwardedAt - request.startedMono) / 1000);
    const first = attempts.current;
    const batched = chat && request.batchWaitMs !== undefined ? await answerInBatch(services, request.batchWaitMs, chat.holding(first.prepared), request.id) : undefined;
    if (batched) {
      const now = servedNow();
      const accounted = await accountRequest(services, now, { status: 200, usage: batched.answer.usage }, settle);
      const headers = { ...tollgateHeaders(now, first.capped), "x-tollgate-batched": "1", "x-tollgate-cost": headerUsd(accounted.cost), "content-type": "application/json" };
      return { response: new Response(batched.completion, { status: 200, headers }), finished: accounted.settled };
    }
    const passed = anthropicHeaders((name) => requestHeader(c, name));
    const forwarded = await forwardWithFallback(first.prepared, {
      send: (candidate) =>
        trace.step("upstream", (headers) => sendUpstream(services, ex, shape, candidate, { passed, clientHeader: (name) => requestHeader(c, name), trace: headers }, request.source), {
          "gen_ai.request.model": candidate.config.upstream_model ?? candidate.model,
          "tollgate.upstream": candidate.config.upstream,
        }),
      next: (failed) => attempts.next(failed),
      coolDown: (model, ms) => services.store.setValue(cooldownKey(model), "1", ms).then(() => undefined, () => undefined),
      now: () => services.clock.now(),
    });
    const answering = servedNow();
    return relayAnswer(services, ex, shape, answering, attempts.current.capped, forwarded, cached.kind === "miss" ? cached.store : undefined, settle, (leaseEnd) => attempts.keep(leaseEnd));
  });
}

/** POST /v1/chat/completions. */
export const chatCompletions = (services: Services) => proxiedEndpoint(services, chatShape);

/** What accounting and the answer's headers say of an attempt. */
function served<B extends RequestBody>(shape: EndpointShape<B>, request: ProxiedRequest<B>, plan: RequestPlan<B>, attempt: Attempt<B>, forwardedAt?: number): Served {
  const out: Served = { request, endpoint: shape.name, prepared: attempt.prepared, route: attempt.route, fallbackFrom: attempt.fallbackFrom, outputLimit: plan.outputLimit, optimizerSavedTokens: plan.optimizerSavedTokens };
  if (forwardedAt !== undefined) out.forwardedAt = forwardedAt;
  return out;
}


/** How the model's upstream is spoken to: natively, or translated (plan/protocols.ts kept only models with a wire). */
function wireTo<B extends RequestBody>(services: Services, shape: EndpointShape<B>, prepared: Prepared): Wire<B> {
  return wireFor(shape, upstreamProtocol(services.config.upstreams[prepared.config.upstream]!))!;
}

/** What of the client's request goes upstream besides the body. */
interface SentHeaders {
  /** Anthropic's version and beta headers, for an Anthropic upstream. */
  passed: Record<string, string>;
  /** The client's headers, of which the upstream's `forward_headers` go. */
  clientHeader: (name: string) => string | undefined;
  /** The trace context (`traceparent`). */
  trace: Record<string, string>;
}

/**
 * The request as the model receives it, with the client headers its upstream takes and the trace
 * context; its body written from the client's text where nothing changed (`source`).
 */
function sendUpstream<B extends RequestBody>(services: Services, ex: Exchange, shape: EndpointShape<B>, prepared: Prepared<B>, sent: SentHeaders, source?: ProxiedRequest["source"]) {
  const wire = wireTo(services, shape, prepared);
  const body = wire.request(prepared.body, prepared.config, prepared.config.upstream_model ?? prepared.model, prepared.worstOutput);
  const text = (source && spliceBody(source, body)) ?? restoreBigIntegers(JSON.stringify(body));
  const anthropic = upstreamProtocol(services.config.upstreams[prepared.config.upstream]!) === "anthropic";
  return services.upstream.post({
    upstream: prepared.config.upstream,
    path: wire.path,
    headers: anthropic ? { ...sent.passed, ...sent.trace } : sent.trace,
    body: text,
    signal: ex.signal,
    clientHeader: sent.clientHeader,
    finishAfterHeaders: body.stream !== true,
    drainMs: services.config.accounting.drain_seconds * 1000,
  });
}

/**
 * Accounts for a request that ended without an answer being accounted: the upstream failed (nothing
 * billed), or the client left or something broke after the request went upstream (its prompt was
 * read, so it is charged, counted locally). A request that never went upstream holds nothing.
 */
async function accountUnfinished(services: Services, ex: Exchange, served: Served, forwarded: boolean, settle: Settle): Promise<void> {
  if (!forwarded) return;
  const failure = ex.failure;
  // An upstream that failed to answer (unreachable, timed out, at capacity) produced nothing to bill.
  const outcome: Outcome = ex.clientGone
    ? { status: 499, outputText: [] }
    : failure instanceof UpstreamFailure
      ? { status: failure.status, nothingBilled: true }
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
  storeInCache: Extract<CacheLookup, { kind: "miss" }>["store"] | undefined,
  settle: Settle,
  keepHold: (leaseEnd: number) => Promise<string | undefined>,
): Promise<Answer> {
  const { reply } = forwarded;
  const wire = wireTo(services, shape, served.prepared);
  const created = Math.floor(services.clock.now() / 1000);
  const headers = Object.assign(tollgateHeaders(served, capped), passedAnswerHeaders(reply));
  if (storeInCache) headers["x-tollgate-cache"] = "miss";
  // An answer the upstream stores becomes the caller's object (src/gate/objects.ts).
  const remember = async (outcome: Outcome) => {
    if (outcome.status < 400 && outcome.responseId && isStoredAnswer(shape.name, served.request.body)) await rememberAnswer(services.objects, served.request.caller, outcome.responseId, served.prepared, outcome);
    if (shape.name === "responses" && (outcome.status < 400 || outcome.status === 499)) await rememberConversationTurn(services.objects, served.request.body, outcome);
  };

  if (forwarded.errorText !== undefined || reply.status >= 400) {
    const text = wire.error(forwarded.errorText ?? (await readJsonAnswer(reply)).text, reply.status);
    const accounted = await accountRequest(services, served, { status: reply.status, nothingBilled: true }, settle);
    return { finished: accounted.settled, response: upstreamError(services, reply.status, text, String(reply.headers["content-type"] ?? "application/json"), { ...headers, ...passedErrorHeaders(reply) }) };
  }

  const contentType = String(reply.headers["content-type"] ?? "");
  if (served.request.body.stream !== true || !contentType.includes("text/event-stream")) {
    const read = await readJsonAnswer(reply);
    const { outcome, replayable, answer } = read;
    // Read for its usage in the upstream's own dialect, then shown in the client's.
    const text = answer === undefined || outcome.status >= 400 ? read.text : wire.answer(read.text, created);
    if (outcome.responseId && isUnfinishedBackground(served.request.body, answer)) {
      const kept = await keepBackground(services, served, outcome, keepHold);
      if (kept) return { response: new Response(maskSecrets(text, services.upstream.secrets), { status: reply.status, headers: { ...headers, "content-type": contentType || "application/json" } }) };
    }
    const accounted = await accountRequest(services, served, ex.clientGone ? { ...outcome, status: 499 } : outcome, settle);
    await remember(outcome);
    if (served.request.body.stream === true) {
      // A stream answered with a whole body: not an answer the client's SDK can read, so an error it raises.
      return { response: upstreamError(services, 502, text, contentType, headers, "the upstream answered a streamed request without a stream") };
    }
    const masked = maskSecrets(text, services.upstream.secrets);
    await storeInCache?.(served.prepared, masked, { usage: outcome.usage !== undefined, replayable });
    headers["x-tollgate-cost"] = headerUsd(accounted.cost);
    headers["content-type"] = contentType || "application/json";
    return { response: new Response(masked, { status: reply.status, headers }), finished: accounted.settled };
  }

  const assembler = storeInCache ? new CompletionAssembler() : undefined;
  const clientWantsUsage = served.request.body.stream_options?.include_usage === true;
  const reader = wire.reader(clientWantsUsage, created, assembler && ((chunk) => assembler.add(chunk)));
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
        // An answer assembled from a whole stream replays as it came, masked as the client saw it.
        if (answer) await storeInCache?.(served.prepared, maskSecrets(answer, services.upstream.secrets), { usage: true, replayable: true });
      } finally {
        finish();
      }
    },
  });
  // A client that left while the answer's headers were on their way reads nothing: the stream is
  // drained for its usage as if it had left mid-stream.
  if (ex.clientGone) void stream.cancel();
  return { response: stream.response({ status: 200, headers: { ...headers, ...SSE_HEADERS } }), finished };
}

/**
 * A background response the upstream has only queued: its hold is kept until it finishes, and its
 * record made then (usage/background.ts). False when there is no hold to keep (the store let the
 * request through unheld): it is then accounted now, as any answer without usage.
 */
async function keepBackground(services: Services, served: Served, outcome: Outcome, keepHold: (leaseEnd: number) => Promise<string | undefined>): Promise<boolean> {
  const holdId = await keepHold(services.background.nextPoll());
  if (holdId === undefined) return false;
  const { prepared, request } = served;
  const tier = request.body.service_tier;
  await services.background.remember({
    holdId,
    responseId: outcome.responseId!,
    upstream: prepared.config.upstream,
    model: prepared.model,
    header: recordHeader(request, served.endpoint, prepared.model, services, served.route),
    heldAmount: prepared.holdAmount,
    estimatedCost: prepared.expectedCost,
    ...(typeof tier === "string" ? { serviceTier: tier } : {}),
    until: services.background.deadline(),
  });
  await rememberAnswer(services.objects, request.caller, outcome.responseId!, prepared, outcome, holdId);
  // The conversation grows by what the response writes, later: unknown until a turn says.
  await rememberConversationTurn(services.objects, request.body, { status: 200 });
  return true;
}

/** An upstream error passed on: its status and body, with anything key-shaped masked. */
function upstreamError(services: Services, status: number, text: string, contentType: string, headers: Record<string, string>, message?: string): Response {
  const masked = maskSecrets(text, services.upstream.secrets);
  if (message === undefined) return new Response(masked, { status, headers: { ...headers, "content-type": contentType } });
  const body = { error: { message: `${message}: ${masked.slice(0, 2000)}`, type: "server_error", param: null, code: "upstream_stream_broken" } };
  return new Response(JSON.stringify(body), { status, headers: { ...headers, "content-type": "application/json" } });
}
