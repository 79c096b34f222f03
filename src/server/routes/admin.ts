import type { Context, Hono } from "hono";
import type { z } from "zod";
import { ProxyError } from "../../errors.js";
import { globalPatchSchema, keyCreateSchema, keyPatchSchema, rotateSchema, teamCreateSchema, teamPatchSchema } from "../../keys/record.js";
import type { Services } from "../../services.js";

/**
 * The admin API (a free route: it spends nothing, and only the admin key reaches it): keys and
 * teams made, changed and revoked at run time, and the global scope's budgets.
 *
 *   curl -X POST $TOLLGATE/v1/admin/keys -H "authorization: Bearer $ADMIN" \
 *     -d '{"id":"acme","team":"resellers","budgets":{"daily":5,"rpm":60}}'
 *
 * The answer to a create or a rotate holds the key's secret, which nothing shows again.
 */
export function registerAdminRoutes(app: Hono, services: Services): void {
  const admin = services.keyAdmin;
  app.use("/v1/admin/*", async (c, next) => {
    // Without an admin key nobody could be told apart from a caller: the API stays shut.
    if (!services.config.admin_key) throw new ProxyError("admin_key_required", "The admin API needs admin_key set in the configuration.");
    services.auth.requireAdmin(c.req.header("authorization"));
    await next();
  });

  app.get("/v1/admin/keys", (c) => c.json({ object: "list", data: admin.listKeys() }));
  app.post("/v1/admin/keys", async (c) => c.json(await admin.createKey(await bodyOf(c, keyCreateSchema)), 201));
  app.get("/v1/admin/keys/:id", (c) => c.json(admin.getKey(c.req.param("id"))));
  app.patch("/v1/admin/keys/:id", async (c) => c.json(await admin.updateKey(c.req.param("id"), await bodyOf(c, keyPatchSchema))));
  app.delete("/v1/admin/keys/:id", async (c) => c.json(await admin.deleteKey(c.req.param("id"))));
  app.post("/v1/admin/keys/:id/rotate", async (c) => {
    const { grace_seconds } = await bodyOf(c, rotateSchema, true);
    return c.json(await admin.rotateKey(c.req.param("id"), grace_seconds));
  });

  app.get("/v1/admin/teams", (c) => c.json({ object: "list", data: admin.listTeams() }));
  app.post("/v1/admin/teams", async (c) => c.json(await admin.createTeam(await bodyOf(c, teamCreateSchema)), 201));
  app.get("/v1/admin/teams/:id", (c) => c.json(admin.getTeam(c.req.param("id"))));
  app.patch("/v1/admin/teams/:id", async (c) => c.json(await admin.updateTeam(c.req.param("id"), await bodyOf(c, teamPatchSchema))));
  app.delete("/v1/admin/teams/:id", async (c) => c.json(await admin.deleteTeam(c.req.param("id"))));

  app.get("/v1/admin/global", (c) => c.json(admin.globalBudgets()));
  app.patch("/v1/admin/global", async (c) => c.json(await admin.setGlobalBudgets((await bodyOf(c, globalPatchSchema)).budgets)));
  // Back to the configuration's global budgets.
  app.delete("/v1/admin/global", async (c) => c.json(await admin.resetGlobalBudgets()));
  // Never passed upstream: an admin path tollgate does not know is its own 404.
  app.all("/v1/admin/*", (c) => {
    throw new ProxyError("not_found", `Unknown endpoint: ${c.req.method} ${c.req.path}`);
  });
}

/** The body as `schema` reads it; 400 naming the first problem's field. An empty body is `{}` where `emptyIsObject`. */
async function bodyOf<S extends z.ZodType>(c: Context, schema: S, emptyIsObject = false): Promise<z.infer<S>> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = text.trim() === "" && emptyIsObject ? {} : JSON.parse(text);
  } catch {
    throw new ProxyError("invalid_json", "The request body is not valid JSON.");
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map(String).join(".") || null;
  throw new ProxyError("invalid_request", param ? `${param}: ${issue.message}` : issue.message, param);
}
