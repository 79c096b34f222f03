import { z } from "zod";
import { CLASS_NAMES, ENDPOINT_CLASSES, ENDPOINT_GRANTS } from "../gate/classes.js";
import { modelSchema, priceSchema, longContextSchema, routingSchema, ruleSchema, upstreamSchema } from "./models.js";
import { accountingSchema, batchSchema, corsSchema, budgetsSchema, cacheSchema, keySchema, ledgerSchema, limitsSchema, optimizeSchema, passthroughSchema, responsesSchema, serverSchema, storeSchema } from "./sections.js";
import { tierSchema } from "./units.js";

export { TIERS, tierSchema, type Tier } from "./units.js";
export { upstreamProtocol, type UpstreamProtocol } from "./models.js";

/**
 * The configuration file's schema. Its inferred type is the `Config` every module reads,
 * so the YAML contract and the code cannot drift apart. Objects are strict: an unknown
 * key is an error, never silently ignored. Resolved (prices from the catalogue) by
 * `configSchema` in resolve.ts.
 */

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
    accounting: accountingSchema.default(accountingSchema.parse({})),
    responses: responsesSchema.default(responsesSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    const redis = (["redis_url", "redis_cluster", "redis_sentinel"] as const).filter((k) => config.store[k] !== undefined && config.store[k] !== "");
    if (redis.length > 1) ctx.addIssue({ code: "custom", path: ["store", redis[1]!], message: `set one of store.redis_url, store.redis_cluster and store.redis_sentinel (here: ${redis.join(", ")})` });
    if (config.store.tls && (config.store.tls.cert_file === undefined) !== (config.store.tls.key_file === undefined)) {
      ctx.addIssue({ code: "custom", path: ["store", "tls"], message: "a client certificate needs both cert_file and key_file" });
    }
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
    const embedding = config.routing.default_embedding_model;
    if (embedding !== undefined && !(Object.hasOwn(config.models, embedding) && config.models[embedding]!.kind === "embedding")) {
      ctx.addIssue({ code: "custom", path: ["routing", "default_embedding_model"], message: `"${embedding}" is not a configured embedding model` });
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
    // A budget under a name no key has would bind nobody, and the key meant would have no limit.
    for (const id of Object.keys(config.budgets.keys)) {
      if (!keyIds.has(id)) ctx.addIssue({ code: "custom", path: ["budgets", "keys", id], message: `no key has the id "${id}" (keys: ${[...keyIds].join(", ") || "none"})` });
    }
    const teams = new Set(config.keys.flatMap((k) => (k.team === undefined ? [] : [k.team])));
    for (const team of Object.keys(config.budgets.teams)) {
      if (!teams.has(team)) ctx.addIssue({ code: "custom", path: ["budgets", "teams", team], message: `no key is in the team "${team}" (teams: ${[...teams].join(", ") || "none"})` });
    }
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
export type PassthroughConfig = Exclude<z.infer<typeof passthroughSchema>, false>;
export type LedgerConfig = z.infer<typeof ledgerSchema>;
export type CorsConfig = z.infer<typeof corsSchema>;
