import { z } from "zod";
import { CLASS_NAMES, ENDPOINT_CLASSES, ENDPOINT_GRANTS } from "../gate/classes.js";
import { resolveModels } from "./resolve.js";

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

/** Rates that replace the base ones for a request whose input is above a number of tokens (long context). */
const longContextSchema = z.strictObject({
  above_input_tokens: positiveInt,
  input: usd,
  cached_input: usd.optional(),
  output: usd,
});

const priceSchema = z.strictObject({
  input: usd,
  cached_input: usd.optional(),
  output: usd,
  batch_input: usd.optional(),
  batch_output: usd.optional(),
  long_context: z.array(longContextSchema).optional(),
  /** Unit prices of metered calls (src/gate/metered.ts), used when an answer carries no token usage. */
  per_image: usd.optional(),
  per_audio_second: usd.optional(),
  per_1k_characters: usd.optional(),
  per_video_second: usd.optional(),
});

const modelSchema = z.strictObject({
  upstream: z.string(),
  upstream_model: z.string().optional(),
  tier: tierSchema,
  /** Optional: a model without it is priced from the catalogue (src/config/resolve.ts). */
  price: priceSchema.optional(),
  /** Optional: the catalogue's, else 128000. */
  context_window: positiveInt.optional(),
  max_output_tokens: positiveInt.optional(),
  encoding: z.enum(["o200k_base", "cl100k_base"]).optional(),
  reasoning: z.boolean().default(false),
  drop_params: z.array(z.string()).default([]),
  /** `embedding` models serve POST /v1/embeddings only (input price only) and are in no tier's list. */
  kind: z.enum(["chat", "embedding"]).default("chat"),
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

const scoreSchema = z.number().min(0).max(1);

const routingSchema = z
  .strictObject({
    auto_models: z.array(z.string()).default(["auto"]),
    client_model: z.enum(["ceiling", "pin", "ignore"]).default("ceiling"),
    default_tier: tierSchema.default("economy"),
    /** The seed's keyword lists (whole words), checked after the rules and before the score. */
    heuristics: z.boolean().default(false),
    rules: z.array(ruleSchema).default([]),
    /** Try the tier's next model when an upstream fails before any byte reached the client. */
    fallback: z.union([z.boolean(), z.partialRecord(tierSchema, z.boolean())]).default(true),
    /** Tiers from `routing_score` when no rule (or heuristic) decided; false: `default_tier` instead. */
    scored: z.boolean().default(true),
    /** A model written by `npm run train:routing`; empty: the one shipped in src/routing/router.json. */
    model_file: z.string().default(""),
    /** Fixed score thresholds (the default when target_share is not set). */
    thresholds: z.strictObject({ premium: scoreSchema, standard: scoreSchema }).optional(),
    /** Shares of scored traffic per tier; the thresholds follow a rolling quantile shared by the replicas. */
    target_share: z.strictObject({ premium: scoreSchema, standard: scoreSchema }).optional(),
    /** The target share's window: its length, how often a replica merges its scores with the others'. */
    share_window: z
      .strictObject({
        seconds: z.number().int().min(10).default(600),
        sync_ms: z.number().int().min(10).default(5000),
        min_samples: z.number().int().nonnegative().default(200),
      })
      .default({ seconds: 600, sync_ms: 5000, min_samples: 200 }),
  })
  .superRefine((routing, ctx) => {
    if (routing.thresholds && routing.target_share) {
      ctx.addIssue({ code: "custom", path: ["target_share"], message: "set either thresholds or target_share, not both" });
    }
    if (routing.thresholds && routing.thresholds.standard > routing.thresholds.premium) {
      ctx.addIssue({ code: "custom", path: ["thresholds", "standard"], message: "must not be above the premium threshold" });
    }
    if (routing.target_share && routing.target_share.premium + routing.target_share.standard > 1) {
      ctx.addIssue({ code: "custom", path: ["target_share"], message: "premium and standard shares add up to more than 1" });
    }
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
  /** Endpoint classes this key may call (names from src/gate/classes.ts, or `priced`, `metered`, `free`); unset: all. */
  endpoints: z.array(z.string()).optional(),
  /** Models this key may name or be routed to; unset: all. */
  models: z.array(z.string()).optional(),
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
  /** Context compression by summary (off by default; `x-tollgate-compress: on|off` per request). */
  compress: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** A conversation whose prompt is longer than this is compressed (also when it does not fit the routed model). */
      trigger_tokens: positiveInt.default(8000),
      /** The most recent turns kept word for word. */
      keep_turns: positiveInt.default(6),
    })
    .default({ enabled: false, trigger_tokens: 8000, keep_turns: 6 }),
});

const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  ttl_seconds: positiveInt.default(3600),
  /** Who shares cached answers: each key its own (default), a team, or every caller. */
  scope: z.enum(["key", "team", "global"]).default("key"),
});

/** Micro-batches (`x-tollgate-batch: <max wait ms>`): requests held until this many wait, then sent as one call. */
const batchSchema = z.strictObject({
  max_size: positiveInt.default(20),
});

