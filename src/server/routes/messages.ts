import type { Hono, MiddlewareHandler } from "hono";
import { upstreamProtocol } from "../../config/schema.js";
import { messagesPrompt, messagesShape, validateMessagesBody } from "../../endpoints/messages.js";
import { requireGrant } from "../../gate/policy.js";
import { MAX_OUTPUT_TOKENS, parseJsonBody } from "../../request/parse.js";
import { claudeModel } from "../../routing/claude.js";
import type { Services } from "../../services.js";
import { requestHeader } from "../node-request.js";
import { countChatRequest, sum } from "../../tokens/request.js";
import { maskSecrets } from "../../upstream/secrets.js";
import { callerOf } from "../admit.js";
import { exchange } from "../exchange.js";
import { anthropicHeaders } from "../request-headers.js";
import { proxiedEndpoint } from "./proxied.js";

/**
 * Anthropic's Messages API. `POST /v1/messages` is a priced route (class `messages`): the same plan,
 * hold, fallback, relay and accounting as chat, natively to Anthropic upstreams and translated to
 * OpenAI ones (endpoints/wire.ts). `POST /v1/messages/count_tokens` is free, as Anthropic's is: it
 * needs a key granted `messages`, and a model on an Anthropic upstream is asked (its count is
 * exact); any other is counted here. `?beta=true` (the SDK's beta client) changes neither.
 */
export function registerMessagesRoutes(app: Hono, services: Services, limited: MiddlewareHandler): void {
  app.post("/v1/messages", limited, proxiedEndpoint(services, messagesShape));
  app.post("/v1/messages/count_tokens", limited, countTokens(services));
}

function countTokens(services: Services) {
  return exchange(services, async (ex, c) => {
    const caller = callerOf(services, c, "anthropic");
    requireGrant(caller, "messages");
    const parsed = parseJsonBody(await c.req.text()) as Record<string, unknown>;
    // Counting needs no output limit: the check of one is satisfied with the largest.
    const body = validateMessagesBody({ max_tokens: MAX_OUTPUT_TOKENS, ...(parsed ?? {}) });
    const { config } = services;
    const { model } = claudeModel(config, body.model);
    const known = Object.hasOwn(config.models, model) ? config.models[model] : undefined;
    if (known && upstreamProtocol(config.upstreams[known.upstream]!) === "anthropic") {
      const { max_tokens: _limit, stream: _stream, ...rest } = parsed;
      const counted = { ...rest, model: known.upstream_model ?? model };
      using reply = await services.upstream.post({
        upstream: known.upstream,
        path: "/messages/count_tokens",
        headers: anthropicHeaders((name) => requestHeader(c, name)),
        body: JSON.stringify(counted),
        signal: ex.signal,
      });
      const text = maskSecrets(await reply.body.text(), services.upstream.secrets);
      return { response: new Response(text, { status: reply.status, headers: { "content-type": "application/json" } }) };
    }
    const tokens = await countChatRequest(messagesPrompt(body), known ? services.encodingOf(model) : "o200k_base");
    return { response: Response.json({ input_tokens: sum(tokens.messages) + tokens.fixed }) };
  });
}
