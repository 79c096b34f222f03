import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersFor, scopesFor } from "../../src/budget/scopes.js";
import { MemoryBudgetStore } from "../../src/budget/memory.js";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";

/**
 * The admin API on one proxy (memory store): keys made, used, limited, rotated and revoked at run
 * time, teams and the global budgets; the configuration's keys listed and read-only; every bad
 * input an OpenAI-format error that moves no budget.
 */

const ADMIN = "sk-admin-keys-test";
const T0 = Date.UTC(2026, 5, 15, 12);

describe("admin API: keys and teams", () => {
  const clock = new ManualClock(T0);
  let upstream: FakeUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 1000 } }));
    proxy = await startTestProxy(
      testConfig(upstream.baseUrl, {
        keys: [{ id: "yaml-bot", key: "sk-yaml-bot", team: "research" }],
        budgets: { keys: { "yaml-bot": { daily: 3 } } },
        admin_key: ADMIN,
        routing: { client_model: "pin" },
      }),
      { clock },
    );
  });

  afterAll(async () => {
    await proxy?.shutdown();
    await upstream?.close();
  });

  const call = (method: string, path: string, body?: unknown, key = ADMIN) =>
    fetch(`${proxy.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }) });
  const ask = (key: string) => proxy.client(key).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  const spent = async (keyId: string, team: string | null) =>
    proxy.services.store.spent(countersFor(scopesFor(proxy.services.config.budgets, keyId, team), proxy.services.windows.at(clock.now())).map((c) => c.id));

  it("creates a key whose secret is shown once, stored hashed, and works at once", async () => {
    const created = await call("POST", "/v1/admin/keys", { id: "acme", team: "resellers", budgets: { daily: 5 }, metadata: { customer: "c-1" } });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { key: string; id: string; secret_hint: string; source: string };
    expect(body).toMatchObject({ id: "acme", team: "resellers", budgets: { daily: 5 }, source: "api", metadata: { customer: "c-1" } });
    expect(body.key).toMatch(/^sk-tg-/);
    expect(body.key.endsWith(body.secret_hint)).toBe(true);

    const listed = JSON.stringify(await (await call("GET", "/v1/admin/keys")).json());
    expect(listed).not.toContain(body.key);
    expect(listed).not.toContain("secret_sha256");
    const stored = await proxy.services.store.entries();
    expect([...stored.entries.values()].join()).not.toContain(body.key);

    await ask(body.key);
    expect((await spent("acme", "resellers"))[2]).toBeGreaterThan(0);
  });

  it("lists the configuration's keys as read-only", async () => {
    const keys = (await (await call("GET", "/v1/admin/keys")).json()) as { data: Array<{ id: string; source: string; budgets: unknown }> };
    expect(keys.data.find((k) => k.id === "yaml-bot")).toMatchObject({ source: "config", budgets: { daily: 3 } });
    for (const [method, path] of [["PATCH", "/v1/admin/keys/yaml-bot"], ["DELETE", "/v1/admin/keys/yaml-bot"], ["POST", "/v1/admin/keys/yaml-bot/rotate"]] as const) {
      const res = await call(method, path, {});
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("read_only");
    }
    const clash = await call("POST", "/v1/admin/keys", { id: "yaml-bot" });
    expect(clash.status).toBe(409);
  });

  it("enforces budgets edited at run time", async () => {
    const { key } = (await (await call("POST", "/v1/admin/keys", { id: "capped" })).json()) as { key: string };
    await ask(key);
    const patched = await call("PATCH", "/v1/admin/keys/capped", { budgets: { daily: 0.000001 }, max_tier: "economy" });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ budgets: { daily: 0.000001 }, max_tier: "economy" });
    await expect(ask(key)).rejects.toMatchObject({ status: 429, code: "budget_exceeded" });
  });

  it("rotates a key: the old secret works for grace_seconds, then gets 401", async () => {
    const { key: old } = (await (await call("POST", "/v1/admin/keys", { id: "rotating" })).json()) as { key: string };
    const rotated = (await (await call("POST", "/v1/admin/keys/rotating/rotate", { grace_seconds: 60 })).json()) as { key: string; previous_secret_until: string };
    expect(rotated.key).not.toBe(old);
    expect(Date.parse(rotated.previous_secret_until)).toBe(clock.now() + 60_000);
    await ask(old);
    await ask(rotated.key);
    clock.advance(60_000);
    await expect(ask(old)).rejects.toMatchObject({ status: 401 });
    await ask(rotated.key);
  });

  it("revokes a key: 401 from the next request", async () => {
    const { key } = (await (await call("POST", "/v1/admin/keys", { id: "leaked" })).json()) as { key: string };
    await ask(key);
    expect((await call("DELETE", "/v1/admin/keys/leaked")).status).toBe(200);
    await expect(ask(key)).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
    expect((await call("GET", "/v1/admin/keys/leaked")).status).toBe(404);
  });

  it("an expired key gets 401", async () => {
    const { key } = (await (await call("POST", "/v1/admin/keys", { id: "brief", expires_at: new Date(clock.now() + 1000).toISOString() })).json()) as { key: string };
    await ask(key);
    clock.advance(1000);
    await expect(ask(key)).rejects.toMatchObject({ status: 401 });
  });

  it("teams: made with budgets that bind their keys; one with keys cannot be deleted", async () => {
    expect((await call("POST", "/v1/admin/teams", { id: "tight", budgets: { daily: 0.000001 } })).status).toBe(201);
    const { key } = (await (await call("POST", "/v1/admin/keys", { id: "member", team: "tight" })).json()) as { key: string };
    await expect(ask(key)).rejects.toMatchObject({ status: 429, message: expect.stringContaining("team tight") });
    const busy = await call("DELETE", "/v1/admin/teams/tight");
    expect(busy.status).toBe(409);
    expect((await call("PATCH", "/v1/admin/teams/tight", { budgets: { daily: 100 } })).status).toBe(200);
    await ask(key);
    const teams = (await (await call("GET", "/v1/admin/teams")).json()) as { data: Array<{ id: string; source: string }> };
    expect(teams.data.map((t) => [t.id, t.source])).toEqual(expect.arrayContaining([["research", "config"], ["tight", "api"]]));
    expect((await call("PATCH", "/v1/admin/teams/research", { budgets: {} })).status).toBe(403);
  });

  it("the global budgets: replaced through the API, then back to the configuration's", async () => {
    expect(await (await call("GET", "/v1/admin/global")).json()).toEqual({ budgets: {}, source: "config" });
    expect((await call("PATCH", "/v1/admin/global", { budgets: { per_request: 0.0000001 } })).status).toBe(200);
    const { key } = (await (await call("POST", "/v1/admin/keys", {})).json()) as { key: string; id: string };
    await expect(ask(key)).rejects.toMatchObject({ status: 429, code: "request_cost_limit_exceeded" });
    expect(await (await call("DELETE", "/v1/admin/global")).json()).toEqual({ budgets: {}, source: "config" });
    await ask(key);
  });

  it("answers every bad input with an OpenAI-format error and moves no budget", async () => {
    const before = await spent("acme", "resellers");
    const cases: Array<[string, string, unknown, number, string, string | null]> = [
      ["POST", "/v1/admin/keys", "{not json", 400, "invalid_json", null],
      ["POST", "/v1/admin/keys", { id: "bad id!" }, 400, "invalid_request", "id"],
      ["POST", "/v1/admin/keys", { budgets: { daily: -1 } }, 400, "invalid_request", "budgets.daily"],
      ["POST", "/v1/admin/keys", { bogus: 1 }, 400, "invalid_request", null],
      ["POST", "/v1/admin/keys", { models: ["gpt-9"] }, 400, "invalid_request", "models[0]"],
      ["POST", "/v1/admin/keys", { endpoints: ["nope"] }, 400, "invalid_request", "endpoints[0]"],
      ["POST", "/v1/admin/keys", { expires_at: "tomorrow" }, 400, "invalid_request", "expires_at"],
      ["POST", "/v1/admin/keys", { id: "acme" }, 409, "already_exists", "id"],
      ["PATCH", "/v1/admin/keys/nobody", { budgets: {} }, 404, "not_found", null],
      ["POST", "/v1/admin/keys/acme/rotate", { grace_seconds: -5 }, 400, "invalid_request", "grace_seconds"],
      ["GET", "/v1/admin/nothing-here", undefined, 404, "not_found", null],
    ];
    for (const [method, path, body, status, code, param] of cases) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      const error = ((await res.json()) as { error: { code: string; type: string; param: string | null; message: string } }).error;
      expect(error).toMatchObject({ code, type: "invalid_request_error" });
      if (param !== null) expect(error.param).toBe(param);
      expect(error.message.length).toBeGreaterThan(0);
    }
    for (const key of [undefined, "sk-yaml-bot", "wrong"]) {
      const res = await fetch(`${proxy.url}/v1/admin/keys`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("admin_key_required");
    }
    expect(await spent("acme", "resellers")).toEqual(before);
  });
});

describe("admin API: the configuration and the store", () => {
  it("a stored key with an id the configuration also has stops the start, naming it", async () => {
    const upstream = await startUpstream();
    const clock = new ManualClock(T0);
    // Made through the API while the configuration had no such key; then the file gained one.
    const store = new MemoryBudgetStore(clock);
    await store.putEntry("key:twin", JSON.stringify({ id: "twin", team: null, budgets: {}, secret_sha256: "00" }));
    await expect(startTestProxy(testConfig(upstream.baseUrl, { keys: [{ id: "twin", key: "sk-twin" }], admin_key: ADMIN }), { clock, store })).rejects.toThrow(
      /key id "twin" both in the configuration's keys and in the store/,
    );
    await upstream.close();
  });
});
