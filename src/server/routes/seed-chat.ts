import type { Hono } from "hono";
import { ProxyError } from "../../errors.js";
import { optimizeText } from "../../optimize/prompt.js";
import { isChatObject, parseJsonBody } from "../../request/parse.js";
import type { Services } from "../../services.js";

interface SeedChat {
  prompt: string;
  system_prompt?: string;
  optimize_prompt?: boolean;
  max_tier?: string;
  model?: string;
  request_type?: string;
}

function readSeedChat(value: unknown): SeedChat {
  if (!isChatObject(value)) throw new ProxyError("invalid_request", "the request body must be a JSON object with 'prompt'");
  if (typeof value.prompt !== "string" || value.prompt.length === 0) throw new ProxyError("invalid_request", "'prompt' must be a non-empty string", "prompt");
  for (const field of ["system_prompt", "max_tier", "model", "request_type"] as const) {
    if (value[field] !== undefined && value[field] !== null && typeof value[field] !== "string") throw new ProxyError("invalid_request", `'${field}' must be a string`, field);
  }
  if (value.optimize_prompt !== undefined && typeof value.optimize_prompt !== "boolean") throw new ProxyError("invalid_request", "'optimize_prompt' must be a boolean", "optimize_prompt");
  return value as unknown as SeedChat;
}

/**
 * The seed's `POST /v1/chat`: `{prompt, system_prompt, optimize_prompt, max_tier}` ->
 * `{response, model, tier, cost, tokens: {input, output}}`. It is a chat completion through the
 * very same pipeline (the request is handed to POST /v1/chat/completions), so routing, budgets and
 * accounting are those of any other request; only the shapes in and out are the seed's.
 */
export function registerSeedChat(app: Hono, services: Services): void {
  app.post("/v1/chat", async (c) => {
    services.auth.authenticate(c.req.header("authorization"));
    const seed = readSeedChat(parseJsonBody(await c.req.text()));
    const messages = [];
    if (seed.system_prompt) messages.push({ role: "system", content: seed.system_prompt });
    messages.push({ role: "user", content: seed.optimize_prompt ? optimizeText(seed.prompt) : seed.prompt });
    const headers: Record<string, string> = { "content-type": "application/json" };
    for (const name of ["authorization", "x-tollgate-tier"]) {
      const value = c.req.header(name);
      if (value !== undefined) headers[name] = value;
    }
    if (seed.max_tier) headers["x-tollgate-max-tier"] = seed.max_tier;
    if (seed.request_type) headers["x-tollgate-request-type"] = seed.request_type;
    const answer = await app.fetch(
      new Request(new URL("/v1/chat/completions", c.req.url), {
        method: "POST",
        headers,
        body: JSON.stringify({ model: seed.model ?? services.config.routing.auto_models[0] ?? "auto", messages }),
        signal: c.req.raw.signal,
      }),
      c.env,
    );
    if (answer.status !== 200) return answer;
    const completion = (await answer.json()) as { choices?: Array<{ message?: { content?: string | null } }>; usage?: { prompt_tokens?: number; completion_tokens?: number } };
    return c.json({
      response: completion.choices?.[0]?.message?.content ?? "",
      model: answer.headers.get("x-tollgate-model"),
      tier: answer.headers.get("x-tollgate-tier"),
      cost: Number(answer.headers.get("x-tollgate-cost") ?? 0),
      tokens: { input: completion.usage?.prompt_tokens ?? 0, output: completion.usage?.completion_tokens ?? 0 },
      request_id: answer.headers.get("x-request-id"),
    });
  });
}
