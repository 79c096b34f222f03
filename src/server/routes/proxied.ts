import type { Context } from "hono";
import { BudgetHold } from "../../budget/hold.js";
import { cooldownKey } from "../../budget/reserve.js";
import { CompletionAssembler } from "../../cache/assemble.js";
import { lookInCache } from "../../cache/lookup.js";
import { headerUsd } from "../../money.js";
import { planRequest, type ChatRequest, type Prepared, type RequestPlan } from "../../plan/index.js";
import { restoreBigIntegers } from "../../request/big-integers.js";
import { adaptParams } from "../../routing/adapt.js";
import type { Services } from "../../services.js";
import { accountRequest, recordHeader, type Outcome, type Served } from "../../usage/account.js";
import { forwardWithFallback, type Forwarded } from "../../upstream/fallback.js";
import { passedErrorHeaders, readJsonAnswer, relayStream, passedAnswerHeaders } from "../../upstream/relay.js";
import { maskSecrets } from "../../upstream/secrets.js";
import { admitChat } from "../admit.js";
import { exchange, type Answer, type Exchange } from "../exchange.js";
import { respondFromCache, SSE_HEADERS, tollgateHeaders } from "../respond.js";

const ENDPOINT = "chat.completions";

/**
 * POST /v1/chat/completions, in the order of SPEC 3. Each step lives in its own folder; this
 * file only sequences them and turns the upstream's answer into the client's.
 */
export function chatCompletions(services: Services) {
  return exchange(services, async (ex, c) => {
    const request = await admitChat(services, c);
    const plan = await planRequest(services, request);
    const routed = await plan.prepare(plan.decision.model);

    const cached = await lookInCache(services, ex, request, routed, c.req.header("x-tollgate-cache"));
    if (cached.kind === "hit") return { response: await respondFromCache(services, served(request, plan, routed, plan.decision.route), cached.text) };

    const hold = await BudgetHold.take(services, {
      requestId: request.id,
      caller: request.caller,
      candidates: plan.decision.candidates,
      price: plan.prepare,
      header: (model) => recordHeader(request, ENDPOINT, model, services, plan.decision.route),
    });
    let forwardedAt: number | undefined;
    const servedNow = (): Served => ({ ...served(request, plan, hold.priced, routeOf(plan, hold)), fallbackFrom: hold.fallbackFrom, forwardedAt });
    ex.defer(() => hold.close(() => accountUnfinished(services, ex, servedNow(), forwardedAt !== undefined, (cost, record) => hold.settle(cost, record))));

    forwardedAt = performance.now();
    services.metrics.overhead.observe((forwardedAt - request.startedMono) / 1000);
    const forwarded = await forwardWithFallback(hold.priced, {
      send: (candidate) => sendUpstream(services, ex, candidate),
      next: async (failed) => ((await fallbackTo(services, hold, failed)) ? hold.priced : undefined),
      coolDown: (model, ms) => services.store.setValue(cooldownKey(model), "1", ms).then(() => undefined, () => undefined),
      now: () => services.clock.now(),
    });
    const settle = (cost: number, record: Parameters<BudgetHold<Prepared>["settle"]>[1]) => hold.settle(cost, record);
    return relayAnswer(services, ex, servedNow(), hold.capped, forwarded, cached.kind === "miss" ? cached.store : undefined, settle);
  });
}

function served(request: ChatRequest, plan: RequestPlan, prepared: Prepared, route: string): Served {
  return { request, endpoint: ENDPOINT, prepared, route, fallbackFrom: [], outputLimit: plan.outputLimit, optimizerSavedTokens: plan.optimizerSavedTokens };
}

/** `x-tollgate-route`: why the request went where it went. */
function routeOf(plan: RequestPlan, hold: BudgetHold<Prepared>): string {
  if (hold.fallbackFrom.length > 0 || hold.cooling.length > 0) return "fallback";
  return hold.model === plan.decision.model ? plan.decision.route : "budget-downgrade";
}

