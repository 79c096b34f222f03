import type { Config, Price, Tier } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { classifyTier, type CompiledRule, type RequestFeatures } from "./classify.js";
import { scoringInput } from "./features.js";
import { createScorer, loadRouterModel } from "./model.js";
import { createScoreTiers, type ScoreTiers, type ScoringOptions } from "./scored.js";
import { tierForScore, type TargetShare, type Thresholds } from "./share.js";
import { isTier, lowerTier, TIER_RANK, tiersAtOrBelow } from "./tiers.js";
import { priceCeiling, unknownModelRoute } from "./unknown.js";

export interface RouteInput {
  clientModel: string;
  features: RequestFeatures;
  /** The key's `max_tier`. */
  keyMaxTier?: Tier;
  /** Header `x-tollgate-max-tier`. */
  headerMaxTier?: string;
  /** Header `x-tollgate-tier`. */
  headerTier?: string;
  /** The tier an unconfigured client model stands for (a Claude family name, routing/claude.ts): read as a configured model of that tier. */
  familyTier?: Tier;
}

export interface RouteDecision {
  tier: Tier;
  model: string;
  /** Short reason for `x-tollgate-route`. */
  route: string;
  /**
   * Models to try in order if the first does not fit the budget: the tier's other models,
   * then lower tiers, most capable first. The first entry is `model`.
   */
  candidates: string[];
  /** How likely the stronger tier is needed (0..1), for every routed request; none for a named-model endpoint. */
  score?: number;
}

export interface ScoreTierState {
  thresholds: Thresholds;
  /** The target shares, when the thresholds follow traffic. */
  target?: TargetShare;
  /** Scores in the shared window at the last sync. */
  windowCount?: number;
}

export interface Router {
  route(input: RouteInput): RouteDecision;
  /** The same decision, not counted toward the target share: what /v1/estimate answers. */
  preview(input: RouteInput): RouteDecision;
  /** The routing score's thresholds in force. */
  scoreTiers(): ScoreTierState;
  /** Starts the target share's background sync, once the store is connected. */
  start(): void;
  /** Stops the target share's background sync. */
  close(): void;
}

export interface RouterOptions extends ScoringOptions {
  /** The catalogue's price of a model the configuration does not name, when it knows one. */
  cataloguePrice?: (model: string) => Price | undefined;
}

function parseTierHeader(value: string | undefined, header: string): Tier | undefined {
  if (value === undefined) return undefined;
  const tier = value.trim().toLowerCase();
  if (!isTier(tier)) throw new ProxyError("invalid_request", `header ${header} must be economy, standard or premium`, header);
  return tier;
}

/**
 * Routing decisions are pure (configuration and request in, decision out), except that a target
 * share counts the scores it routes and reads its thresholds from the replicas' shared window.
 */
