import type { Hono } from "hono";
import { StoreUnavailableError, type BudgetStore } from "../../budget/interface.js";
import { checkPersistence } from "../../budget/persistence.js";
import { RedisBudgetStore } from "../../budget/redis.js";
import { ProxyError } from "../../errors.js";
import { headerUsd } from "../../money.js";
import { chatShape } from "../../endpoints/chat.js";
import { planRequest, type Prepared } from "../../plan/index.js";
import type { ChatBody } from "../../request/parse.js";
import { expectedOutput } from "../../pricing/estimate.js";
import { isChatObject, parseJsonBody, validateChatBody } from "../../request/parse.js";
import { clientOutputLimit } from "../../routing/adapt.js";
import type { Services } from "../../services.js";
import { requestOf } from "../admit.js";

/** The expected output of a prepared request, as its estimate counts it. */
function expectedTokens(prepared: Prepared<ChatBody>, setting: Services["config"]["budgets"]["output_estimate"]): number {
  return expectedOutput(prepared.worstOutput, prepared.inputTokens, clientOutputLimit(prepared.body), setting);
}

/** The routing score's thresholds in force, and the target shares they follow (if any). */
function routingThresholds(services: Services) {
  const { thresholds, target, windowCount } = services.router.scoreTiers();
  const round = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(4)) : null);
  return {
    premium: round(thresholds.premium),
    standard: round(thresholds.standard),
    ...(target ? { target_share: target, window_scores: windowCount ?? 0 } : {}),
  };
}

/**
 * Redis's persistence, asked again on each look (a Redis replaced since the start shows): false is
 * shown, not judged, as a backlog is; `store.require_persistence` refuses the start instead.
 */
async function storePersistence(store: BudgetStore): Promise<{ store_persistent?: boolean | "unknown" }> {
  if (!(store instanceof RedisBudgetStore)) return {};
  return { store_persistent: (await checkPersistence(store.redis)).persistent };
}

/** What GET /v1/models lists, by id: the auto aliases, then every configured model with its tier and price. */
function modelObjects(services: Services): Map<string, Record<string, unknown>> {
  // "created" of the listed models: when this proxy started, by its clock.
  const created = Math.floor(services.clock.now() / 1000);
  const objects = new Map<string, Record<string, unknown>>();
  for (const id of services.config.routing.auto_models) objects.set(id, { id, object: "model", created, owned_by: "tollgate", tier: "auto" });
  for (const [id, m] of Object.entries(services.config.models)) {
    objects.set(id, {
      id,
      object: "model",
      created,
      owned_by: m.upstream,
      tier: m.tier,
      context_window: m.context_window,
      ...(m.max_output_tokens !== undefined ? { max_output_tokens: m.max_output_tokens } : {}),
      // USD per 1M tokens as resolved at start; "config", or the catalogue and its version.
      price: m.price,
      price_source: m.price_source,
    });
  }
  return objects;
}

/** GET /v1/models and /v1/models/{id}, POST /v1/estimate, GET /health, GET /ready. */
export function registerInfoRoutes(app: Hono, services: Services): void {
  const models = modelObjects(services);
  app.get("/v1/models", (c) => {
    services.auth.authenticate(c.req.header("authorization"));
    return c.json({ object: "list", data: [...models.values()] });
  });
  // The names tollgate serves are answered here (the upstream knows no `auto`); any other goes on to
  // the pass-through, which asks the upstream.
  app.get("/v1/models/:id", async (c, next) => {
    services.auth.authenticate(c.req.header("authorization"));
    const id = c.req.param("id");
    const found = models.get(id);
    if (found) return c.json(found);
    if (services.config.passthrough === false) throw new ProxyError("model_not_found", `The model '${id}' does not exist.`, "model");
    await next();
  });

  app.post("/v1/estimate", async (c) => {
    const caller = services.auth.authenticate(c.req.header("authorization"));
    const text = await c.req.text();
    const raw = parseJsonBody(text);
    if (!isChatObject(raw)) throw new ProxyError("invalid_request", "the request body must be a JSON object with 'prompt' or 'messages'");
    if (raw.prompt !== undefined && typeof raw.prompt !== "string") throw new ProxyError("invalid_request", "'prompt' must be a string", "prompt");
    const messages = raw.messages ?? (typeof raw.prompt === "string" ? [{ role: "user", content: raw.prompt }] : undefined);
    if (messages === undefined) throw new ProxyError("invalid_request", "send 'prompt' (a string) or 'messages'", "prompt");
    const { prompt: _prompt, ...rest } = raw;
    const body = validateChatBody({ ...rest, model: raw.model ?? services.config.routing.auto_models[0] ?? "auto", messages });
    // The same plan a chat request gets: routing, token reduction, context fit, the same prices.
    // Its routing is a preview: an estimate is not traffic, so it does not move a target share.
    const request = requestOf(c, "estimate", services.clock.now(), performance.now(), caller, body, text.length);
    const plan = await planRequest({ ...services, router: { ...services.router, route: services.router.preview } }, request, chatShape);
    const prepared = await plan.prepare(plan.decision.model);
    return c.json({
      model: plan.decision.model,
      tier: plan.decision.tier,
      route: plan.decision.route,
      routing_score: plan.decision.score === undefined ? null : Number(plan.decision.score.toFixed(4)),
      routing_thresholds: routingThresholds(services),
      input_tokens: prepared.inputTokens,
      expected_output_tokens: expectedTokens(prepared, services.config.budgets.output_estimate),
      estimated_cost: Number(headerUsd(prepared.expectedCost)),
      max_output_tokens: prepared.worstOutput,
      max_cost: Number(headerUsd(prepared.holdAmount)),
    });
  });

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/ready", async (c) => {
    if (services.lifecycle.draining) return c.json({ status: "draining", store: services.store.kind }, 503);
    // The ledger's backlog is shown, not judged: records wait in the store while PostgreSQL is down.
    const ledger = services.ledger ? { ledger: await services.ledger.status() } : {};
    try {
      await services.store.ping();
      return c.json({ status: "ready", store: services.store.kind, ...(await storePersistence(services.store)), settle_backlog: services.settler.backlog, ...ledger });
    } catch (err) {
      // A short reason to act on (wrong password, connection refused, not the slot's owner), then the whole cause.
      const reason = err instanceof StoreUnavailableError ? err.reason : "store check failed";
      return c.json({ status: "unavailable", store: services.store.kind, reason, error: (err as Error).message, ...ledger }, 503);
    }
  });
}
