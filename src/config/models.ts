import { z } from "zod";
import { positiveInt, tierSchema, usd } from "./units.js";

/** The configuration's upstreams, models with their prices, and routing (see schema.ts). */

/** Headers that carry tollgate's own or the connection's meaning: never a client's to send upstream. */
const NEVER_FORWARDED = /^(authorization|cookie|host|connection|content-length|transfer-encoding|keep-alive|upgrade|proxy-.*|x-tollgate-.*)$/;

/** The client's request headers an upstream receives by default: what the OpenAI API reads besides the body. */
export const FORWARD_HEADERS = ["openai-beta", "openai-organization", "openai-project", "idempotency-key"];

export const upstreamSchema = z.strictObject({
  base_url: z.url(),
  api_key: z.string().default(""),
  timeout_ms: positiveInt.default(600_000),
  connect_timeout_ms: positiveInt.default(10_000),
  headers_timeout_ms: positiveInt.optional(),
  /** Upstream requests in flight at once; past it requests queue. */
  max_in_flight: positiveInt.default(256),
  /** Requests waiting for a slot; past it the proxy answers 503 at once. */
  max_queued: z.number().int().nonnegative().default(1024),
  /** The API it speaks: OpenAI's (chat completions...) or Anthropic's Messages; unset, see `upstreamProtocol`. */
  protocol: z.enum(["openai", "anthropic"]).optional(),
  /** Client request headers passed to this upstream on every endpoint (names, any case). */
  forward_headers: z
    .array(
      z
        .string()
        .transform((name) => name.toLowerCase())
        .refine((name) => !NEVER_FORWARDED.test(name), { message: "is a header tollgate never forwards" }),
    )
    .default(FORWARD_HEADERS),
});

export type UpstreamProtocol = "openai" | "anthropic";

/** An upstream's protocol: the configured one, else Anthropic's for api.anthropic.com and OpenAI's for any other host. */
export function upstreamProtocol(upstream: { base_url: string; protocol?: UpstreamProtocol | undefined }): UpstreamProtocol {
  if (upstream.protocol) return upstream.protocol;
  // Asked several times per request: each base URL is parsed once.
  let protocol = protocolByUrl.get(upstream.base_url);
  if (protocol === undefined) {
    protocol = new URL(upstream.base_url).hostname === "api.anthropic.com" ? "anthropic" : "openai";
    protocolByUrl.set(upstream.base_url, protocol);
  }
  return protocol;
}

const protocolByUrl = new Map<string, UpstreamProtocol>();

/** Rates that replace the base ones for a request whose input is above a number of tokens (long context). */
export const longContextSchema = z.strictObject({
  above_input_tokens: positiveInt,
  input: usd,
  cached_input: usd.optional(),
  output: usd,
  cache_write: usd.optional(),
  cache_write_1h: usd.optional(),
});

export const priceSchema = z.strictObject({
  input: usd,
  cached_input: usd.optional(),
  output: usd,
  /**
   * Prompt-cache writes (Anthropic's `cache_creation_input_tokens`), USD per 1M: the 5-minute and
   * the 1-hour lifetimes. Unset: Anthropic's multiples of the input price (1.25 and 2).
   */
  cache_write: usd.optional(),
  cache_write_1h: usd.optional(),
  batch_input: usd.optional(),
  batch_output: usd.optional(),
  long_context: z.array(longContextSchema).optional(),
  /** Unit prices of metered calls (src/gate/metered.ts), used when an answer carries no token usage. */
  per_image: usd.optional(),
  per_audio_second: usd.optional(),
  per_1k_characters: usd.optional(),
  per_video_second: usd.optional(),
  /** Audio tokens, USD per 1M: input, output and cached input (chat audio, realtime models). */
  input_audio: usd.optional(),
  output_audio: usd.optional(),
  cached_audio: usd.optional(),
  /** A fee per call, USD (some providers bill each request on top of its tokens). */
  per_request: usd.optional(),
  /** A fee per web search the model makes, USD. */
  web_search: usd.optional(),
  /**
   * Multipliers of the token prices by `service_tier` (`priority: 2.0`, `flex: 0.5`); a tier not
   * listed here is priced as OpenAI publishes it (src/pricing/cost.ts SERVICE_TIERS), else at 1.
   */
  service_tiers: z.record(z.string(), z.number().positive()).optional(),
});

export const modelSchema = z.strictObject({
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
  /**
   * `embedding` models serve POST /v1/embeddings only (input price only); `realtime` models serve the
   * /v1/realtime WebSocket only. Neither is in any tier's list.
   */
  kind: z.enum(["chat", "embedding", "realtime"]).default("chat"),
});

const ruleConditionSchema = z.strictObject({
  keywords: z.array(z.string()).optional(),
  keywords_mode: z.enum(["any", "all"]).default("any"),
  regex: z.string().optional(),
  min_tokens: z.number().int().nonnegative().optional(),
  max_tokens: z.number().int().nonnegative().optional(),
  /** As min/max_tokens, counting the conversation only: no system prompt, no tool definitions (an agent's fixed preamble). */
  min_message_tokens: z.number().int().nonnegative().optional(),
  max_message_tokens: z.number().int().nonnegative().optional(),
  /** Request headers that must each contain the given text, any case (`user-agent: codex`). */
  header: z.record(z.string().min(1), z.string()).optional(),
  min_messages: z.number().int().nonnegative().optional(),
  max_messages: z.number().int().nonnegative().optional(),
  has_tools: z.boolean().optional(),
  has_images: z.boolean().optional(),
  json_output: z.boolean().optional(),
  system_prompt_contains: z.string().optional(),
  request_type: z.union([z.string(), z.array(z.string())]).optional(),
});

export const ruleSchema = z.strictObject({
  name: z.string(),
  when: ruleConditionSchema,
  tier: tierSchema,
});

const scoreSchema = z.number().min(0).max(1);

export const routingSchema = z
  .strictObject({
    auto_models: z.array(z.string()).default(["auto"]),
    client_model: z.enum(["ceiling", "pin", "ignore"]).default("ceiling"),
    /**
     * A model name the configuration does not know (an SDK's default): routed as an auto alias, its
     * catalogue price (when known) as the ceiling, or refused with 404.
     */
    unknown_models: z.enum(["auto", "reject"]).default("auto"),
    /** Where embeddings that name an unknown model go; unset: the first embedding model configured. */
    default_embedding_model: z.string().optional(),
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
