import { isoTime } from "../clock.js";
import type { ModelConfig } from "../config/schema.js";
import type { Prepared, ProxiedRequest } from "../plan/index.js";
import { inputCost, usageCost, type Charges, type TokenUsage } from "../pricing/cost.js";
import type { Config, Tier } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { EncodingName } from "../tokens/count.js";
import { countTextTokens } from "../tokens/count.js";
import type { Nano } from "../money.js";
import { completeRecord, type RecordHeader, type UsageRecord } from "./record.js";

/** What accounting reads and writes: prices, the premium baseline, metrics and the log. */
export interface AccountServices {
  config: Config;
  tierModels: Record<Tier, string[]>;
  metrics: Metrics;
  logger: Logger;
  encodingOf(model: string): EncodingName;
}

/** What answered a request: the model it was prepared for, and how it got there. */
export interface Served {
  request: ProxiedRequest;
  endpoint: string;
  prepared: Prepared;
  /** Short reason for `x-tollgate-route`. */
  route: string;
  fallbackFrom: readonly string[];
  /** The output limit the proxy set from the request type, when it set one. */
  outputLimit: number | undefined;
  optimizerSavedTokens: number;
  /** When the request went upstream (performance.now()), for the upstream latency metric. */
  forwardedAt?: number;
}

export interface Outcome {
  status: number;
  /** The upstream's usage, when it sent one. */
  usage?: TokenUsage;
  /** Text the upstream produced, counted when `usage` is missing. */
  outputText?: readonly string[];
  /** True when nothing was produced (upstream error, refused): the hold is released. */
  nothingBilled?: boolean;
  cacheHit?: boolean;
  /** The answer's id (a Responses API response), for a later previous_response_id. */
  responseId?: string;
  /** The service tier the answer says it was served at. */
  serviceTier?: string;
  /** Web searches the answer says the model made (a Responses answer's `web_search_call` items). */
  webSearches?: number;
}

export interface Accounted {
  cost: Nano;
  usage: TokenUsage;
  source: UsageRecord["usage_source"];
  /** Resolves once the settle is in the store (or queued for when it is back). */
  settled: Promise<void>;
}

/** The part of the usage record known before the answer; budget holds carry it. */
export function recordHeader(request: ProxiedRequest, endpoint: string, model: string, services: Pick<AccountServices, "config">, route: string): RecordHeader {
  const header: RecordHeader = {
    time: isoTime(request.startedAt),
    request_id: request.id,
    endpoint,
    key_id: request.caller.keyId,
    team: request.caller.team,
    request_type: request.requestType,
    tier: services.config.models[model]!.tier,
    requested_model: request.body.model,
    routed_model: model,
    route,
    stream: request.body.stream === true,
  };
  if (request.caller.endUser !== undefined) header.end_user = request.caller.endUser;
  if (request.caller.tags !== undefined) header.tags = [...request.caller.tags];
  return header;
}

/**
 * What the call is billed for besides its tokens: the tier the answer names (else the one asked
 * for), the searches it made (a chat search request makes one), the fee of a call the upstream took.
 */
function chargesOf(served: Served, outcome: Outcome, source: UsageRecord["usage_source"]): Charges {
  const body = served.request.body;
  const asked = typeof body.service_tier === "string" ? body.service_tier : undefined;
  const searches = outcome.webSearches ?? (body.web_search_options != null && !outcome.nothingBilled ? 1 : 0);
  const charges: Charges = { webSearches: searches, requests: outcome.nothingBilled || source === "cache" ? 0 : 1 };
  const tier = outcome.serviceTier ?? asked;
  if (tier !== undefined) charges.serviceTier = tier;
  return charges;
}

/** The model whose price the savings are measured against: the one asked for, or the premium default for auto. */
function baselineModel(services: AccountServices, requested: string): ModelConfig | undefined {
  const { models } = services.config;
  return Object.hasOwn(models, requested) ? models[requested] : models[services.tierModels.premium[0] ?? ""];
}

/**
 * The usage a request is charged for: the upstream's, else counted locally. A reasoning model's
 * answer without usage (cut, abandoned, or an upstream that sends none) is charged at its hold:
 * its reasoning tokens were billed and never seen, so the text counted says nothing of them.
 */
