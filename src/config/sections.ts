import { z } from "zod";
import type { EndpointPolicy } from "../gate/classes.js";
import { positiveInt, tierSchema, usd } from "./units.js";

/** The configuration's server, store, budgets, keys, optimizations, pass-through and ledger (see schema.ts). */

/** Browsers on other origins (web apps, playgrounds): off unless origins are listed. */
export const corsSchema = z.strictObject({
  /** Origins allowed to call tollgate (`https://app.example.com`), or `*` for any. */
  origins: z.array(z.string().min(1)).min(1),
  /** Request headers a browser may send; unset: the ones its preflight asks for. */
  headers: z.array(z.string().min(1)).optional(),
  /** How long a browser may keep a preflight's answer, in seconds. */
  max_age: z.number().int().nonnegative().default(600),
});

export const serverSchema = z.strictObject({
  host: z.string().default("127.0.0.1").describe("The address to listen on; `HOST` in the environment overrides it."),
  port: z.number().int().min(0).max(65535).default(8787).describe("The port to listen on (0: any free one); `PORT` in the environment overrides it."),
  body_limit_mb: z.number().positive().default(10).describe("The largest request body of the priced endpoints (413 above it)."),
  allow_open: z.boolean().default(false).describe("With no keys configured, allow listening on a non-loopback address."),
  shutdown_grace_ms: positiveInt.default(30_000).describe("Requests still in flight get this long to finish after SIGTERM."),
  max_parts: positiveInt.default(20_000).describe("Messages and content parts one request may have (each is counted; a body of millions would hold the CPU). A body of more than four JSON objects per part and 1,000 more is refused as its bytes arrive, before it is parsed."),
  cors: corsSchema.optional().describe("Cross-origin requests from browsers: `{ origins, headers, max_age }`; off when unset."),
});

export const storeSchema = z.strictObject({
  redis_url: z.string().default("").describe("One Redis server: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Empty (and no Sentinel): the memory store."),
  redis_cluster: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe("Nodes of a Redis Cluster (`host:port` or URLs; any one is enough). The budget keys share one slot, so a reservation stays one atomic script; every other key spreads over the nodes. Instead of redis_url."),
  redis_sentinel: z
    .strictObject({
      name: z.string().min(1).describe("The primary's name in the Sentinels' configuration (`mymaster`)."),
      sentinels: z.array(z.string().min(1)).min(1).describe("`host:port` of each Sentinel."),
      password: z.string().default("").describe("The Sentinels' own password, when they have one."),
    })
    .optional()
    .describe("The primary a Sentinel names; tollgate follows its failovers. Instead of redis_url."),
  tls: z
    .strictObject({
      ca_file: z.string().optional().describe("The CA certificate that signed the server's (PEM); default: the system's."),
      cert_file: z.string().optional().describe("A client certificate (PEM), when Redis asks for one (`tls-auth-clients yes`)."),
      key_file: z.string().optional().describe("The client certificate's key (PEM)."),
      servername: z.string().optional().describe("The name the server's certificate is checked against; default: the host."),
    })
    .optional()
    .describe("TLS to Redis from certificate files; set, it turns TLS on as rediss:// does."),
  username: z.string().default("").describe("Redis ACL user, when not in the URL (a Sentinel's primary has no URL)."),
  password: z.string().default("").describe("Redis password, when not in the URL."),
  key_prefix: z.string().default("tollgate:").describe("Prefix of every Redis key, so several deployments can share one Redis."),
  on_error: z.enum(["closed", "open"]).default("closed").describe("Redis unreachable: `closed` answers 503 `budget_store_unavailable`; `open` lets traffic through unbudgeted and logs it."),
  budget_leases: z.boolean().default(true).describe("Budget leases (src/budget/lease-slices.ts): each replica reserves in memory against slices of the budgets it takes from Redis, so no request waits for Redis before it goes upstream."),
  settle_batch_ms: z.number().int().min(0).max(1000).default(10).describe("Under budget leases, how long a settle may wait to go to Redis in one script call with others (its cost is already counted in the replica's slice); reads on the replica send what waits at once. 0: only the settles of one turn of the event loop share a call."),
  usage_records_max: positiveInt.default(100_000).describe("How many usage records the store keeps (newest first)."),
  journal_dir: z
    .string()
    .default("")
    .describe("A folder on a volume (the replica's own, or one the replicas share) for settles that could not reach Redis: written and fsynced there, replayed exactly once when Redis is back or at the next start. Empty: kept in memory only, and logged as lost if the replica stops first."),
  require_persistence: z.boolean().default(false).describe("Refuse to start when Redis keeps nothing on disk (a restart would reset every budget); see src/budget/persistence.ts."),
});

