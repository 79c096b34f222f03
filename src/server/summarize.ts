import type { Context } from "hono";
import { compressConversation, readCompressHeader } from "../optimize/compress.js";
import type { ChatRequest } from "../plan/index.js";
import type { Services } from "../services.js";
import { requestHeader } from "./node-request.js";

/**
 * Replaces the older turns of a long conversation by a summary (optimize.compress), asked of the
 * economy tier's model through this proxy's own pipeline as the caller: its cost lands on the
 * caller's budget with a record of its own (`route: compress`).
 */
export async function compressIfLong(services: Services, c: Context, request: ChatRequest, routedModel: string): Promise<ChatRequest | undefined> {
  if (request.routeLabel !== undefined) return undefined;
  const mode = readCompressHeader(requestHeader(c, "x-tollgate-compress"));
  const economy = services.tierModels.economy[0];
  const result = await compressConversation(
    {
      config: services.config,
      store: services.store,
      logger: services.logger,
      economyModel: economy === undefined ? undefined : services.config.models[economy],
      summarize: async (body) => {
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "x-tollgate-internal": services.internalToken,
          "x-tollgate-tier": "economy",
          "x-tollgate-compress": "off",
          "x-tollgate-cache": "off",
        };
        const authorization = requestHeader(c, "authorization");
        if (authorization !== undefined) headers.authorization = authorization;
        const answer = await services.dispatch(new Request(new URL("/v1/chat/completions", c.req.url), { method: "POST", headers, body: JSON.stringify({ ...body, model: economy }) }));
        if (answer.status !== 200) throw new Error(`the summary call answered ${answer.status}`);
        const completion = (await answer.json()) as { choices?: Array<{ message?: { content?: unknown } }> };
        const content = completion.choices?.[0]?.message?.content;
        return typeof content === "string" && content.trim() !== "" ? content : undefined;
      },
    },
    request.body,
    services.config.models[routedModel]!,
    mode,
  );
  if (!result) return undefined;
  return { ...request, body: result.body, bodyChars: Math.ceil((request.bodyChars * result.after) / result.before), compressed: { before: result.before, after: result.after } };
}
