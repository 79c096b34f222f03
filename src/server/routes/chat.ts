import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { ModelConfig } from "../../config/schema.js";
import { holdBudget } from "../../budget/hold.js";
import { ProxyError, toProxyError } from "../../errors.js";
import { headerUsd } from "../../money.js";
import { estimateCost, expectedOutputTokens } from "../../pricing/cost.js";
import { parseChatBody, type ChatBody } from "../../request/parse.js";
import { adaptParams, clientOutputLimit } from "../../routing/adapt.js";
import { planRoute } from "../../routing/plan.js";
import type { Services } from "../../services.js";
import { countPromptTokens } from "../../tokens/count.js";
import { accountRequest, type RequestTrace } from "../../usage/account.js";
import { UpstreamFailure, type UpstreamReply } from "../../upstream/client.js";
import { passedErrorHeaders, readJsonAnswer, relayStream } from "../../upstream/relay.js";
import { readRequestType } from "../request-headers.js";

/**
 * POST /v1/chat/completions, in the order of SPEC 3: parse, authenticate, route, reserve,
 * adapt, forward, account. Each step lives in its own module; this file only sequences them.
 */
export function chatCompletions(services: Services) {
  return async (c: Context): Promise<Response> => {
    services.lifecycle.enter();
    let leaveOnReturn = true;
    try {
      if (services.lifecycle.draining) {
        throw new ProxyError("shutting_down", "The proxy is shutting down; retry on another replica.", null, { "retry-after": "1" });
      }
      const startedMono = performance.now();
      const startedAt = services.clock.now();
      const requestId = `chatcmpl-tg-${randomUUID()}`;

      // 1-2. Authenticate, then parse and validate (no CPU spent on bodies from unknown callers).
      const caller = services.auth.authenticate(c.req.header("authorization"));
      const body = parseChatBody(await c.req.text());
      const requestType = readRequestType(c.req.header("x-tollgate-request-type"));

      // 3. Classify and pick a model.
      const { decision } = await planRoute(services, body, caller, requestType, {
        tier: c.req.header("x-tollgate-tier"),
        maxTier: c.req.header("x-tollgate-max-tier"),
      });

      // 4. Estimate and reserve, downgrading when the budget says so.
      const estimates = new Map<string, { cost: number; promptTokens: number }>();
      const estimate = async (model: string, config: ModelConfig) => {
        const promptTokens = await countPromptTokens(body.messages, services.encodingOf(model), body.tools);
        const output = expectedOutputTokens(promptTokens, clientOutputLimit(body), services.config.budgets.output_estimate, config);
        const cost = estimateCost(config, promptTokens, output, body.n ?? 1);
        estimates.set(model, { cost, promptTokens });
        return cost;
      };
      const { reservation, day } = await holdBudget(services, requestId, caller, decision.candidates, estimate);
      const model = reservation.model;
      const modelConfig = services.config.models[model]!;
      const trace: RequestTrace = {
        requestId,
        startedAt,
        startedMono,
        caller,
        requestType,
        requestedModel: body.model,
        tier: modelConfig.tier,
        route: model === decision.model ? decision.route : "budget-downgrade",
        model,
        modelConfig,
        stream: body.stream === true,
        promptTokens: estimates.get(model)!.promptTokens,
        estimate: reservation.amount,
        reservation,
        day,
        fallbackFrom: [],
        savedPromptTokens: 0,
      };

      // 5. Adapt parameters for the routed model.
      const upstreamModel = modelConfig.upstream_model ?? model;
      const upstreamBody = adaptParams(body, modelConfig, upstreamModel);
      const clientWantsUsage = body.stream_options?.include_usage === true;
      if (trace.stream) upstreamBody.stream_options = { ...(body.stream_options ?? {}), include_usage: true };

      const headers: Record<string, string> = {
        "x-request-id": requestId,
        "x-tollgate-tier": trace.tier,
        "x-tollgate-model": upstreamModel,
        "x-tollgate-route": trace.route,
        "x-tollgate-estimated-cost": headerUsd(reservation.amount),
      };
      services.metrics.overhead.observe((performance.now() - startedMono) / 1000);

      // 6. Forward upstream.
      let reply: UpstreamReply;
      try {
        reply = await services.upstream.chatCompletion({
          upstream: modelConfig.upstream,
          body: JSON.stringify(upstreamBody),
          signal: c.req.raw.signal,
        });
      } catch (err) {
        const failure = err instanceof UpstreamFailure ? err : undefined;
        const clientGone = c.req.raw.signal.aborted;
        // The client left before any answer: bill the prompt the upstream may already have read.
        await accountRequest(services, trace, clientGone ? { status: 499, outputText: [] } : { status: failure?.status ?? 502, nothingBilled: true });
        throw err;
      }

      // 7. Relay the answer and account for it.
      if (reply.status >= 400 || !trace.stream) {
        const { text, outcome } = await readJsonAnswer(reply);
        const ok = reply.status < 400;
        const accounted = await accountRequest(services, trace, ok ? outcome : { status: reply.status, nothingBilled: true });
        if (ok) headers["x-tollgate-cost"] = headerUsd(accounted.cost);
        else Object.assign(headers, passedErrorHeaders(reply));
        headers["content-type"] = String(reply.headers["content-type"] ?? "application/json");
        return new Response(text, { status: reply.status, headers });
      }

      leaveOnReturn = false;
      const stream = relayStream(reply, {
        clientWantsUsage,
        onEnd: async (outcome) => {
          try {
            await accountRequest(services, trace, outcome);
          } finally {
            services.lifecycle.leave();
          }
        },
      });
      headers["content-type"] = "text/event-stream; charset=utf-8";
      headers["cache-control"] = "no-cache";
      // Chunked from the first byte: no buffering before the first chunk.
      headers["transfer-encoding"] = "chunked";
      return new Response(stream, { status: 200, headers });
    } catch (err) {
      const error = toProxyError(err);
      if (error.code === "internal_error") services.logger.log("error", "internal_error", { error: (err as Error)?.stack ?? String(err) });
      services.metrics.rejected.inc({ code: error.code });
      return error.toResponse();
    } finally {
      if (leaveOnReturn) services.lifecycle.leave();
    }
  };
}

export type { ChatBody };
