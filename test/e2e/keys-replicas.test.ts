import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { dropSchema, postgresUrl, sql, uniqueSchema } from "../support/postgres.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Keys made through the admin API on two replicas (processes) sharing Redis, with the keys in
 * PostgreSQL (a ledger configured) or in Redis (none): a key made on one is in force on the other
 * within a second; revoked, it gets 401 on both within a second, while a request already in
 * flight with it finishes.
 */

const ADMIN = "sk-admin-replicas";

describe.each(["postgres", "redis"] as const)("keys across replicas (kept in %s)", (where) => {
  const prefix = uniquePrefix();
  const schema = uniqueSchema();
  let upstream: FakeUpstream;
  let replicas: ProxyProcess[] = [];
  /** Released by the test: the slow request's answer waits for it. */
  let releaseSlow: () => void = () => {};
  const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
  let slowArrived: () => void = () => {};
  const slowSeen = new Promise<void>((resolve) => (slowArrived = resolve));

  beforeAll(async () => {
    upstream = await startUpstream((req) => {
      if (JSON.stringify(req.body).includes("slow")) {
        slowArrived();
        return { kind: "json", answerAfter: slow };
      }
      return { kind: "json" };
    });
    const file = writeConfigFile(
      testConfigInput(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix },
        admin_key: ADMIN,
        keys: [{ id: "yaml-app", key: "sk-yaml-app" }],
        ...(where === "postgres" ? { ledger: { postgres_url: postgresUrl(), schema, poll_ms: 50 } } : {}),
      }),
    );
    replicas = await Promise.all([0, 1].map(() => spawnProxy(file)));
  }, 120_000);

  afterAll(async () => {
    releaseSlow();
    await Promise.all(replicas.map((r) => r.stop()));
    await upstream?.close();
    await cleanPrefix(prefix);
    if (where === "postgres") await dropSchema(postgresUrl(), schema);
  });

  const admin = (replica: ProxyProcess, method: string, path: string, body?: unknown) =>
    fetch(`${replica.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const status = async (replica: ProxyProcess, key: string) => {
    const res = await fetch(`${replica.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    await res.arrayBuffer();
    return res.status;
  };

  it("a key made on one replica works on the other within a second; revoked, 401 on both within a second", async () => {
    const [a, b] = replicas as [ProxyProcess, ProxyProcess];
    const created = await admin(a, "POST", "/v1/admin/keys", { id: "tenant-1", budgets: { daily: 5 } });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };
    expect(await status(a, key)).toBe(200);
    await expect.poll(() => status(b, key), { timeout: 1000, interval: 25 }).toBe(200);
    // The other replica lists it too, from the shared store.
    expect(((await (await admin(b, "GET", "/v1/admin/keys/tenant-1")).json()) as { budgets: unknown }).budgets).toEqual({ daily: 5 });
    if (where === "postgres") expect(await sql(postgresUrl(), schema, "SELECT id FROM registry_entries")).toEqual([{ id: "key:tenant-1" }]);

    // A request in flight on b when the key is revoked on a.
    const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: key, maxRetries: 0 });
    const inFlight = client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "slow" }] });
    await slowSeen;
    expect((await admin(a, "DELETE", "/v1/admin/keys/tenant-1")).status).toBe(200);
    expect(await status(a, key)).toBe(401);
    await expect.poll(() => status(b, key), { timeout: 1000, interval: 25 }).toBe(401);
    releaseSlow();
    await expect(inFlight).resolves.toMatchObject({ object: "chat.completion" });
    // The configuration's key never stopped working.
    expect(await status(b, "sk-yaml-app")).toBe(200);
  });

  it("a budget changed on one replica binds on the other", async () => {
    const [a, b] = replicas as [ProxyProcess, ProxyProcess];
    const { key } = (await (await admin(a, "POST", "/v1/admin/keys", { id: "tenant-2" })).json()) as { key: string };
    await expect.poll(() => status(b, key), { timeout: 1000, interval: 25 }).toBe(200);
    expect((await admin(a, "PATCH", "/v1/admin/keys/tenant-2", { budgets: { daily: 0.0000001 } })).status).toBe(200);
    await expect.poll(() => status(b, key), { timeout: 1000, interval: 25 }).toBe(429);
  });
});