export const limitsSchema = z.strictObject({
  daily: usd.optional().describe("USD per calendar day (in budgets.timezone)."),
  monthly: usd.optional().describe("USD per calendar month."),
  per_request: usd.optional().describe("The most one request's estimate may be, USD."),
  rpm: positiveInt.optional().describe("Requests per minute (src/budget/rate-limits.ts), shared by every replica."),
  tpm: positiveInt.optional().describe("Tokens per minute: counted at the worst case when admitted, corrected at the settle."),
});

export const budgetsSchema = z.strictObject({
  timezone: z.string().default("UTC").describe("The IANA time zone of the budget days and months."),
  output_estimate: z.union([z.literal("half_input"), z.number().int().nonnegative()]).default("half_input").describe("Expected output of a request without an output limit: half its input, or a number of tokens."),
  downgrade: z.boolean().default(true).describe("When a model does not fit a budget, try cheaper ones before answering 429."),
  alert_thresholds: z.array(z.number().positive()).default([0.8, 1.0]).describe("Fractions of a limit that raise an alert, once per scope and window."),
  alert_webhook: z.string().default("").describe("A URL alerts are POSTed to (Slack-compatible `text`)."),
  alert_on_forecast: z.boolean().default(false).describe("Alert when a window's forecast (src/budget/forecast.ts) reaches its limit before the window ends."),
  global: limitsSchema.default({}).describe("Limits on all traffic."),
  teams: z.record(z.string(), limitsSchema).default({}).describe("Limits per team (keys[].team)."),
  keys: z.record(z.string(), limitsSchema).default({}).describe("Limits per key id."),
  end_users: z
    .strictObject({ default: limitsSchema.optional(), keys: z.record(z.string(), limitsSchema).default({}) })
    .default({ keys: {} })
    .describe("Budgets of each end user (the `user` field or `x-tollgate-user`) within its key: `default` for every end user, `keys` for those of one key. Held with the request's other scopes."),
  tags: z.record(z.string(), limitsSchema).default({}).describe("Budgets of the spend labelled with a tag (`x-tollgate-tags`)."),
  web_search: z
    .strictObject({ max: positiveInt.default(10), input_tokens: z.number().int().nonnegative().default(8000) })
    .default({ max: 10, input_tokens: 8000 }).describe("What a request with web search is held for: at most `max` searches (a Responses request is sent with `max_tool_calls` at most this), each the model's fee plus `input_tokens` of search content read as input."),
});

export const accountingSchema = z.strictObject({
  drain_seconds: z.number().nonnegative().default(120).describe("Once a request has gone upstream, a client that leaves does not end its accounting: tollgate reads on to the answer's usage for at most this long (0: stop reading at once)."),
});

export const responsesSchema = z.strictObject({
  background_poll_seconds: positiveInt.default(30).describe("How often tollgate looks up an unfinished background response to settle it."),
  background_hold_hours: z.number().positive().default(24).describe("A background response still unfinished after this long is charged at its hold (`unreconciled`)."),
});

