import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config/schema.js";
import { AlertNotifier } from "./budget/alerts.js";
import { ForecastWatch } from "./budget/forecast-watch.js";
import { knownScopes } from "./budget/scopes.js";
import { StoreUnavailableError, type BudgetStore } from "./budget/interface.js";
import { MemoryBudgetStore } from "./budget/memory.js";
import { RedisBudgetStore } from "./budget/redis.js";
import { Leases } from "./budget/leases.js";
import { BackgroundResponses } from "./usage/background.js";
import { Settler } from "./budget/settle.js";
import { SettleJournal } from "./budget/journal.js";
import { WindowCache } from "./budget/window.js";
import { ResponseCache } from "./cache/response-cache.js";
import { ProxyError, toProxyError, type ErrorFormat } from "./errors.js";
import { ObjectDirectory } from "./gate/objects.js";
import { cataloguePrice } from "./gate/metered.js";
import { canonicalPath, pathProblem } from "./gate/path.js";
import { REFERENCE_TEXTS } from "./gate/stored.js";
import { jsonLogger, type Logger } from "./log.js";
import { KeyAdmin } from "./keys/admin.js";
import { PostgresEntryStore } from "./keys/postgres.js";
import { KeyRegistry } from "./keys/registry.js";
import { createLedger, MemoryLedgerQueue } from "./ledger/index.js";
import { registerLedgerRoutes } from "./server/routes/records.js";
import { registerDashboard } from "./server/routes/dashboard.js";
import { Metrics } from "./metrics.js";
import { compileRules } from "./routing/classify.js";
import { createRouter } from "./routing/route.js";
import { tierModels as buildTierModels } from "./routing/tiers.js";
import { createAuthenticator } from "./server/auth.js";
import { clientSignal, limitedBody, type NodeBindings } from "./server/node-request.js";
import { cors } from "./server/cors.js";
import { idempotent, KEEP_MS } from "./server/idempotency.js";
import { completionsShape } from "./endpoints/completions.js";
import { embeddingsShape } from "./endpoints/embeddings.js";
import { responsesShape } from "./endpoints/responses.js";
import { createBatcher } from "./batch/step.js";
import { registerPassthrough } from "./server/routes/passthrough.js";
import { registerSeedChat } from "./server/routes/seed-chat.js";
import { registerMessagesRoutes } from "./server/routes/messages.js";
import { chatCompletions, proxiedEndpoint } from "./server/routes/proxied.js";
import { registerAdminRoutes } from "./server/routes/admin.js";
import { registerCostRoutes } from "./server/routes/costs.js";
import { registerInfoRoutes } from "./server/routes/info.js";
import { registerMetricsRoute } from "./server/routes/metrics.js";
import { Lifecycle, type Services } from "./services.js";
import { defaultEncoding, warmEncodings, type EncodingName } from "./tokens/count.js";
import { UpstreamClient } from "./upstream/client.js";
import { tracingFromEnv } from "./telemetry/tracing.js";

/** How long concurrent identical requests wait for the one that went upstream. */
const CACHE_LOCK_MS = 30_000;

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** A store to use instead of the one the configuration names (tests). */
  store?: BudgetStore;
  /** Where the OTEL_* variables come from (default: the process's environment). */
  env?: NodeJS.ProcessEnv;
}

export function createStore(config: Config, clock: Clock, logger: Logger = jsonLogger): BudgetStore {
  // With a ledger, the store also queues every record for it (src/ledger/queue.ts).
  const ledger = config.ledger.postgres_url !== "";
  const { redis_url, redis_cluster, redis_sentinel, tls, username, password } = config.store;
  if (redis_url || redis_cluster || redis_sentinel) {
    return new RedisBudgetStore({
      url: redis_url,
      ...(redis_cluster ? { cluster: redis_cluster } : {}),
      ...(redis_sentinel ? { sentinel: redis_sentinel } : {}),
      ...(tls ? { tls } : {}),
      username,
      password,
      logger,
      keyPrefix: config.store.key_prefix,
      maxRecords: config.store.usage_records_max,
      ledger,
      ...(config.store.budget_leases ? { leases: { replica: randomUUID().slice(0, 8), now: () => clock.now(), settleBatchMs: config.store.settle_batch_ms } } : {}),
    });
  }
  return new MemoryBudgetStore(clock, config.store.usage_records_max, ledger ? new MemoryLedgerQueue(config.ledger.poll_ms, logger) : undefined);
}

