import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { cors } from "./cors.js";

/** An app whose one route needs a key, as tollgate's do, behind the CORS middleware. */
function appWith(settings: Parameters<typeof cors>[0]): Hono {
  const app = new Hono();
  app.use(cors(settings));
  app.post("/v1/chat/completions", (c) => {
    if (c.req.header("authorization") !== "Bearer k") throw new ProxyError("invalid_api_key", "Incorrect API key provided.");
    return new Response("data: {}\n\n", { headers: { "content-type": "text/event-stream", "x-tollgate-cost": "0.1" } });
  });
  app.onError((err) => (err as ProxyError).toResponse());
  return app;
}

const APP = "https://app.example";
const preflight = (origin: string, headers: Record<string, string> = {}) =>
  new Request("http://tollgate/v1/chat/completions", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,x-stainless-os", ...headers } });

describe("cors", () => {
  it("answers an allowed origin's preflight before any authentication", async () => {
    const res = await appWith({ origins: [APP], max_age: 600 }).fetch(preflight(APP));
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization,content-type,x-stainless-os");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-max-age")).toBe("600");
  });

  it("allows only the configured request headers when they are listed", async () => {
    const res = await appWith({ origins: ["*"], headers: ["authorization", "content-type"], max_age: 60 }).fetch(preflight("https://any.example"));
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
  });

  it("refuses another origin's preflight in the OpenAI error format", async () => {
    const res = await appWith({ origins: [APP], max_age: 600 }).fetch(preflight("https://evil.example"));
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(await res.json()).toMatchObject({ error: { code: "origin_not_allowed", type: "invalid_request_error" } });
  });

  it("puts Access-Control-* on answers and errors alike, and exposes tollgate's headers", async () => {
    const app = appWith({ origins: [APP], max_age: 600 });
    const call = (key: string) => app.fetch(new Request("http://tollgate/v1/chat/completions", { method: "POST", headers: { origin: APP, authorization: `Bearer ${key}` } }));
    const ok = await call("k");
    expect(ok.headers.get("access-control-allow-origin")).toBe(APP);
    expect(ok.headers.get("access-control-expose-headers")).toContain("x-tollgate-cost");
    expect(ok.headers.get("vary")).toBe("Origin");
    expect(await ok.text()).toBe("data: {}\n\n");
    const refused = await call("wrong");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("leaves requests without an Origin, and other origins' answers, as they are", async () => {
    const app = appWith({ origins: [APP], max_age: 600 });
    const plain = await app.fetch(new Request("http://tollgate/v1/chat/completions", { method: "POST", headers: { authorization: "Bearer k" } }));
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    const other = await app.fetch(new Request("http://tollgate/v1/chat/completions", { method: "POST", headers: { origin: "https://evil.example", authorization: "Bearer k" } }));
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
