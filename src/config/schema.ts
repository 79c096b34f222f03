import { z } from "zod";

/**
 * The configuration file's schema. Its inferred type is the `Config` every module reads,
 * so the YAML contract and the code cannot drift apart. Objects are strict: an unknown
 * key is an error, never silently ignored.
 */

export const TIERS = ["economy", "standard", "premium"] as const;
export const tierSchema = z.enum(TIERS);
export type Tier = z.infer<typeof tierSchema>;

const usd = z.number().nonnegative();
const positiveInt = z.number().int().positive();

const serverSchema = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8787),
  body_limit_mb: z.number().positive().default(10),
  allow_open: z.boolean().default(false),
  /** Requests still in flight get this long to finish after SIGTERM. */
  shutdown_grace_ms: positiveInt.default(30_000),
});

const storeSchema = z.strictObject({
  redis_url: z.string().default(""),
  key_prefix: z.string().default("tollgate:"),
  on_error: z.enum(["closed", "open"]).default("closed"),
  /** How many usage records the store keeps (newest first). */
  usage_records_max: positiveInt.default(100_000),
});

const upstreamSchema = z.strictObject({
  base_url: z.url(),
  api_key: z.string().default(""),
  timeout_ms: positiveInt.default(600_000),
  connect_timeout_ms: positiveInt.default(10_000),
  headers_timeout_ms: positiveInt.optional(),
  /** Upstream requests in flight at once; past it requests queue. */
  max_in_flight: positiveInt.default(256),
  /** Requests waiting for a slot; past it the proxy answers 503 at once. */
  max_queued: z.number().int().nonnegative().default(1024),
});

const priceSchema = z.strictObject({
  input: usd,
  cached_input: usd.optional(),
  output: usd,
});

const modelSchema = z.strictObject({
  upstream: z.string(),
  upstream_model: z.string().optional(),
  tier: tierSchema,
  price: priceSchema,
  context_window: positiveInt.default(128_000),
  max_output_tokens: positiveInt.optional(),
  encoding: z.enum(["o200k_base", "cl100k_base"]).optional(),
  reasoning: z.boolean().default(false),
  drop_params: z.array(z.string()).default([]),
});

const ruleConditionSchema = z.strictObject({
  keywords: z.array(z.string()).optional(),
  keywords_mode: z.enum(["any", "all"]).default("any"),
  regex: z.string().optional(),
  min_tokens: z.number().int().nonnegative().optional(),
  max_tokens: z.number().int().nonnegative().optional(),
  min_messages: z.number().int().nonnegative().optional(),
  max_messages: z.number().int().nonnegative().optional(),
  has_tools: z.boolean().optional(),
  has_images: z.boolean().optional(),
  json_output: z.boolean().optional(),
  system_prompt_contains: z.string().optional(),
  request_type: z.union([z.string(), z.array(z.string())]).optional(),
});

const ruleSchema = z.strictObject({
  name: z.string(),
  when: ruleConditionSchema,
  tier: tierSchema,
});

const routingSchema = z.strictObject({
  auto_models: z.array(z.string()).default(["auto"]),
  client_model: z.enum(["ceiling", "pin", "ignore"]).default("ceiling"),
  default_tier: tierSchema.default("economy"),
  heuristics: z.boolean().default(true),
  rules: z.array(ruleSchema).default([]),
  /** Try the tier's next model when an upstream fails before any byte reached the client. */
  fallback: z.union([z.boolean(), z.partialRecord(tierSchema, z.boolean())]).default(true),
});

const limitsSchema = z.strictObject({
  daily: usd.optional(),
  monthly: usd.optional(),
  per_request: usd.optional(),
});

const budgetsSchema = z.strictObject({
  timezone: z.string().default("UTC"),
  output_estimate: z.union([z.literal("half_input"), z.number().int().nonnegative()]).default("half_input"),
  downgrade: z.boolean().default(true),
  alert_thresholds: z.array(z.number().positive()).default([0.8, 1.0]),
  alert_webhook: z.string().default(""),
  global: limitsSchema.default({}),
  teams: z.record(z.string(), limitsSchema).default({}),
  keys: z.record(z.string(), limitsSchema).default({}),
});

const keySchema = z.strictObject({
  id: z.string().min(1),
  key: z.string(),
  team: z.string().optional(),
  max_tier: tierSchema.optional(),
});

const optimizeSchema = z.strictObject({
  prompt: z.boolean().default(false),
  fit_context: z.boolean().default(true),
  output_limits: z.record(z.string(), positiveInt).default({
    classification: 50,
    extraction: 200,
    summary: 300,
    explanation: 500,
    generation: 1000,
  }),
});

const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  ttl_seconds: positiveInt.default(3600),
  /** Who shares cached answers: each key its own (default), a team, or every caller. */
  scope: z.enum(["key", "team", "global"]).default("key"),
});

export const configSchema = z
  .strictObject({
    server: serverSchema.default(serverSchema.parse({})),
    store: storeSchema.default(storeSchema.parse({})),
    upstreams: z.record(z.string(), upstreamSchema),
    models: z.record(z.string(), modelSchema),
    tiers: z.partialRecord(tierSchema, z.array(z.string())).default({}),
    routing: routingSchema.default(routingSchema.parse({})),
    budgets: budgetsSchema.default(budgetsSchema.parse({})),
    keys: z.array(keySchema).default([]),
    admin_key: z.string().default(""),
    optimize: optimizeSchema.default(optimizeSchema.parse({})),
    cache: cacheSchema.default(cacheSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    for (const [name, model] of Object.entries(config.models)) {
      if (!config.upstreams[model.upstream]) {
        ctx.addIssue({
          code: "custom",
          path: ["models", name, "upstream"],
          message: `unknown upstream "${model.upstream}" (configured: ${Object.keys(config.upstreams).join(", ")})`,
        });
      }
    }
    for (const [tier, names] of Object.entries(config.tiers)) {
      names?.forEach((name, i) => {
        const model = config.models[name];
        if (!model) {
          ctx.addIssue({ code: "custom", path: ["tiers", tier, i], message: `unknown model "${name}"` });
        } else if (model.tier !== tier) {
          ctx.addIssue({
            code: "custom",
            path: ["tiers", tier, i],
            message: `model "${name}" is declared with tier ${model.tier}`,
          });
        }
      });
    }
    config.routing.rules.forEach((rule, i) => {
      if (rule.when.regex === undefined) return;
      try {
        new RegExp(rule.when.regex, "i");
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["routing", "rules", i, "when", "regex"], message: (err as Error).message });
      }
    });
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: config.budgets.timezone });
    } catch {
      ctx.addIssue({ code: "custom", path: ["budgets", "timezone"], message: `unknown time zone "${config.budgets.timezone}"` });
    }
    const keyIds = new Set<string>();
    config.keys.forEach((key, i) => {
      if (keyIds.has(key.id)) ctx.addIssue({ code: "custom", path: ["keys", i, "id"], message: `duplicate key id "${key.id}"` });
      keyIds.add(key.id);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type RoutingRule = z.infer<typeof ruleSchema>;
export type BudgetLimits = z.infer<typeof limitsSchema>;
export type KeyConfig = z.infer<typeof keySchema>;
