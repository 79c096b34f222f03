import { z } from "zod";
import { positiveInt, tierSchema, usd } from "./units.js";

/** The configuration's upstreams, models with their prices, and routing (see schema.ts). */

/** Headers that carry tollgate's own or the connection's meaning: never a client's to send upstream. */
const NEVER_FORWARDED = /^(authorization|cookie|host|connection|content-length|transfer-encoding|keep-alive|upgrade|proxy-.*|x-tollgate-.*)$/;

/** The client's request headers an upstream receives by default: what the OpenAI API reads besides the body. */
export const FORWARD_HEADERS = ["openai-beta", "openai-organization", "openai-project", "idempotency-key"];

export const upstreamSchema = z.strictObject({
  base_url: z.url().describe("The provider's OpenAI-compatible API root, e.g. `https://api.openai.com/v1`."),
  api_key: z.string().default("").describe("The provider's key, sent upstream in place of the caller's (`${OPENAI_API_KEY}`); empty is warned about at start."),
  timeout_ms: positiveInt.default(600_000).describe("Longest an upstream call may take, answer included."),
  connect_timeout_ms: positiveInt.default(10_000).describe("Longest the connection to the upstream may take."),
  headers_timeout_ms: positiveInt.optional().describe("Longest until the upstream's response headers arrive; default: timeout_ms."),
  max_in_flight: positiveInt.default(256).describe("Upstream requests in flight at once; past it requests queue."),
  max_queued: z.number().int().nonnegative().default(1024).describe("Requests waiting for a slot; past it the proxy answers 503 at once."),
  protocol: z.enum(["openai", "anthropic"]).optional().describe("The API it speaks: OpenAI's (chat completions...) or Anthropic's Messages; default: anthropic for api.anthropic.com, else openai."),
  forward_headers: z
    .array(
      z
        .string()
        .transform((name) => name.toLowerCase())
        .refine((name) => !NEVER_FORWARDED.test(name), { message: "is a header tollgate never forwards" }),
    )
    .default(FORWARD_HEADERS)
    .describe("Client request headers passed to this upstream on every endpoint (names, any case)."),
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
  input: usd.describe("Input tokens, USD per 1M."),
  cached_input: usd.optional().describe("Cached input tokens, USD per 1M; default: input."),
  output: usd.describe("Output tokens (reasoning included), USD per 1M."),
  cache_write: usd.optional().describe("Prompt-cache writes of 5 minutes (Anthropic's `cache_creation_input_tokens`), USD per 1M; default: 1.25 times input."),
  cache_write_1h: usd.optional().describe("Prompt-cache writes of 1 hour, USD per 1M; default: 2 times input."),
  batch_input: usd.optional().describe("Input tokens through the Batch API, USD per 1M."),
  batch_output: usd.optional().describe("Output tokens through the Batch API, USD per 1M."),
  long_context: z.array(longContextSchema).optional().describe("Rates for requests above a number of input tokens."),
  // Unit prices of metered calls (src/gate/metered.ts), used when an answer carries no token usage.
  per_image: usd.optional().describe("USD per image generated (metered calls without token usage)."),
  per_audio_second: usd.optional().describe("USD per second of audio (transcription, speech)."),
  per_1k_characters: usd.optional().describe("USD per 1000 characters (text to speech)."),
  per_video_second: usd.optional().describe("USD per second of video."),
  input_audio: usd.optional().describe("Audio input tokens, USD per 1M (chat audio, realtime models)."),
  output_audio: usd.optional().describe("Audio output tokens, USD per 1M."),
  cached_audio: usd.optional().describe("Cached audio input tokens, USD per 1M."),
  per_request: usd.optional().describe("A fee per call, USD (some providers bill each request on top of its tokens)."),
  web_search: usd.optional().describe("A fee per web search the model makes, USD."),
  service_tiers: z.record(z.string(), z.number().positive()).optional().describe("Multipliers of the token prices by `service_tier` (`priority: 2.0`, `flex: 0.5`); a tier not listed here is priced as OpenAI publishes it (src/pricing/cost.ts SERVICE_TIERS), else at 1."),
});

export const modelSchema = z.strictObject({
  upstream: z.string().describe("The name of an entry of `upstreams`."),
  upstream_model: z.string().optional().describe("The model name the upstream is sent; default: this entry's name."),
  tier: tierSchema.describe("The tier this model serves."),
  price: priceSchema.optional().describe("Optional: a model without it is priced from the catalogue (src/config/resolve.ts)."),
  context_window: positiveInt.optional().describe("Optional: the catalogue's, else 128000."),
  max_output_tokens: positiveInt.optional().describe("The model's output limit: the worst case a request is held for."),
  encoding: z.enum(["o200k_base", "cl100k_base"]).optional().describe("The tokenizer; default by the model's family."),
  reasoning: z.boolean().default(false).describe("A reasoning model: `max_tokens` is sent as `max_completion_tokens`, sampling parameters are dropped."),
  drop_params: z.array(z.string()).default([]).describe("More request parameters removed before the request goes to this model."),
  kind: z
    .enum(["chat", "embedding", "realtime"])
    .default("chat")
    .describe("`embedding` models serve POST /v1/embeddings only (input price only); `realtime` models serve the /v1/realtime WebSocket only. Neither is in any tier's list."),
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
    auto_models: z.array(z.string()).default(["auto"]).describe("Model names that mean \"route freely\"."),
    client_model: z.enum(["ceiling", "pin", "ignore"]).default("ceiling").describe("What a configured model named by the client means: the highest tier allowed, exactly that model, or nothing."),
    unknown_models: z.enum(["auto", "reject"]).default("auto").describe("A model name the configuration does not know (an SDK's default): routed as an auto alias, its catalogue price (when known) as the ceiling, or refused with 404."),
    default_embedding_model: z.string().optional().describe("Where embeddings that name an unknown model go; unset: the first embedding model configured."),
    default_tier: tierSchema.default("economy").describe("The tier when nothing else decided."),
    heuristics: z.boolean().default(false).describe("The seed's keyword lists (whole words), checked after the rules and before the score."),
    rules: z.array(ruleSchema).default([]).describe("Classification rules, first match wins: `{ name, when: {...}, tier }`."),
    fallback: z.union([z.boolean(), z.partialRecord(tierSchema, z.boolean())]).default(true).describe("Try the tier's next model when an upstream fails before any byte reached the client."),
    scored: z.boolean().default(true).describe("Tiers from `routing_score` when no rule (or heuristic) decided; false: `default_tier` instead."),
    model_file: z.string().default("").describe("A model written by `npm run train:routing`; empty: the one shipped in src/routing/router.json."),
    thresholds: z.strictObject({ premium: scoreSchema, standard: scoreSchema }).optional().describe("Fixed score thresholds (the default when target_share is not set)."),
    target_share: z.strictObject({ premium: scoreSchema, standard: scoreSchema }).optional().describe("Shares of scored traffic per tier; the thresholds follow a rolling quantile shared by the replicas."),
    share_window: z
      .strictObject({
        seconds: z.number().int().min(10).default(600),
        sync_ms: z.number().int().min(10).default(5000),
        min_samples: z.number().int().nonnegative().default(200),
      })
      .default({ seconds: 600, sync_ms: 5000, min_samples: 200 }).describe("The target share's window: its length, how often a replica merges its scores with the others'."),
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
