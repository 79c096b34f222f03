import type { Config, ModelConfig, Tier } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { chatShape } from "../endpoints/chat.js";
import { chatSide, type EndpointShape, type RequestBody } from "../endpoints/shape.js";
import { applyOutputLimit } from "../optimize/output-limit.js";
import { optimizePrompt } from "../optimize/prompt.js";
import type { ChatBody } from "../request/parse.js";
import { extractFeatures } from "../routing/features.js";
import type { RouteDecision, Router } from "../routing/route.js";
import { TIER_RANK } from "../routing/tiers.js";
import { unknownModelRoute } from "../routing/unknown.js";
import type { Caller } from "../caller.js";
import type { EncodingName } from "../tokens/count.js";
import { countChatRequest, sizeFloorTokens, sum, type RequestTokens } from "../tokens/request.js";
import { DEFAULT_IMAGE_FORMULA, imageFormulaFor, type ImageFormula } from "../tokens/media.js";
import { DEFAULT_OUTPUT_RESERVE, fitToModel, priceFitted, type Fitted, type Prepared } from "./prepare.js";
import { claudeModel } from "../routing/claude.js";
import { keepServable } from "./protocols.js";

export type { Prepared } from "./prepare.js";

/** A request as admitted: authenticated, parsed, its tollgate headers read. */
export interface ProxiedRequest<B extends RequestBody = RequestBody> {
  id: string;
  /** Wall-clock start (the injected clock) and a monotonic one (performance.now()) for latency. */
  startedAt: number;
  startedMono: number;
  caller: Caller;
  body: B;
  /** Length of the body as received, for the size floor of the estimate. */
  bodyChars: number;
  /** The client's text and the object parsed from it: the upstream's body keeps its bytes where nothing changed (request/splice.ts). */
  source?: { text: string; body: object };
  requestType: string;
  /** `x-tollgate-tier` and `x-tollgate-max-tier`. */
  tierHeader?: string;
  maxTierHeader?: string;
  /** Input the upstream holds for this request already (a previous response's context), in tokens. */
  priorTokens?: number;
  /**
   * The upstream holds input for this request that tollgate cannot size (a conversation whose items
   * did not all pass through it): it is held as the whole context window the answer leaves.
   */
  priorUnknown?: boolean;
  /** Only these models may serve it (the key's models, a previous response's upstream); undefined: any. */
  allowedModels?: ReadonlySet<string>;
  /** Why (the route label when it changes the model): `key-models` or `previous-response`. */
  restrictedBy?: string;
  /** The proxy's own request on the caller's behalf (a compression summary): its `route` in records. */
  routeLabel?: string;
  /** The request's headers, names in lower case: routing rules may match them. */
  headers?: Readonly<Record<string, string>>;
  /** `x-tollgate-batch`: how long the request may wait to share a call. */
  batchWaitMs?: number;
  /** Prompt tokens (o200k) before and after compression, when it replaced older turns by a summary. */
  compressed?: { before: number; after: number };
}

export type ChatRequest = ProxiedRequest<ChatBody>;

export interface RequestPlan<B extends RequestBody = RequestBody> {
  decision: RouteDecision;
  /** The request made ready for a model: fitted to its window and priced. Computed once per model. */
  prepare(model: string): Promise<Prepared<B>>;
  /** The output limit the proxy set from the request type, when it set one. */
  outputLimit: number | undefined;
  /** Prompt tokens the prompt optimizer removed. */
  optimizerSavedTokens: number;
  /** The record's route for the proxy's own requests (a compression summary), whatever the routing said. */
  routeLabel?: string;
}

export interface PlanServices {
  config: Config;
  router: Router;
  encodingOf(model: string): EncodingName;
}

/**
 * Token counts of a request's bodies, once per (body, encoding, image formula): routing, every
 * candidate model and the usage record share them.
 */
class Counts {
  private readonly byBody = new WeakMap<ChatBody, Map<string, Promise<RequestTokens>>>();

  of(body: ChatBody, encoding: EncodingName, images: ImageFormula = DEFAULT_IMAGE_FORMULA): Promise<RequestTokens> {
    let perCount = this.byBody.get(body);
    if (!perCount) this.byBody.set(body, (perCount = new Map()));
    const key = `${encoding}/${images.id}`;
    let counted = perCount.get(key);
    if (!counted) perCount.set(key, (counted = countChatRequest(body, encoding, images)));
    return counted;
  }
}

const promptOf = (t: RequestTokens) => sum(t.messages) + t.fixed;

/** The conversation's tokens: every message but the system prompt, and nothing outside the messages (tools). */
function conversationTokens(view: ChatBody, tokens: RequestTokens): number {
  let total = 0;
  view.messages.forEach((message, i) => {
    if (message.role !== "system" && message.role !== "developer") total += tokens.messages[i] ?? 0;
  });
  return total;
}

/**
 * The route of an endpoint whose model is named, not classified (embeddings): that model only. A
 * name nobody configured goes to `routing.default_embedding_model` (else the first embedding model),
 * unless `routing.unknown_models: reject`.
 */
function namedModel(config: Config, model: string, kind: "chat" | "embedding"): RouteDecision {
  const known = Object.hasOwn(config.models, model);
  const names = Object.entries(config.models).filter(([, c]) => c.kind === kind).map(([n]) => n);
  if (!known && config.routing.unknown_models === "auto") {
    const fallback = (kind === "embedding" ? config.routing.default_embedding_model : undefined) ?? names[0];
    if (fallback !== undefined) return { tier: config.models[fallback]!.tier, model: fallback, route: unknownModelRoute(model), candidates: [fallback] };
  }
  if (!known || config.models[model]!.kind !== kind) {
    throw new ProxyError("model_not_found", `The model '${model}' is not a configured ${kind} model. Use one of: ${names.join(", ") || "(none configured)"}`, "model");
  }
  return { tier: config.models[model]!.tier, model, route: "client-model", candidates: [model] };
}