/** The request as the model receives it: its name, its parameters, usage asked for on streams. */
function sendUpstream(services: Services, ex: Exchange, prepared: Prepared) {
  const upstreamModel = prepared.config.upstream_model ?? prepared.model;
  const body = adaptParams(prepared.body, prepared.config, upstreamModel);
  const stream = body.stream === true;
  if (stream) body.stream_options = { ...(body.stream_options ?? {}), include_usage: true };
  return services.upstream.post({ upstream: prepared.config.upstream, path: "/chat/completions", body: restoreBigIntegers(JSON.stringify(body)), signal: ex.signal, finishAfterHeaders: !stream });
}

/** Fallback within the tier (`routing.fallback`): the budget moves to the next untried model. */
async function fallbackTo(services: Services, hold: BudgetHold<Prepared>, failed: Prepared): Promise<boolean> {
  const tier = failed.config.tier;
  const setting = services.config.routing.fallback;
  if (!(typeof setting === "boolean" ? setting : (setting[tier] ?? true))) return false;
  const tried = new Set([...hold.fallbackFrom, failed.model]);
  const alternatives = services.tierModels[tier].filter((m) => !tried.has(m));
  return alternatives.length > 0 && hold.moveTo(alternatives);
}

/**
 * Accounts for a request that ended without an answer being accounted: the upstream failed (nothing
 * billed), or the client left or something broke after the request went upstream (its prompt was
 * read, so it is charged, counted locally). A request that never went upstream holds nothing.
 */
async function accountUnfinished(services: Services, ex: Exchange, served: Served, forwarded: boolean, settle: (cost: number, record: Parameters<BudgetHold<Prepared>["settle"]>[1]) => Promise<void>): Promise<void> {
  if (!forwarded) return;
  const failure = ex.failure as { status?: number; code?: string } | undefined;
  const upstreamFailed = !ex.clientGone && typeof failure?.code === "string" && failure.code.startsWith("upstream_");
  const outcome: Outcome = ex.clientGone
    ? { status: 499, outputText: [] }
    : upstreamFailed
      ? { status: failure.status ?? 502, nothingBilled: true }
      : { status: 500, outputText: [] };
  await accountRequest(services, served, outcome, settle);
}

async function relayAnswer(
  services: Services,
  ex: Exchange,
  served: Served,
  capped: boolean,
  forwarded: Forwarded<Prepared>,
  storeInCache: ((answer: string) => Promise<void>) | undefined,
  settle: (cost: number, record: Parameters<BudgetHold<Prepared>["settle"]>[1]) => Promise<void>,
): Promise<Answer> {
  const { reply } = forwarded;
  const headers = { ...tollgateHeaders(served, capped), ...passedAnswerHeaders(reply) };
  if (storeInCache) headers["x-tollgate-cache"] = "miss";

  if (forwarded.errorText !== undefined || reply.status >= 400) {
    const text = forwarded.errorText ?? (await readJsonAnswer(reply)).text;
    await accountRequest(services, served, { status: reply.status, nothingBilled: true }, settle);
    const type = String(reply.headers["content-type"] ?? "application/json");
    return {
      response: new Response(maskSecrets(text, services.upstream.secrets), {
        status: reply.status,
        headers: { ...headers, ...passedErrorHeaders(reply), "content-type": type },
      }),
    };
  }

  if (served.request.body.stream !== true) {
    const { text, outcome, replayable } = await readJsonAnswer(reply);
    const accounted = await accountRequest(services, served, { ...outcome, status: ex.clientGone ? 499 : outcome.status }, settle);
    if (storeInCache && outcome.usage && replayable) await storeInCache(text);
    headers["x-tollgate-cost"] = headerUsd(accounted.cost);
    headers["content-type"] = String(reply.headers["content-type"] ?? "application/json");
    return { response: new Response(text, { status: reply.status, headers }) };
  }

  const assembler = storeInCache ? new CompletionAssembler() : undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const stream = relayStream(reply, {
    clientWantsUsage: served.request.body.stream_options?.include_usage === true,
    onChunk: assembler && ((chunk) => assembler.add(chunk)),
    onEnd: async (outcome) => {
      try {
        await accountRequest(services, served, outcome, settle);
        const answer = outcome.status === 200 ? assembler?.json() : undefined;
        if (storeInCache && answer) await storeInCache(answer);
      } finally {
        finish();
      }
    },
  });
  return { response: new Response(stream, { status: 200, headers: { ...headers, ...SSE_HEADERS } }), finished };
}

export type { Context };