/** What an endpoint class may do: refused, passed without a budget, or held at `hold` USD and settled. */
const endpointPolicySchema = z.union([z.literal("off"), z.literal("free"), z.strictObject({ hold: usd })]);

/**
 * Every /v1/ path besides the priced endpoints, by class (src/gate/classes.ts): `false` answers 404
 * for all of them.
 */
const passthroughSchema = z.union([
  z.literal(false),
  z.strictObject({
    /** Where a request that names no model goes; default: the first upstream. */
    upstream: z.string().optional(),
    /** The largest body passed through (uploads). */
    body_limit_mb: z.number().positive().default(512),
    /** Policies by class; a class not named keeps its default (DEFAULT_POLICIES). */
    endpoints: z.record(z.string(), endpointPolicySchema).default({}),
    /** Paths tollgate does not know: refused with 404, or passed on free (unbudgeted, unowned). */
    unknown: z.enum(["refuse", "allow"]).default("refuse"),
    /** Who owns an object created through tollgate: the key that created it, or the key's team. */
    owner: z.enum(["key", "team"]).default("key"),
  }),
]);

/** The PostgreSQL ledger every usage record is written to, when `postgres_url` is set (src/ledger). */
const ledgerSchema = z.strictObject({
  postgres_url: z.string().default(""),
  /** The schema its tables live in (created when missing). */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case SQL identifier")
    .default("public"),
  /** Records written in one INSERT. */
  batch_size: positiveInt.max(10_000).default(500),
  /** How long the writer waits on the queue for new records before looking again. */
  poll_ms: positiveInt.default(1000),
  /** Records a writer took and did not confirm for this long (its replica died) are taken over by another. */
  claim_idle_ms: positiveInt.default(60_000),
});

/** The file as written: models may leave their prices to the catalogue. */
export const configInputSchema = z
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
    passthrough: passthroughSchema.default({ body_limit_mb: 512, endpoints: {}, unknown: "refuse", owner: "key" }),
    batch: batchSchema.default({ max_size: 20 }),
    ledger: ledgerSchema.default(ledgerSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    if (config.passthrough !== false && config.passthrough.upstream !== undefined && !config.upstreams[config.passthrough.upstream]) {
      ctx.addIssue({ code: "custom", path: ["passthrough", "upstream"], message: `unknown upstream "${config.passthrough.upstream}"` });
    }
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
      key.endpoints?.forEach((name, j) => {
        if (!ENDPOINT_GRANTS.includes(name)) ctx.addIssue({ code: "custom", path: ["keys", i, "endpoints", j], message: `unknown endpoint class "${name}" (known: ${ENDPOINT_GRANTS.join(", ")})` });
      });
      key.models?.forEach((name, j) => {
        if (!Object.hasOwn(config.models, name)) ctx.addIssue({ code: "custom", path: ["keys", i, "models", j], message: `unknown model "${name}"` });
      });
    });
    if (config.passthrough !== false) {
      for (const name of Object.keys(config.passthrough.endpoints)) {
        const known = (CLASS_NAMES as string[]).includes(name) ? ENDPOINT_CLASSES[name as keyof typeof ENDPOINT_CLASSES] : undefined;
        if (!known || known.kind === "priced") {
          const classes = CLASS_NAMES.filter((n) => ENDPOINT_CLASSES[n].kind !== "priced");
          ctx.addIssue({ code: "custom", path: ["passthrough", "endpoints", name], message: `not a pass-through endpoint class (known: ${classes.join(", ")})` });
        }
      }
    }
  });

/**
 * The configuration as the proxy uses it: every model's price, context window and output limit
 * resolved once, here, from its own fields or the price catalogue (src/config/resolve.ts), so the
 * request path never consults the catalogue. A model priced by neither is an error naming it.
 */
export const configSchema = configInputSchema.transform((input, ctx): Config => {
  const resolved = resolveModels(input);
  for (const problem of resolved.problems) ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
  return { ...input, models: resolved.models };
});

export type ConfigInput = z.infer<typeof configInputSchema>;
export type ModelInput = z.infer<typeof modelSchema>;
export type Price = z.infer<typeof priceSchema>;
export type LongContextPrice = z.infer<typeof longContextSchema>;
/** A model ready for use: `price_source` is "config" or "catalogue:<name>@<version>". */
export type ModelConfig = Omit<ModelInput, "price" | "context_window"> & { price: Price; context_window: number; price_source: string };
export type Config = Omit<ConfigInput, "models"> & { models: Record<string, ModelConfig> };
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type RoutingRule = z.infer<typeof ruleSchema>;
export type BudgetLimits = z.infer<typeof limitsSchema>;
export type KeyConfig = z.infer<typeof keySchema>;
export type EndpointPolicy = z.infer<typeof endpointPolicySchema>;
export type PassthroughConfig = Exclude<z.infer<typeof passthroughSchema>, false>;
export type LedgerConfig = z.infer<typeof ledgerSchema>;
