import type { Tier } from "../config/schema.js";
import type { Nano } from "../money.js";

/** One line of the usage log: what a forwarded request asked for, where it went and what it cost. */
export interface UsageRecord {
  time: string;
  request_id: string;
  key_id: string | null;
  team: string | null;
  request_type: string;
  tier: Tier;
  requested_model: string;
  routed_model: string;
  route: string;
  /** Models tried before the one that answered (fallback). */
  fallback_from: string[];
  stream: boolean;
  status: number;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  /** `upstream`: the upstream's usage; `estimated`: counted locally; `cache`: served from the response cache. */
  usage_source: "upstream" | "estimated" | "cache";
  estimated_cost_nano: Nano;
  cost_nano: Nano;
  /** What the same tokens would have cost on the model the client asked for (auto: the premium default). */
  requested_model_cost_nano: Nano;
  cache_hit: boolean;
  /** Prompt tokens the optimizer removed, and what they would have cost on the routed model. */
  optimizer_saved_tokens: number;
  optimizer_saved_nano: Nano;
  /** Messages and prompt tokens context fit dropped, and what those tokens would have cost. */
  context_dropped_messages: number;
  context_dropped_tokens: number;
  context_saved_nano: Nano;
  /** The output limit the proxy set from the request type, when it set one. */
  output_limit: number | null;
  latency_ms: number;
}

/** Per-day aggregate fields a record adds to; `/v1/costs` reads them back. */
export function aggregateFields(r: UsageRecord): Array<[string, number]> {
  const fields: Array<[string, number]> = [
    ["requests", 1],
    ["cost", r.cost_nano],
    ["estimated", r.estimated_cost_nano],
    ["requested_cost", r.requested_model_cost_nano],
    ["input_tokens", r.input_tokens],
    ["cached_tokens", r.cached_tokens],
    ["output_tokens", r.output_tokens],
  ];
  if (r.status >= 400) fields.push(["errors", 1]);
  if (r.cache_hit) fields.push(["cache_hits", 1], ["cache_saved", r.requested_model_cost_nano - r.cost_nano]);
  if (r.optimizer_saved_tokens > 0) fields.push(["optimizer_tokens", r.optimizer_saved_tokens], ["optimizer_saved", r.optimizer_saved_nano]);
  if (r.context_dropped_tokens > 0) fields.push(["context_tokens", r.context_dropped_tokens], ["context_saved", r.context_saved_nano], ["context_requests", 1]);
  if (r.output_limit !== null) fields.push(["output_limited", 1]);
  const groups: Array<[string, string | null]> = [
    ["model", r.routed_model],
    ["tier", r.tier],
    ["key", r.key_id],
    ["team", r.team],
    ["type", r.request_type],
  ];
  for (const [group, value] of groups) {
    if (value === null) continue;
    fields.push([`${group}:${value}:requests`, 1], [`${group}:${value}:cost`, r.cost_nano]);
  }
  return fields;
}
