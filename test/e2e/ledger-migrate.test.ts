import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { MIGRATIONS } from "../../src/ledger/migrations.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { LEDGER_ADMIN, LEDGER_KEYS, ledgerSettings } from "../support/ledger.js";
import { dropSchema, postgresUrl, sql, uniqueSchema } from "../support/postgres.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** Three replicas (processes) starting at once on a fresh schema: one migrates, all serve, all write. */

let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 100 } }));
});

afterAll(async () => {
  await upstream?.close();
});

describe("ledger migrations", () => {
  it("apply once when three processes start at the same time", async () => {
    const prefix = uniquePrefix();
    const schema = uniqueSchema();
    const file = writeConfigFile(
      testConfigInput(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix },
        keys: [{ id: "app", key: LEDGER_KEYS.app }],
        admin_key: LEDGER_ADMIN,
        ledger: ledgerSettings(schema),
      }),
    );
    let replicas: ProxyProcess[] = [];
    onTestFinished(async () => {
      await Promise.all(replicas.map((r) => r.stop()));
      await cleanPrefix(prefix);
      await dropSchema(postgresUrl(), schema);
    });
    replicas = await Promise.all([0, 1, 2].map(() => spawnProxy(file)));

    const applied = await sql<{ version: number }>(postgresUrl(), schema, "SELECT version FROM tollgate_migrations ORDER BY version");
    expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    const failures = replicas.flatMap((r) => r.output.join("").split("\n")).filter((line) => /ledger_unavailable|migration .* failed/.test(line));
    expect(failures).toEqual([]);

    for (const r of replicas) {
      const res = await fetch(`${r.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${LEDGER_KEYS.app}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(res.status).toBe(200);
    }
    await expect.poll(async () => (await sql<{ n: number }>(postgresUrl(), schema, "SELECT count(*)::int AS n FROM usage_records"))[0]!.n, { timeout: 10_000 }).toBe(3);
    for (const r of replicas) {
      const ready = await (await fetch(`${r.url}/ready`)).json();
      expect(ready.ledger).toMatchObject({ postgres: "up" });
    }
  });
});
