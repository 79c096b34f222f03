import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Hono } from "hono";
import { ProxyError } from "../../errors.js";
import type { Services } from "../../services.js";

/**
 * GET /dashboard: one page, its script and style, and uPlot from node_modules, all served by the
 * proxy (nothing from the internet, no build step). The page holds no data: it asks for the admin
 * key and reads everything from the JSON endpoints (/v1/costs, /v1/costs/alerts,
 * /v1/costs/records, and /v1/admin/keys for the Keys page), which check that key; so the page
 * itself is served without one.
 */

const require = createRequire(import.meta.url);
/** src/dashboard/static, or dist/dashboard/static (`npm run build` copies it). */
const STATIC = fileURLToPath(new URL("../../dashboard/static/", import.meta.url));

const ASSETS: Record<string, [path: string, type: string]> = {
  "dashboard.js": [`${STATIC}dashboard.js`, "text/javascript; charset=utf-8"],
  "dashboard.css": [`${STATIC}dashboard.css`, "text/css; charset=utf-8"],
  "keys.js": [`${STATIC}keys.js`, "text/javascript; charset=utf-8"],
  "uplot.js": [require.resolve("uplot/dist/uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
  "uplot.css": [require.resolve("uplot/dist/uPlot.min.css"), "text/css; charset=utf-8"],
};

/** Only what the page itself serves: no inline script, no other origin, never framed. */
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function registerDashboard(app: Hono, _services: Services): void {
  // Read once at start: a missing file fails the start, not a visit.
  const page = readFileSync(`${STATIC}page.html`);
  const assets = new Map(Object.entries(ASSETS).map(([name, [path, type]]) => [name, { body: readFileSync(path), type }]));

  app.get("/dashboard", () => new Response(page, { headers: PAGE_HEADERS }));
  app.get("/dashboard/assets/:name", (c) => {
    const asset = assets.get(c.req.param("name"));
    if (!asset) throw new ProxyError("not_found", `Unknown dashboard asset: ${c.req.param("name")}`);
    return new Response(asset.body, { headers: { "content-type": asset.type, "x-content-type-options": "nosniff", "cache-control": "no-cache" } });
  });
}
