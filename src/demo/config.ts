/**
 * The demo's configuration: config.yaml's current models on the demo upstream, no prices (the
 * catalogue gives them: the loopback URL names no provider, so the upstream's name does), a small
 * budget, three keys and the cache on.
 */

export const DEMO_KEYS = {
  /** An ordinary caller. */
  demo: "tg-demo-key",
  /** A caller whose daily budget is less than the smallest answer costs: every request is refused. */
  intern: "tg-demo-intern-key",
  /** For /v1/costs. */
  admin: "tg-demo-admin-key",
} as const;

export const DEMO_BUDGET = {
  dailyUsd: 5,
  perRequestUsd: 0.5,
  internDailyUsd: 0.00001,
} as const;

export function demoConfigInput(upstreamUrl: string, port: number): Record<string, unknown> {
  const upstream = { base_url: upstreamUrl, api_key: "demo-upstream-key", timeout_ms: 30_000 };
  return {
    server: { host: "127.0.0.1", port },
    upstreams: { openai: upstream, anthropic: upstream },
    models: {
      "gpt-5-mini": { upstream: "openai", tier: "economy", reasoning: true, max_output_tokens: 128_000 },
      "claude-haiku-4-5": { upstream: "anthropic", tier: "economy", max_output_tokens: 64_000 },
      "gpt-5.1": { upstream: "openai", tier: "standard", reasoning: true, max_output_tokens: 128_000 },
      "claude-sonnet-4-5": { upstream: "anthropic", upstream_model: "claude-sonnet-4-5-20250929", tier: "standard", max_output_tokens: 64_000 },
      "gpt-5.2": { upstream: "openai", tier: "premium", reasoning: true, max_output_tokens: 128_000 },
      "claude-opus-4-5": { upstream: "anthropic", tier: "premium", max_output_tokens: 64_000 },
    },
    tiers: {
      economy: ["gpt-5-mini", "claude-haiku-4-5"],
      standard: ["gpt-5.1", "claude-sonnet-4-5"],
      premium: ["gpt-5.2", "claude-opus-4-5"],
    },
    budgets: {
      timezone: "UTC",
      global: { daily: DEMO_BUDGET.dailyUsd, per_request: DEMO_BUDGET.perRequestUsd },
      keys: { intern: { daily: DEMO_BUDGET.internDailyUsd } },
    },
    keys: [
      { id: "demo", key: DEMO_KEYS.demo },
      { id: "intern", key: DEMO_KEYS.intern },
    ],
    admin_key: DEMO_KEYS.admin,
    cache: { enabled: true, ttl_seconds: 600 },
  };
}
