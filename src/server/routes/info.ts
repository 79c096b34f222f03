import type { Hono } from "hono";
import { ProxyError } from "../../errors.js";
import { headerUsd } from "../../money.js";
import { estimateCost, expectedOutputTokens } from "../../pricing/cost.js";
import { isChatObject, validateChatBody } from "../../request/parse.js";
import { planRoute } from "../../routing/plan.js";
import type { Services } from "../../services.js";
import { countPromptTokens } from "../../tokens/count.js";
import { readRequestType } from "../request-headers.js";

const STARTED = Math.floor(Date.now() / 1000);

/** GET /v1/models, POST /v1/estimate, GET /health, GET /ready. */
export function registerInfoRoutes(app: Hono, services: Services): void {
  app.get("/v1/models", (c) => {
    services.auth.authenticate(c.req.header("authorization"));
    const data = [
      ...services.config.routing.auto_models.map((id) => ({ id, object: "model", created: STARTED, owned_by: "tollgate", tier: "auto" })),
      ...Object.entries(services.config.models).map(([id, m]) => ({
        id,
        object: "model",
        created: STARTED,
        owned_by: m.upstream,
        tier: m.tier,
        context_window: m.context_window,
        price: m.price,
      })),
    ];
    return c.json({ object: "list", data });
  });

  app.post("/v1/estimate", async (c) => {
    const caller = services.auth.authenticate(c.req.header("authorization"));
    let raw: unknown;
    try {
      raw = JSON.parse(await c.req.text());
    } catch (err) {
      throw new ProxyError("invalid_json", `the request body is not valid JSON: ${(err as Error).message}`);
    }
    if (!isChatObject(raw)) throw new ProxyError("invalid_request", "the request body must be a JSON object with 'prompt' or 'messages'");
    if (raw.prompt !== undefined && typeof raw.prompt !== "string") throw new ProxyError("invalid_request", "'prompt' must be a string", "prompt");
    const messages = raw.messages ?? (typeof raw.prompt === "string" ? [{ role: "user", content: raw.prompt }] : undefined);
    if (messages === undefined) throw new ProxyError("invalid_request", "send 'prompt' (a string) or 'messages'", "prompt");
    const body = validateChatBody({ ...raw, model: raw.model ?? services.config.routing.auto_models[0] ?? "auto", messages });
    const requestType = readRequestType(c.req.header("x-tollgate-request-type"));
    const { decision } = await planRoute(services, body, caller, requestType, {
      tier: c.req.header("x-tollgate-tier"),
      maxTier: c.req.header("x-tollgate-max-tier"),
    });
    const model = services.config.models[decision.model]!;
    const inputTokens = await countPromptTokens(body.messages, services.encodingOf(decision.model), body.tools);
    const output = expectedOutputTokens(inputTokens, body.max_completion_tokens ?? body.max_tokens ?? undefined, services.config.budgets.output_estimate, model);
    const cost = estimateCost(model, inputTokens, output, body.n ?? 1);
    return c.json({
      model: decision.model,
      tier: decision.tier,
      route: decision.route,
      input_tokens: inputTokens,
      expected_output_tokens: output,
      estimated_cost: Number(headerUsd(cost)),
    });
  });

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/ready", async (c) => {
    if (services.lifecycle.draining) return c.json({ status: "draining", store: services.store.kind }, 503);
    try {
      await services.store.ping();
      return c.json({ status: "ready", store: services.store.kind, settle_backlog: services.settler.backlog });
    } catch (err) {
      return c.json({ status: "unavailable", store: services.store.kind, error: (err as Error).message }, 503);
    }
  });
}
