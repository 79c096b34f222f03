import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { holdBudget } from "../../budget/hold.js";
import { CompletionAssembler } from "../../cache/assemble.js";
import { cacheApplies, cacheKey, readCacheHeader, type CacheTicket } from "../../cache/index.js";
import { ProxyError, toProxyError } from "../../errors.js";
import { headerUsd } from "../../money.js";
import { optimizeRequest } from "../../optimize/index.js";
import { estimateCost, expectedOutputTokens } from "../../pricing/cost.js";
import { parseChatBody, type ChatBody } from "../../request/parse.js";
import { clientOutputLimit } from "../../routing/adapt.js";
import { planRoute } from "../../routing/plan.js";
import type { Services } from "../../services.js";
import { countPromptTokens } from "../../tokens/count.js";
import { accountRequest, type RequestTrace } from "../../usage/account.js";
import { forwardWithFallback } from "../../upstream/forward.js";
import { passedErrorHeaders, readJsonAnswer, relayStream } from "../../upstream/relay.js";
import { readRequestType } from "../request-headers.js";
import { respondFromCache, SSE_HEADERS, tollgateHeaders } from "../respond.js";

/**
 * POST /v1/chat/completions, in the order of SPEC 3: authenticate and parse, route, reduce
 * tokens, look in the cache, reserve, forward (with fallback), relay and account. Each step
 * lives in its own module; this file only sequences them.
 */
