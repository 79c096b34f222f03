import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { ChatRequest } from "../plan/index.js";
import { parseChatBody } from "../request/parse.js";
import type { Services } from "../services.js";
import { readRequestType } from "./request-headers.js";

/**
 * Steps 1-2 of SPEC 3: authenticate first (no CPU spent on bodies from unknown callers), then
 * parse and validate the body and read tollgate's request headers.
 */
export async function admitChat(services: Services, c: Context): Promise<ChatRequest> {
  const startedMono = performance.now();
  const startedAt = services.clock.now();
  const caller = services.auth.authenticate(c.req.header("authorization"));
  const text = await c.req.text();
  return {
    id: `chatcmpl-tg-${randomUUID()}`,
    startedAt,
    startedMono,
    caller,
    body: parseChatBody(text),
    bodyChars: text.length,
    requestType: readRequestType(c.req.header("x-tollgate-request-type")),
    tierHeader: c.req.header("x-tollgate-tier"),
    maxTierHeader: c.req.header("x-tollgate-max-tier"),
  };
}
