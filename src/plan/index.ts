import type { Config } from "../config/schema.js";
import { applyOutputLimit } from "../optimize/output-limit.js";
import { optimizePrompt } from "../optimize/prompt.js";
import type { ChatBody } from "../request/parse.js";
import { extractFeatures } from "../routing/features.js";
import type { RouteDecision, Router } from "../routing/route.js";
import type { Caller } from "../server/auth.js";
import type { EncodingName } from "../tokens/count.js";
import { countChatRequest, sizeFloorTokens, sum, type RequestTokens } from "../tokens/request.js";
import { fitToModel, priceFitted, type Prepared } from "./prepare.js";

export type { Prepared } from "./prepare.js";

/** A chat request as admitted: authenticated, parsed, its tollgate headers read. */
export interface ChatRequest {
  id: string;
  /** Wall-clock start (the injected clock) and a monotonic one (performance.now()) for latency. */
  startedAt: number;
  startedMono: number;
  caller: Caller;
  body: ChatBody;
  /** Length of the body as received, for the size floor of the estimate. */
  bodyChars: number;
  requestType: string;
  /** `x-tollgate-tier` and `x-tollgate-max-tier`. */
  tierHeader?: string;
  maxTierHeader?: string;
}

export interface RequestPlan {
  decision: RouteDecision;
  /** The request made ready for a model: fitted to its window and priced. Computed once per model. */
  prepare(model: string): Promise<Prepared>;
  /** The output limit the proxy set from the request type, when it set one. */
  outputLimit: number | undefined;
  /** Prompt tokens the prompt optimizer removed. */
  optimizerSavedTokens: number;
}

export interface PlanServices {
  config: Config;
  router: Router;
  encodingOf(model: string): EncodingName;
}

/**
 * Token counts of a request's bodies, once per (body, encoding): routing, every candidate model
 * and the usage record share them.
 */
class Counts {
  private readonly byBody = new WeakMap<ChatBody, Map<EncodingName, Promise<RequestTokens>>>();

  of(body: ChatBody, encoding: EncodingName): Promise<RequestTokens> {
    let perEncoding = this.byBody.get(body);
    if (!perEncoding) this.byBody.set(body, (perEncoding = new Map()));
    let counted = perEncoding.get(encoding);
    if (!counted) perEncoding.set(encoding, (counted = countChatRequest(body, encoding)));
    return counted;
  }
}

const promptOf = (t: RequestTokens) => sum(t.messages) + t.fixed;

/**
 * Steps 3 and 5 of SPEC 3 as one plan: the tier and the ordered candidates, then, for whichever
 * candidate the budget and fallback settle on, the body fitted and priced for that very model.
 * Downgrade and fallback walk the same candidates, so whatever is sent was fitted and priced for
 * the model it is sent to.
 */
export async function planRequest(services: PlanServices, request: ChatRequest): Promise<RequestPlan> {
  const { config } = services;
  const counts = new Counts();
  const routingTokens = await counts.of(request.body, "o200k_base");
  const decision = services.router.route({
    clientModel: request.body.model,
    features: extractFeatures(request.body, promptOf(routingTokens), request.requestType),
    keyMaxTier: request.caller.maxTier,
    headerMaxTier: request.maxTierHeader,
    headerTier: request.tierHeader,
  });

  // Token reduction that does not depend on the model: the output limit per request type and the prompt optimizer.
  const limited = applyOutputLimit(request.body, request.requestType, config.optimize.output_limits);
  let body = limited.body;
  let optimizerSavedTokens = 0;
  if (config.optimize.prompt) {
    const { messages, changed } = optimizePrompt(body.messages);
    if (changed > 0) {
      const optimized = { ...body, messages };
      optimizerSavedTokens = Math.max(0, promptOf(routingTokens) - promptOf(await counts.of(optimized, "o200k_base")));
      body = optimized;
    }
  }
  const floorTokens = sizeFloorTokens(request.bodyChars, request.body);

  const prepared = new Map<string, Promise<Prepared>>();
  const prepareFor = async (name: string): Promise<Prepared> => {
    const model = config.models[name]!;
    const tokens = await counts.of(body, services.encodingOf(name));
    const fitted = fitToModel(body, tokens, model, config.optimize.fit_context);
    return priceFitted({ name, model, fitted, tokens, floorTokens, promptBefore: promptOf(tokens), outputEstimate: config.budgets.output_estimate });
  };
  return {
    decision,
    outputLimit: limited.applied,
    optimizerSavedTokens,
    prepare(name) {
      let p = prepared.get(name);
      if (!p) prepared.set(name, (p = prepareFor(name)));
      return p;
    },
  };
}
