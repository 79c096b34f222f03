import type { ModelConfig, Tier } from "../config/schema.js";
import type { Reservation } from "../budget/reserve.js";
import { usageCost, type TokenUsage } from "../pricing/cost.js";
import type { Caller } from "../server/auth.js";
import type { Services } from "../services.js";
import { countTextTokens } from "../tokens/count.js";
import { tokensCost, type Nano } from "../money.js";
import type { UsageRecord } from "./record.js";

/** What the proxy knows about a forwarded request by the time it is answered. */
export interface RequestTrace {
  requestId: string;
  /** Wall-clock start (ms since epoch) and a monotonic start (performance.now()). */
  startedAt: number;
  startedMono: number;
  /** When the request went upstream (performance.now()), for the upstream latency metric. */
  forwardedMono?: number;
  caller: Caller;
  requestType: string;
  requestedModel: string;
  tier: Tier;
  route: string;
  model: string;
  modelConfig: ModelConfig;
  stream: boolean;
  /** The client asked for `stream_options.include_usage`. */
  clientWantsUsage: boolean;
  /** Prompt tokens counted locally in the routed model's encoding. */
  promptTokens: number;
  estimate: Nano;
  reservation: Reservation;
  day: string;
  fallbackFrom: string[];
  optimizerSavedTokens: number;
  droppedMessages: number;
  droppedTokens: number;
  outputLimit: number | null;
}

export interface Outcome {
  status: number;
  /** The upstream's usage, when it sent one. */
  usage?: TokenUsage;
  /** Text the upstream produced, counted when `usage` is missing. */
  outputText?: readonly string[];
  /** True when nothing was produced (upstream error, refused): the reservation is released. */
  nothingBilled?: boolean;
  cacheHit?: boolean;
}

export interface Accounted {
  cost: Nano;
  usage: TokenUsage;
  source: UsageRecord["usage_source"];
}

/** The model whose price the savings are measured against: the one asked for, or the premium default for auto. */
function baselineModel(services: Services, requested: string): ModelConfig | undefined {
  const { models } = services.config;
  return Object.hasOwn(models, requested) ? models[requested] : models[services.tierModels.premium[0] ?? ""];
}

async function finalUsage(services: Services, trace: RequestTrace, outcome: Outcome): Promise<{ usage: TokenUsage; source: UsageRecord["usage_source"] }> {
  if (outcome.cacheHit) return { usage: outcome.usage!, source: "cache" };
  if (outcome.usage) return { usage: outcome.usage, source: "upstream" };
  if (outcome.nothingBilled) return { usage: { promptTokens: 0, cachedTokens: 0, completionTokens: 0 }, source: "estimated" };
  const text = (outcome.outputText ?? []).join("");
  const completionTokens = await countTextTokens(text, services.encodingOf(trace.model));
  return { usage: { promptTokens: trace.promptTokens, cachedTokens: 0, completionTokens }, source: "estimated" };
}

/**
 * Step 7 of the pipeline: the real cost from the usage, the reservation settled with it,
 * the usage record appended, metrics and the request's log line.
 */
export async function accountRequest(services: Services, trace: RequestTrace, outcome: Outcome): Promise<Accounted> {
  const { usage, source } = await finalUsage(services, trace, outcome);
  const cost = outcome.cacheHit ? 0 : usageCost(trace.modelConfig, usage);
  const baseline = baselineModel(services, trace.requestedModel);
  const latencyMs = Math.round(performance.now() - trace.startedMono);
  const record: UsageRecord = {
    time: new Date(trace.startedAt).toISOString(),
    request_id: trace.requestId,
    key_id: trace.caller.keyId,
    team: trace.caller.team,
    request_type: trace.requestType,
    tier: trace.tier,
    requested_model: trace.requestedModel,
    routed_model: trace.model,
    route: trace.route,
    fallback_from: trace.fallbackFrom,
    stream: trace.stream,
    status: outcome.status,
    input_tokens: usage.promptTokens,
    cached_tokens: usage.cachedTokens,
    output_tokens: usage.completionTokens,
    usage_source: source,
    estimated_cost_nano: trace.estimate,
    cost_nano: cost,
    requested_model_cost_nano: baseline ? usageCost(baseline, usage) : cost,
    cache_hit: outcome.cacheHit ?? false,
    optimizer_saved_tokens: trace.optimizerSavedTokens,
    optimizer_saved_nano: tokensCost(trace.optimizerSavedTokens, trace.modelConfig.price.input),
    context_dropped_messages: trace.droppedMessages,
    context_dropped_tokens: trace.droppedTokens,
    context_saved_nano: tokensCost(trace.droppedTokens, trace.modelConfig.price.input),
    output_limit: trace.outputLimit,
    latency_ms: latencyMs,
  };
  await services.settler.settleReservation(trace.reservation, cost, record, trace.day);

  const m = services.metrics;
  m.requests.inc({ tier: trace.tier, model: trace.model, status: String(outcome.status) });
  if (usage.promptTokens > 0) {
    m.tokens.inc({ direction: "input", model: trace.model }, usage.promptTokens);
    m.tokens.inc({ direction: "cached", model: trace.model }, usage.cachedTokens);
    m.tokens.inc({ direction: "output", model: trace.model }, usage.completionTokens);
  }
  if (cost > 0) m.cost.inc({ model: trace.model }, cost / 1e9);
  if (trace.forwardedMono !== undefined) m.upstreamLatency.observe({ model: trace.model }, (performance.now() - trace.forwardedMono) / 1000);
  services.logger.log("info", "request", {
    request_id: trace.requestId,
    key_id: trace.caller.keyId,
    tier: trace.tier,
    model: trace.model,
    route: trace.route,
    fallback_from: trace.fallbackFrom,
    status: outcome.status,
    cost_usd: cost / 1e9,
    usage_source: source,
    latency_ms: latencyMs,
  });
  return { cost, usage, source };
}