export const keySchema = z.strictObject({
  id: z.string().min(1).describe("The key's name in records, budgets and logs."),
  key: z.string().describe("The secret clients send as a Bearer token (`${VAR}`); empty: the key is skipped with a warning."),
  team: z.string().optional().describe("The team whose budgets the key also counts against."),
  max_tier: tierSchema.optional().describe("The highest tier this key is routed to."),
  endpoints: z.array(z.string()).optional().describe("Endpoint classes this key may call (names from src/gate/classes.ts, or `priced`, `metered`, `free`); unset: all."),
  models: z.array(z.string()).optional().describe("Models this key may name or be routed to; unset: all."),
});

export const optimizeSchema = z.strictObject({
  prompt: z.boolean().default(false).describe("The prompt optimizer: whitespace, filler phrases, wordy phrases (user text only)."),
  fit_context: z.boolean().default(true).describe("Drop the oldest messages of a prompt too long for the routed model."),
  output_limits: z.record(z.string(), positiveInt).default({
    classification: 50,
    extraction: 200,
    summary: 300,
    explanation: 500,
    generation: 1000,
  }),
  compress: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** A conversation whose prompt is longer than this is compressed (also when it does not fit the routed model). */
      trigger_tokens: positiveInt.default(8000),
      /** The most recent turns kept word for word. */
      keep_turns: positiveInt.default(6),
    })
    .default({ enabled: false, trigger_tokens: 8000, keep_turns: 6 }).describe("Context compression by summary (off by default; `x-tollgate-compress: on|off` per request)."),
});

export const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false).describe("The response cache (deterministic requests, or `x-tollgate-cache: on`)."),
  ttl_seconds: positiveInt.default(3600).describe("How long a cached answer is kept."),
  scope: z.enum(["key", "team", "global"]).default("key").describe("Who shares cached answers: each key its own (default), a team, or every caller."),
});

/** Micro-batches (`x-tollgate-batch: <max wait ms>`): requests held until this many wait, then sent as one call. */
export const batchSchema = z.strictObject({
  max_size: positiveInt.default(20),
});

/** What an endpoint class may do: refused, passed without a budget, or held at `hold` USD and settled. */
const endpointPolicySchema: z.ZodType<EndpointPolicy> = z.union([z.literal("off"), z.literal("free"), z.strictObject({ hold: usd })]);

/**
 * Every /v1/ path besides the priced endpoints, by class (src/gate/classes.ts): `false` answers 404
 * for all of them.
 */
export const passthroughSchema = z.union([
  z.literal(false),
  z.strictObject({
    upstream: z.string().optional().describe("Where a request that names no model goes; default: the first upstream."),
    body_limit_mb: z.number().positive().default(512).describe("The largest body passed through (uploads)."),
    endpoints: z.record(z.string(), endpointPolicySchema).default({}).describe("Policies by class; a class not named keeps its default (DEFAULT_POLICIES)."),
    unknown: z.enum(["refuse", "allow"]).default("refuse").describe("Paths tollgate does not know: refused with 404, or passed on free (unbudgeted, unowned)."),
    owner: z.enum(["key", "team"]).default("key").describe("Who owns an object created through tollgate: the key that created it, or the key's team."),
  }),
]);

/** A connection URL node-postgres reads as meant: a bare word would become a host name, and fail late as ENOTFOUND. */
function postgresUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === "postgres:" || url.protocol === "postgresql:") && (url.hostname !== "" || url.searchParams.has("host"));
}

/** The PostgreSQL ledger every usage record is written to, when `postgres_url` is set (src/ledger). */
export const ledgerSchema = z.strictObject({
  postgres_url: z
    .string()
    .refine((url) => url === "" || postgresUrl(url), "expected a postgres:// or postgresql:// URL with a host, e.g. postgres://tollgate@db:5432/tollgate")
    .default(""),
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case SQL identifier")
    .default("public").describe("The schema its tables live in (created when missing)."),
  batch_size: positiveInt.max(10_000).default(500).describe("Records written in one INSERT."),
  poll_ms: positiveInt.default(1000).describe("How long the writer waits on the queue for new records before looking again."),
  claim_idle_ms: positiveInt.default(60_000).describe("Records a writer took and did not confirm for this long (its replica died) are taken over by another."),
});