export function createRouter(config: Config, rules: CompiledRule[], tierModels: Record<Tier, string[]>, options: RouterOptions = {}): Router {
  const autoModels = new Set(config.routing.auto_models);
  const scorer = createScorer(loadRouterModel(config.routing.model_file));
  const scoreTiers: ScoreTiers = createScoreTiers(config.routing, scorer.quantiles, options);
  const configured = Object.keys(config.models).filter((m) => config.models[m]!.kind === "chat");

  /** The tier actually served: `tier` if it has models, else the nearest lower, else the nearest higher. */
  function servedTier(tier: Tier): Tier {
    for (const t of tiersAtOrBelow(tier)) if (tierModels[t].length > 0) return t;
    for (const t of ["economy", "standard", "premium"] as const) if (tierModels[t].length > 0) return t;
    return tier;
  }

  function candidatesFrom(model: string, tier: Tier): string[] {
    const list = [model];
    for (const t of tiersAtOrBelow(tier)) for (const m of tierModels[t]) if (!list.includes(m)) list.push(m);
    return list;
  }

  function decide(input: RouteInput, count: boolean): RouteDecision {
    const { clientModel, features } = input;
    // Own keys only (a client's "constructor" is not a model), and chat models only.
    const known = Object.hasOwn(config.models, clientModel);
    const requested = known && config.models[clientModel]!.kind === "chat" ? config.models[clientModel] : undefined;
    // A Claude name of a known family (the Messages API) is routed by its family's tier, as a configured name is.
    const familyTier = !autoModels.has(clientModel) && !requested ? input.familyTier : undefined;
    // A name nobody configured (an SDK's default) is routed as auto, unless the configuration refuses it.
    const unknown = !autoModels.has(clientModel) && !known && !familyTier && config.routing.unknown_models === "auto";
    const isAuto = autoModels.has(clientModel) || unknown;
    if (!isAuto && !requested && !familyTier) {
      throw new ProxyError(
        "model_not_found",
        `The model '${clientModel}' is not ${known ? "a chat model" : "configured"}. Use one of: ${[...autoModels, ...configured].join(", ")}`,
        "model",
      );
    }
    const mode = isAuto ? "auto" : config.routing.client_model === "ignore" ? "auto" : config.routing.client_model;
    const namedTier = requested?.tier ?? familyTier;
    const exact = requested ? clientModel : undefined;
    const unknownPrice = unknown ? options.cataloguePrice?.(clientModel) : undefined;
    // Every routed request gets its score (a few microseconds), whatever then decides the tier.
    const score = scorer.score(scoringInput(features));

    const headerMax = parseTierHeader(input.headerMaxTier, "x-tollgate-max-tier");
    const forced = parseTierHeader(input.headerTier, "x-tollgate-tier");
    // An unknown name the catalogue prices is a ceiling, as a configured name's tier is.
    let cap: Tier = unknownPrice ? priceCeiling(unknownPrice, tierModels, config.models) : "premium";
    if (input.keyMaxTier) cap = lowerTier(cap, input.keyMaxTier);
    if (headerMax) cap = lowerTier(cap, headerMax);

    let tier: Tier;
    let route: string;
    let exactModel: string | undefined;
    if (forced) {
      tier = input.keyMaxTier ? lowerTier(forced, input.keyMaxTier) : forced;
      route = "header";
      // A forced tier that is the requested model's own keeps the very model asked for.
      if (requested && requested.tier === tier) exactModel = clientModel;
    } else if (mode === "pin" && namedTier) {
      tier = namedTier;
      route = "client-model";
      exactModel = exact;
    } else {
      const scored = config.routing.scored ? { score, tier: tierForScore(score, scoreTiers.thresholds()) } : undefined;
      const classified = classifyTier(features, rules, config.routing, scored);
      if (classified.scored && count) scoreTiers.observe(score);
      tier = classified.tier;
      route = classified.route;
      if (mode === "ceiling" && namedTier) {
        if (TIER_RANK[classified.tier] >= TIER_RANK[namedTier]) {
          tier = namedTier;
          route = "client-model";
          exactModel = exact;
        }
      }
    }
    if (!forced || headerMax) {
      const capped = lowerTier(tier, cap);
      if (capped !== tier) {
        tier = capped;
        route = "tier-cap";
        exactModel = undefined;
      }
    }
    if (unknown) route = unknownModelRoute(clientModel);
    const served = servedTier(tier);
    if (served !== tier) exactModel = undefined;
    const model = exactModel ?? tierModels[served][0]!;
    return { tier: served, model, route, candidates: candidatesFrom(model, served), score };
  }

  return {
    route: (input) => decide(input, true),
    preview: (input) => decide(input, false),
    scoreTiers: () => {
      const windowCount = scoreTiers.windowCount();
      return {
        thresholds: scoreTiers.thresholds(),
        ...(scoreTiers.target ? { target: scoreTiers.target } : {}),
        ...(windowCount === undefined ? {} : { windowCount }),
      };
    },
    start: () => scoreTiers.start(),
    close: () => scoreTiers.close(),
  };
}