/**
 * Steps 3 and 5 of SPEC 3 as one plan: the tier and the ordered candidates, then, for whichever
 * candidate the budget and fallback settle on, the body fitted and priced for that very model.
 * Downgrade and fallback walk the same candidates, so whatever is sent was fitted and priced for
 * the model it is sent to. The endpoint's shape says how its body reads as a prompt.
 */
export async function planRequest<B extends RequestBody>(services: PlanServices, request: ProxiedRequest<B>, shape: EndpointShape<B>): Promise<RequestPlan<B>> {
  const { config } = services;
  const counts = new Counts();
  const view = shape.view(request.body);
  const routingTokens = await counts.of(view, "o200k_base");
  // Anthropic's clients name dated snapshots and families (routing/claude.ts).
  const named = shape.protocol === "anthropic" ? claudeModel(config, request.body.model) : { model: request.body.model };
  let decision =
    shape.modelKind === "embedding"
      ? namedModel(config, request.body.model, "embedding")
      : services.router.route({
          clientModel: named.model,
          features: extractFeatures(view, promptOf(routingTokens) + (request.priorTokens ?? 0), request.requestType, {
            messageTokens: conversationTokens(view, routingTokens) + (request.priorTokens ?? 0),
            ...(request.headers ? { headers: request.headers } : {}),
          }),
          keyMaxTier: request.caller.maxTier,
          headerMaxTier: request.maxTierHeader,
          headerTier: request.tierHeader,
          // Spread last: fields written after a spread in a literal are slow on V8.
          ...(named.familyTier ? { familyTier: named.familyTier } : {}),
        });
  if (request.allowedModels) decision = restrictTo(config, decision, request.allowedModels, shape.modelKind, request.caller.maxTier, request.restrictedBy ?? "key-models");
  decision = keepServable(config, decision, shape, request.body);

  // Token reduction that does not depend on the model, for a chat body: the output limit per
  // request type and the prompt optimizer.
  let body = request.body;
  let outputLimit: number | undefined;
  let optimizerSavedTokens = 0;
  const chatBody = chatSide(shape);
  if (chatBody) {
    const limited = applyOutputLimit(view, request.requestType, config.optimize.output_limits);
    let chat = limited.body;
    outputLimit = limited.applied;
    if (config.optimize.prompt) {
      const { messages, changed } = optimizePrompt(chat.messages);
      if (changed > 0) {
        const optimized = { ...chat, messages };
        optimizerSavedTokens = Math.max(0, promptOf(routingTokens) - promptOf(await counts.of(optimized, "o200k_base")));
        chat = optimized;
      }
    }
    body = chatBody.fromChat(chat);
  }
  const countedView = chatBody ? chatBody.toChat(body) : view;
  const floorTokens = sizeFloorTokens(request.bodyChars, view);
  /** The prior context held for on `model`: what is known of it, else all the window the answer leaves. */
  const priorFor = (model: ModelConfig, promptTokens: number): number => {
    if (!request.priorUnknown) return request.priorTokens ?? 0;
    const answer = shape.outputLimit(body) ?? model.max_output_tokens ?? DEFAULT_OUTPUT_RESERVE;
    return Math.max(0, model.context_window - promptTokens - answer);
  };

  const prepared = new Map<string, Promise<Prepared<B>>>();
  const prepareFor = async (name: string): Promise<Prepared<B>> => {
    const model = config.models[name]!;
    const tokens = await counts.of(countedView, services.encodingOf(name), imageFormulaFor(model.upstream_model ?? name));
    const prior = priorFor(model, promptOf(tokens));
    const before = promptOf(tokens) + prior;
    let fitted: Fitted;
    if (shape.modelKind === "embedding") fitted = { body: countedView, droppedMessages: 0, droppedTokens: 0, promptTokens: before };
    else fitted = fitToModel(countedView, tokens, model, shape.rewritable && config.optimize.fit_context, shape.outputLimit(body), prior);
    const sent = chatBody ? chatBody.fromChat(fitted.body) : body;
    return priceFitted({ name, model, shape, body: sent, fitted, tokens, floorTokens: floorTokens + prior, promptBefore: before, outputEstimate: config.budgets.output_estimate, webSearch: config.budgets.web_search });
  };
  return {
    decision,
    outputLimit,
    optimizerSavedTokens,
    routeLabel: request.routeLabel,
    prepare(name) {
      let p = prepared.get(name);
      if (!p) prepared.set(name, (p = prepareFor(name)));
      return p;
    },
  };
}

/**
 * Keeps only the candidates allowed to serve the request (the key's models, the upstream that holds
 * its context). When none of the routed ones is, the first allowed model of the endpoint's kind
 * within the key's tier cap serves it; when there is none, the key may not make this request.
 */
function restrictTo(config: Config, decision: RouteDecision, allowed: ReadonlySet<string>, kind: "chat" | "embedding", keyMaxTier: Tier | undefined, label: string): RouteDecision {
  const candidates = decision.candidates.filter((m) => allowed.has(m));
  const list =
    candidates.length > 0
      ? candidates
      : [...allowed].filter((m) => config.models[m]?.kind === kind && (keyMaxTier === undefined || TIER_RANK[config.models[m]!.tier] <= TIER_RANK[keyMaxTier]));
  if (list.length === 0) throw new ProxyError("model_not_allowed", "No model this key may use can serve this request.", "model");
  return { ...decision, model: list[0]!, candidates: list, route: list[0] === decision.model ? decision.route : label };
}

export { chatShape };
