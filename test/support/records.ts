import { usageRecordOf, type UsageRecord } from "../../src/usage/record.js";

/** A complete usage record for tests; every field can be overridden. */
export function usageRecord(overrides: Partial<UsageRecord> & { request_id: string }): UsageRecord {
  const header = {
    time: "2026-06-15T12:00:00.000Z",
    endpoint: "/v1/chat/completions",
    key_id: "app",
    team: "research",
    request_type: "chat",
    tier: "economy" as const,
    requested_model: "auto",
    routed_model: "gpt-4o-mini",
    route: "heuristic",
    stream: false,
    request_id: overrides.request_id,
  };
  return {
    ...usageRecordOf(header, {
      status: 200,
      input_tokens: 1000,
      output_tokens: 100,
      estimated_cost_nano: 200_000,
      cost_nano: 210_000,
      requested_model_cost_nano: 3_500_000,
      latency_ms: 12,
    }),
    ...overrides,
  };
}