async function finalUsage(services: AccountServices, served: Served, outcome: Outcome): Promise<{ usage: TokenUsage; source: UsageRecord["usage_source"] }> {
  if (outcome.cacheHit) return { usage: outcome.usage!, source: "cache" };
  if (outcome.usage) return { usage: outcome.usage, source: "upstream" };
  if (outcome.nothingBilled) return { usage: { promptTokens: 0, cachedTokens: 0, completionTokens: 0 }, source: "estimated" };
  const { prepared } = served;
  if (prepared.config.reasoning) {
    const choices = typeof served.request.body.n === "number" && served.request.body.n > 0 ? served.request.body.n : 1;
    return { usage: { promptTokens: prepared.inputTokens, cachedTokens: 0, completionTokens: prepared.worstOutput * choices }, source: "held" };
  }
  const text = (outcome.outputText ?? []).join("");
  const completionTokens = await countTextTokens(text, services.encodingOf(served.prepared.model));
  return { usage: { promptTokens: served.prepared.inputTokens, cachedTokens: 0, completionTokens }, source: "estimated" };
}

/**
 * Step 7 of the pipeline: the real cost from the usage, the usage record, and `settle` called
 * with both (the hold's settle, or a plain record for a cache hit); then metrics and the log line.
 * The settle is started, not awaited: the cost is known before the store has it, so an answer need
 * not wait for the store. `settled` says when it is in; the exchange closes only then.
 */
export async function accountRequest(
  services: AccountServices,
  served: Served,
  outcome: Outcome,
  settle: (cost: Nano, record: UsageRecord) => Promise<void>,
): Promise<Accounted> {
  const { prepared, request } = served;
  const model = prepared.config;
  const { usage, source } = await finalUsage(services, served, outcome);
  const charges = chargesOf(served, outcome, source);
  const cost = outcome.cacheHit ? 0 : source === "held" ? prepared.holdAmount : usageCost(model, usage, charges);
  const baseline = baselineModel(services, request.body.model);
  const latencyMs = Math.round(performance.now() - request.startedMono);
  const compressedTokens = request.compressed ? request.compressed.before - request.compressed.after : 0;
  const record = completeRecord(recordHeader(request, served.endpoint, prepared.model, services, served.route), {
    fallback_from: [...served.fallbackFrom],
    status: outcome.status,
    input_tokens: usage.promptTokens,
    cached_tokens: usage.cachedTokens,
    output_tokens: usage.completionTokens,
    usage_source: source,
    estimated_cost_nano: prepared.expectedCost,
    cost_nano: cost,
    requested_model_cost_nano: baseline ? usageCost(baseline, usage, charges) : cost,
    cache_hit: outcome.cacheHit ?? false,
    optimizer_saved_tokens: served.optimizerSavedTokens,
    // Each saving at the rates the prompt would have had without it (long context).
    optimizer_saved_nano: inputCost(model, served.optimizerSavedTokens, usage.promptTokens + served.optimizerSavedTokens),
    context_dropped_messages: prepared.droppedMessages,
    context_dropped_tokens: prepared.droppedTokens,
    context_saved_nano: inputCost(model, prepared.droppedTokens, usage.promptTokens + prepared.droppedTokens),
    output_limit: served.outputLimit ?? null,
    output_capped: prepared.outputCapped,
    latency_ms: latencyMs,
    compressed_tokens: compressedTokens,
    compress_saved_nano: inputCost(model, compressedTokens, usage.promptTokens + compressedTokens),
    priced: true,
  });
  const settled = settle(cost, record);
  const choices = typeof request.body.n === "number" && request.body.n > 0 ? request.body.n : 1;
  if (source === "upstream" && usage.completionTokens > prepared.worstOutput * choices) {
    // Recorded as it is: the bill is what it is. Worth a look: the hold did not bound this answer.
    services.logger.log("warn", "usage_above_hold", { request_id: request.id, model: prepared.model, output_tokens: usage.completionTokens, held_output_tokens: prepared.worstOutput });
  }

  const m = services.metrics;
  const tier = model.tier;
  m.countRequest(tier, prepared.model, outcome.status, usage, cost / 1e9);
  if (served.forwardedAt !== undefined) m.upstreamLatency.observe({ model: prepared.model }, (performance.now() - served.forwardedAt) / 1000);
  services.logger.log("info", "request", {
    request_id: request.id,
    key_id: request.caller.keyId,
    tier,
    model: prepared.model,
    route: served.route,
    fallback_from: served.fallbackFrom,
    status: outcome.status,
    cost_usd: cost / 1e9,
    usage_source: source,
    latency_ms: latencyMs,
  });
  return { cost, usage, source, settled };
}
