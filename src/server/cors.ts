import type { MiddlewareHandler } from "hono";
import type { CorsConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";

/**
 * CORS for web apps on other origins (`server.cors`): a preflight is answered here, before any
 * authentication (a browser sends it without the key), and every answer to an allowed origin,
 * errors included, carries `Access-Control-*`, so the app reads the error instead of a network
 * failure.
 *
 *   app.use(cors({ origins: ["https://app.example.com"], max_age: 600 }));
 */

const METHODS = "GET, POST, DELETE, HEAD, OPTIONS";
/** The answer's headers a browser app may read: tollgate's own, the upstream's ids, rate limits and retry advice. */
const EXPOSED = [
  "x-request-id",
  "x-upstream-request-id",
  ...["tier", "model", "route", "estimated-cost", "cost", "cache", "fallback", "output-limit", "output-capped", "context-dropped", "prompt-saved-tokens", "compressed", "batched"].map((h) => `x-tollgate-${h}`),
  "idempotent-replayed",
  "openai-processing-ms",
  "openai-version",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  ...["limit-requests", "remaining-requests", "reset-requests", "limit-tokens", "remaining-tokens", "reset-tokens"].map((h) => `x-ratelimit-${h}`),
].join(", ");

export function cors(settings: CorsConfig): MiddlewareHandler {
  const any = settings.origins.includes("*");
  const origins = new Set(settings.origins);
  // No credentials are ever allowed (keys travel in Authorization), so `*` may stand for any origin.
  const allowOrigin = (origin: string) => (any ? "*" : origin);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin === undefined) return next();
    const allowed = any || origins.has(origin);
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method") !== undefined) {
      if (!allowed) throw new ProxyError("origin_not_allowed", `The origin '${origin}' may not call this proxy (server.cors.origins).`, null, { vary: "Origin" });
      const headers = settings.headers?.join(", ") ?? c.req.header("access-control-request-headers") ?? "";
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": allowOrigin(origin),
          "access-control-allow-methods": METHODS,
          ...(headers ? { "access-control-allow-headers": headers } : {}),
          "access-control-max-age": String(settings.max_age),
          vary: "Origin, Access-Control-Request-Headers",
        },
      });
    }
    await next();
    if (!allowed) return;
    // A new response rather than the old one's headers changed: those may be immutable.
    const res = new Response(c.res.body, c.res);
    res.headers.set("access-control-allow-origin", allowOrigin(origin));
    res.headers.set("access-control-expose-headers", EXPOSED);
    res.headers.append("vary", "Origin");
    c.res = undefined;
    c.res = res;
  };
}