export function chatCompletions(services: Services) {
  const { config } = services;

  /**
   * The estimated cost of `body` on a model: its prompt in the model's encoding plus the expected
   * output. The prompt counts are kept, so the usage record reuses the one of the model chosen.
   */
  const estimator = (body: ChatBody) => {
    const promptTokens = new Map<string, number>();
    const estimate = async (model: string) => {
      const modelConfig = config.models[model]!;
      const tokens = await countPromptTokens(body.messages, services.encodingOf(model), body.tools);
      promptTokens.set(model, tokens);
      const output = expectedOutputTokens(tokens, clientOutputLimit(body), config.budgets.output_estimate, modelConfig);
      return estimateCost(modelConfig, tokens, output, body.n ?? 1);
    };
    return { estimate, promptTokens };
  };

  return async (c: Context): Promise<Response> => {
    services.lifecycle.enter();
    // A streamed answer outlives this function: its end, not the return, leaves the lifecycle
    // and releases the cache ticket (both are handed to the stream and cleared here).
    let ending: (() => void) | undefined = () => services.lifecycle.leave();
    let ticket: CacheTicket | undefined;
    try {
      if (services.lifecycle.draining) {
        throw new ProxyError("shutting_down", "The proxy is shutting down; retry on another replica.", null, { "retry-after": "1" });
      }
      const startedMono = performance.now();
      const startedAt = services.clock.now();
      const requestId = `chatcmpl-tg-${randomUUID()}`;
      const signal = c.req.raw.signal;

      // 1-2. Authenticate, then parse and validate (no CPU spent on bodies from unknown callers).
      const caller = services.auth.authenticate(c.req.header("authorization"));
      const body = parseChatBody(await c.req.text());
      const requestType = readRequestType(c.req.header("x-tollgate-request-type"));
      const cacheHeader = readCacheHeader(c.req.header("x-tollgate-cache"));

      // 3. Classify and pick a model.
      const { decision } = await planRoute(services, body, caller, requestType, {
        tier: c.req.header("x-tollgate-tier"),
        maxTier: c.req.header("x-tollgate-max-tier"),
      });

      // 5 (before the estimate, which must see the tokens actually sent). Token reduction for the routed model.
      const optimized = await optimizeRequest(body, requestType, config.optimize, config.models[decision.model]!, services.encodingOf(decision.model));
      const sendBody = optimized.body;
      const { estimate, promptTokens } = estimator(sendBody);

      // Look in the response cache: a hit costs nothing and reserves nothing.
      const cache = services.cache && cacheApplies(cacheHeader, sendBody) ? services.cache : undefined;
      const key = cache && cacheKey(decision.model, sendBody);
      let cached = cache && key ? await cache.get(key) : null;
      if (cache && key && cached === null) {
        ticket = await cache.acquire(key, signal);
        if (!ticket.leader) cached = await cache.get(key);
      }

      // 4. Reserve the estimate, downgrading when the budget says so.
      const { reservation, day } = cached
        ? { reservation: { requestId, model: decision.model, amount: 0, counters: [], unrecorded: false, cooling: [] }, day: services.windows.at(startedAt).day }
        : await holdBudget(services, requestId, caller, decision.candidates, (model) => estimate(model));
      const modelConfig = config.models[reservation.model]!;
      const trace: RequestTrace = {
        requestId,
        startedAt,
        startedMono,
        caller,
        requestType,
        requestedModel: body.model,
        tier: modelConfig.tier,
        route: reservation.cooling.length > 0 ? "fallback" : reservation.model === decision.model ? decision.route : "budget-downgrade",
        model: reservation.model,
        modelConfig,
        stream: body.stream === true,
        clientWantsUsage: body.stream_options?.include_usage === true,
        promptTokens: promptTokens.get(reservation.model) ?? (await countPromptTokens(sendBody.messages, services.encodingOf(reservation.model), sendBody.tools)),
        estimate: reservation.amount,
        reservation,
        day,
        fallbackFrom: [...reservation.cooling],
        optimizerSavedTokens: optimized.optimizerSavedTokens,
        droppedMessages: optimized.droppedMessages,
        droppedTokens: optimized.droppedTokens,
        outputLimit: optimized.outputLimit ?? null,
      };
      if (cached) return await respondFromCache(services, trace, cached, tollgateHeaders(trace, config.models[trace.model]!.upstream_model ?? trace.model));
      trace.forwardedMono = performance.now();
      services.metrics.overhead.observe((trace.forwardedMono - startedMono) / 1000);

      // 6. Forward upstream, falling back within the tier.
      let forwarded;
      try {
        forwarded = await forwardWithFallback(services, trace, sendBody, signal, estimate);
      } catch (err) {
        // The client left before any answer: bill the prompt the upstream may already have read.
        const clientGone = signal.aborted;
        await accountRequest(services, trace, clientGone ? { status: 499, outputText: [] } : { status: (err as ProxyError).status ?? 502, nothingBilled: true });
        throw err;
      }
      const { reply, upstreamModel } = forwarded;
      const headers = tollgateHeaders(trace, upstreamModel);
      if (cache) headers["x-tollgate-cache"] = "miss";

      // 7. Relay the answer and account for it.
      if (forwarded.errorText !== undefined || reply.status >= 400) {
        const text = forwarded.errorText ?? (await readJsonAnswer(reply)).text;
        await accountRequest(services, trace, { status: reply.status, nothingBilled: true });
        const type = String(reply.headers["content-type"] ?? "application/json");
        return new Response(text, { status: reply.status, headers: { ...headers, ...passedErrorHeaders(reply), "content-type": type } });
      }
      if (!trace.stream) {
        const { text, outcome, replayable } = await readJsonAnswer(reply);
        const accounted = await accountRequest(services, trace, outcome);
        if (cache && key && outcome.usage && replayable) await cache.put(key, text).catch(() => {});
        headers["x-tollgate-cost"] = headerUsd(accounted.cost);
        headers["content-type"] = String(reply.headers["content-type"] ?? "application/json");
        return new Response(text, { status: reply.status, headers });
      }

      const assembler = cache ? new CompletionAssembler() : undefined;
      const streamTicket = ticket;
      const leave = ending;
      ticket = undefined;
      ending = undefined;
      const stream = relayStream(reply, {
        clientWantsUsage: trace.clientWantsUsage,
        onChunk: assembler && ((chunk) => assembler.add(chunk)),
        onEnd: async (outcome) => {
          try {
            await accountRequest(services, trace, outcome);
            const answer = outcome.status === 200 ? assembler?.json() : undefined;
            if (cache && key && answer) await cache.put(key, answer).catch(() => {});
          } finally {
            streamTicket?.release();
            leave();
          }
        },
      });
      return new Response(stream, { status: 200, headers: { ...headers, ...SSE_HEADERS } });
    } catch (err) {
      const error = toProxyError(err);
      if (error.code === "internal_error") services.logger.log("error", "internal_error", { error: (err as Error)?.stack ?? String(err) });
      services.metrics.rejected.inc({ code: error.code });
      return error.toResponse();
    } finally {
      ticket?.release();
      ending?.();
    }
  };
}