export function createServices(config: Config, options: ServiceOptions = {}): Services {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? jsonLogger;
  const store = options.store ?? createStore(config, clock, logger);
  const metrics = new Metrics();
  const upstream = new UpstreamClient(config.upstreams);
  const tierModels = buildTierModels(config);
  const encodings = new Map<string, EncodingName>(
    Object.entries(config.models).map(([name, m]) => [name, m.encoding ?? defaultEncoding(m.upstream_model ?? name)]),
  );
  warmEncodings(["o200k_base", ...encodings.values()]);
  const notifier = new AlertNotifier(logger, config.budgets.alert_webhook);
  // A journal only where the store outlives the process: the memory store's spend ends with it.
  const journal = config.store.journal_dir && store.kind === "redis" ? new SettleJournal(config.store.journal_dir, randomUUID().slice(0, 8), logger) : undefined;
  const settler = new Settler(store, notifier, logger, clock, config.budgets.alert_thresholds, journal);
  const leases = new Leases(store, settler, config, clock, logger);
  const background = new BackgroundResponses({ config, clock, store, settler, upstream, logger });
  leases.followUp = (hold) => background.followUp(hold);
  const ledger = createLedger(config, store, logger, metrics.registry);
  // Keys made through the admin API live with the ledger when there is one, else in the store.
  const entries = ledger ? new PostgresEntryStore(ledger.db.pool) : store;
  const keys = new KeyRegistry(config, entries, clock, logger);
  const services: Services = {
    config,
    clock,
    store,
    logger,
    metrics,
    ledger,
    tracing: tracingFromEnv(options.env ?? process.env, logger),
    router: createRouter(config, compileRules(config.routing.rules), tierModels, {
      store,
      clock,
      cataloguePrice: (model) => cataloguePrice(config, model, clock.now()),
      onError: (err) => logger.log("warn", "routing_share_sync_failed", { error: (err as Error).message }),
    }),
    tierModels,
    auth: createAuthenticator(config, keys),
    keys,
    keyAdmin: new KeyAdmin(keys, entries, config, clock),
    upstream,
    settler,
    forecast: new ForecastWatch(store, () => knownScopes(config), config.budgets.timezone, notifier, clock, logger),
    leases,
    windows: new WindowCache(config.budgets.timezone),
    encodingOf: (model) => encodings.get(model) ?? "o200k_base",
    cache: config.cache.enabled ? new ResponseCache(store, config.cache.ttl_seconds * 1000, CACHE_LOCK_MS) : undefined,
    lifecycle: new Lifecycle(),
    objects: new ObjectDirectory(store, config.passthrough === false ? "key" : config.passthrough.owner),
    dispatch: () => Promise.reject(new Error("dispatch before buildApp")),
    internalToken: randomUUID(),
    batcher: createBatcher({ config, upstream, clock }),
    background,
  };
  return services;
}

/** The most JSON objects a priced body may have before it is parsed: four per allowed part, and room for tool schemas. */
export const maxObjectsFor = (maxParts: number): number => 4 * maxParts + 1_000;

/** How much of an over-limit body is read and discarded after the 413, as a lingering close does. */
const LINGER_FACTOR = 4;

/**
 * After a 413 the client is usually still sending: closing then would reset the connection before
 * it reads the answer (SDKs report a connection error and upload again). The rest is read and
 * discarded instead, up to a bound, past which the connection is closed.
 */
function lingerOn(env: NodeBindings | undefined, limitBytes: number): void {
  const incoming = env?.incoming;
  if (!incoming) return;
  let discarded = 0;
  incoming.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_FACTOR * limitBytes) incoming.socket.destroy();
  });
  incoming.resume();
}

