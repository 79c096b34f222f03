import { z } from "zod";
import type { EndpointPolicy } from "../gate/classes.js";
import { positiveInt, tierSchema, usd } from "./units.js";

/** The configuration's server, store, budgets, keys, optimizations, pass-through and ledger (see schema.ts). */

export const serverSchema = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8787),
  body_limit_mb: z.number().positive().default(10),
  allow_open: z.boolean().default(false),
  /** Requests still in flight get this long to finish after SIGTERM. */
  shutdown_grace_ms: positiveInt.default(30_000),
  /** Messages and content parts one request may have (each is counted; a body of millions would hold the CPU). */
  max_parts: positiveInt.default(10_000),
});

export const storeSchema = z.strictObject({
  /** One Redis server: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Empty (and no Sentinel): the memory store. */
  redis_url: z.string().default(""),
  /** The primary a Sentinel names (`sentinels`: `host:port` of each); tollgate follows its failovers. */
  redis_sentinel: z
    .strictObject({ name: z.string().min(1), sentinels: z.array(z.string().min(1)).min(1), password: z.string().default("") })
    .optional(),
  /** TLS to Redis from certificate files (PEM): the CA that signed the server's, and a client certificate when Redis asks for one. */
  tls: z.strictObject({ ca_file: z.string().optional(), cert_file: z.string().optional(), key_file: z.string().optional(), servername: z.string().optional() }).optional(),
  /** Redis ACL user and password, when not in the URL (a Sentinel's primary has no URL). */
  username: z.string().default(""),
  password: z.string().default(""),
  key_prefix: z.string().default("tollgate:"),
  on_error: z.enum(["closed", "open"]).default("closed"),
  /**
   * Budget leases (src/budget/lease-slices.ts): each replica reserves in memory against slices of
   * the budgets it takes from Redis, so no request waits for Redis before it goes upstream.
   */
  budget_leases: z.boolean().default(true),
  /** How many usage records the store keeps (newest first). */
  usage_records_max: positiveInt.default(100_000),
  /** Refuse to start when Redis keeps nothing on disk (a restart would reset every budget); see src/budget/persistence.ts. */
  require_persistence: z.boolean().default(false),
});

export const limitsSchema = z.strictObject({
  daily: usd.optional(),
  monthly: usd.optional(),
  per_request: usd.optional(),
});

export const budgetsSchema = z.strictObject({
  timezone: z.string().default("UTC"),
  output_estimate: z.union([z.literal("half_input"), z.number().int().nonnegative()]).default("half_input"),
  downgrade: z.boolean().default(true),
  alert_thresholds: z.array(z.number().positive()).default([0.8, 1.0]),
  alert_webhook: z.string().default(""),
  global: limitsSchema.default({}),
  teams: z.record(z.string(), limitsSchema).default({}),
  keys: z.record(z.string(), limitsSchema).default({}),
  /**
   * What a request with web search is held for: at most `max` searches (a Responses request is
   * sent with `max_tool_calls` at most this), each the model's fee plus `input_tokens` of search
   * content read as input.
   */
  web_search: z
    .strictObject({ max: positiveInt.default(10), input_tokens: z.number().int().nonnegative().default(8000) })
    .default({ max: 10, input_tokens: 8000 }),
});

export const accountingSchema = z.strictObject({
  /**
   * Once a request has gone upstream, a client that leaves does not end its accounting: tollgate
   * reads on to the answer's usage for at most this long (0: stop reading at once).
   */
  drain_seconds: z.number().nonnegative().default(120),
});

export const responsesSchema = z.strictObject({
  /** How often tollgate looks up an unfinished background response to settle it. */
  background_poll_seconds: positiveInt.default(30),
  /** A background response still unfinished after this long is charged at its hold (`unreconciled`). */
  background_hold_hours: z.number().positive().default(24),
});

export const keySchema = z.strictObject({
  id: z.string().min(1),
  key: z.string(),
  team: z.string().optional(),
  max_tier: tierSchema.optional(),
  /** Endpoint classes this key may call (names from src/gate/classes.ts, or `priced`, `metered`, `free`); unset: all. */
  endpoints: z.array(z.string()).optional(),
  /** Models this key may name or be routed to; unset: all. */
  models: z.array(z.string()).optional(),
});

export const optimizeSchema = z.strictObject({
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

export const cacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  ttl_seconds: positiveInt.default(3600),
  /** Who shares cached answers: each key its own (default), a team, or every caller. */
  scope: z.enum(["key", "team", "global"]).default("key"),
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
