import type { UsageRecord } from "../../src/usage/record.js";

/** A complete usage record for tests; every field can be overridden. */
export function usageRecord(overrides: Partial<UsageRecord> & { request_id: string }): UsageRecord {
  return {
    time: "2026-06-15T12:00:00.000Z",
    endpoint: "/v1/chat/completions",
    key_id: "app",
    team: "research",
    request_type: "chat",
    tier: "economy",
    requested_model: "auto",
    routed_model: "gpt-4o-mini",
    route: "heuristic",
    stream: false,
    fallback_from: [],
    status: 200,
    input_tokens: 1000,
    cached_tokens: 0,
    output_tokens: 100,
    usage_source: "upstream",
    estimated_cost_nano: 200_000,
    cost_nano: 210_000,
    requested_model_cost_nano: 3_500_000,
    cache_hit: false,
    optimizer_saved_tokens: 0,
    optimizer_saved_nano: 0,
    context_dropped_messages: 0,
    context_dropped_tokens: 0,
    context_saved_nano: 0,
    output_limit: null,
    output_capped: null,
    latency_ms: 12,
    compressed_tokens: 0,
    compress_saved_nano: 0,
    priced: true,
    ...overrides,
  };
}