/** The HTTP surface of SPEC 10 over the given services. */
export function buildApp(services: Services): Hono {
  // Repeated and trailing slashes name the same route (src/gate/path.ts).
  const app = new Hono({ getPath: canonicalPath });
  // First, so a preflight is answered before anything else and every answer carries the headers.
  if (services.config.server.cors) app.use(cors(services.config.server.cors));
  // Any other spelling that decodes to another path reaches no route and no upstream.
  app.use(async (c, next) => {
    const target = (c.env as NodeBindings | undefined)?.incoming?.url;
    const problem = target === undefined ? undefined : pathProblem(target);
    if (problem !== undefined) throw new ProxyError("invalid_path", `The request path has ${problem}; send the endpoint's path as the API spells it.`);
    await next();
  });
  services.dispatch = async (request) => app.fetch(request);
  const limitBytes = Math.floor(services.config.server.body_limit_mb * 1024 * 1024);
  // The priced endpoints read their bodies whole: those are limited; a pass-through streams and has its own limit.
  const maxParts = services.config.server.max_parts;
  const limited = limitedBody({
    maxSize: limitBytes,
    onError: (c) => {
      lingerOn(c.env as NodeBindings | undefined, limitBytes);
      // The connection is closed after the rest is discarded: a client must not send its next request on it.
      return new ProxyError("request_too_large", `The request body is larger than the limit of ${services.config.server.body_limit_mb} MB.`).toResponse({ connection: "close" }, errorFormat(c.req.path));
    },
    // Far more objects than parts can need (an image part is two, a tool's schema a few dozen): refused unparsed.
    maxObjects: maxObjectsFor(maxParts),
    // The fields naming stored objects, noted as the bytes pass: the owner check walks only bodies with one (admit.ts).
    notice: REFERENCE_TEXTS,
    // Answered once the whole body is read (and dropped): the connection stays usable.
    onTooManyObjects: (c) => new ProxyError("invalid_request", `This request has more than ${maxObjectsFor(maxParts)} JSON objects; this proxy accepts at most ${maxParts} messages and content parts (server.max_parts).`, null).toResponse({}, errorFormat(c.req.path)),
  });
  // A request runs at most its upstream's timeout and the drain after it: a claim on a key lasts that long.
  const longestRun = Math.max(...Object.values(services.config.upstreams).map((u) => u.timeout_ms)) + services.config.accounting.drain_seconds * 1000;
  const once = idempotent({ store: services.store, auth: services.auth, logger: services.logger, runningMs: Math.min(longestRun, KEEP_MS) });
  app.post("/v1/chat/completions", limited, once, chatCompletions(services));
  app.post("/v1/responses", limited, once, proxiedEndpoint(services, responsesShape));
  app.post("/v1/completions", limited, once, proxiedEndpoint(services, completionsShape));
  app.post("/v1/embeddings", limited, once, proxiedEndpoint(services, embeddingsShape));
  registerMessagesRoutes(app, services, limited);
  app.post("/v1/estimate", limited);
  app.post("/v1/chat", limited);
  registerSeedChat(app, services);
  registerInfoRoutes(app, services);
  registerCostRoutes(app, services);
  app.use("/v1/admin/*", limited);
  registerAdminRoutes(app, services);
  registerLedgerRoutes(app, services);
  registerDashboard(app, services);
  registerMetricsRoute(app, services);
  registerPassthrough(app, services);
  app.notFound((c) => new ProxyError("not_found", `Unknown endpoint: ${c.req.method} ${c.req.path}`).toResponse());
  // Every error a route throws is answered and counted here, and only here.
  app.onError((err, c) => {
    // A report or a lookup that reads the store answers as a request's reserve does when it is away: 503.
    const error =
      err instanceof StoreUnavailableError
        ? new ProxyError("budget_store_unavailable", `The budget store is unreachable (${err.reason}); retry shortly.`, null, { "retry-after": "1" })
        : toProxyError(err, clientSignal(c).aborted);
    if (error.code === "internal_error") services.logger.log("error", "internal_error", { error: err.stack ?? String(err) });
    if (error.code === "client_closed_request") services.logger.log("info", "client_closed_request", { path: c.req.path, status: error.status });
    services.metrics.rejected.inc({ code: error.code });
    // A body over a limit is left unread: the connection is closed after the answer, and says so.
    return error.toResponse(error.code === "request_too_large" ? { connection: "close" } : {}, errorFormat(c.req.path));
  });
  return app;
}

/** Errors on Anthropic's Messages API take its shape; every other route answers OpenAI's. */
function errorFormat(path: string): ErrorFormat {
  return path === "/v1/messages" || path.startsWith("/v1/messages/") ? "anthropic" : "openai";
}

export async function closeServices(services: Services): Promise<void> {
  services.router.close();
  services.keys.stop();
  services.forecast.stop();
  services.leases.stop();
  services.settler.stop();
  // The writer confirms to the store, so it stops before the store closes (a no-op after a shutdown's stop).
  await services.ledger?.stop(0);
  await services.upstream.close();
  await services.store.close();
  await services.ledger?.close();
  // The spans of the last requests leave before the process does.
  await services.tracing?.shutdown();
}
