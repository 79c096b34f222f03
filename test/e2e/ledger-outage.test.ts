import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { Redis } from "ioredis";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { LEDGER_ADMIN, LEDGER_KEYS, ledgerSettings, startLedgerProxy } from "../support/ledger.js";
import { startOwnPostgres, type OwnPostgres } from "../support/own-postgres.js";
import { sql, uniqueSchema } from "../support/postgres.js";
import { spawnProxy, testConfigInput, writeConfigFile } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * PostgreSQL going away: on a PostgreSQL of this file's own (the machine's shared server is
 * never stopped), records queue in Redis while it is down and all land, once, when it is back;
 * a replica killed while holding a batch it had taken loses none of it.
 */

let upstream: FakeUpstream;
let pg: OwnPostgres;

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 100 } }));
  pg = await startOwnPostgres();
}, 120_000);

afterAll(async () => {
  await upstream?.close();
  await pg?.destroy();
});

async function count(schema: string): Promise<{ rows: number; distinct: number }> {
  const [r] = await sql<{ rows: number; distinct: number }>(pg.url, schema, "SELECT count(*)::int AS rows, count(DISTINCT request_id)::int AS distinct FROM usage_records");
  return r!;
}

describe("ledger while PostgreSQL is down", () => {
  it("keeps serving, queues in Redis, and writes every record once when PostgreSQL is back", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, { postgresUrl: pg.url });
    onTestFinished(() => pg.start().catch(() => {}));
    const ids: string[] = [];
    const ask = async () => {
      const { response } = await l.proxy.client(LEDGER_KEYS.app).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).withResponse();
      expect(response.status).toBe(200);
      ids.push(response.headers.get("x-request-id")!);
    };
    const load = async (n: number) => {
      for (let i = 0; i < n; i += 5) await Promise.all([ask(), ask(), ask(), ask(), ask()]);
    };

    await load(20);
    await expect.poll(async () => (await count(l.schema)).rows, { timeout: 10_000 }).toBe(20);
    // Stopped mid-load, as a crash would (no checkpoint), with requests still arriving.
    const more = load(30);
    await pg.stop("immediate");
    await more;
    await load(20);
    const ready = await (await l.admin("/ready")).json();
    expect(ready.status).toBe("ready");
    await expect.poll(async () => (await (await l.admin("/ready")).json()).ledger, { timeout: 10_000 }).toMatchObject({ postgres: "down" });
    const metrics = await (await l.admin("/metrics")).text();
    const backlog = Number(/^tollgate_ledger_backlog_records (\d+)$/m.exec(metrics)?.[1]);
    expect(backlog).toBeGreaterThan(0);
    expect(backlog).toBeLessThanOrEqual(50);
    // Reports that read PostgreSQL say so; the proxy itself does not.
    const costs = await l.admin("/v1/costs");
    expect(costs.status).toBe(503);
    expect((await costs.json()).error.code).toBe("ledger_unavailable");

    await pg.start();
    await expect.poll(async () => (await count(l.schema)).rows, { timeout: 20_000 }).toBe(70);
    expect(await count(l.schema)).toEqual({ rows: 70, distinct: 70 });
    const written = await sql<{ request_id: string }>(pg.url, l.schema, "SELECT request_id FROM usage_records");
    expect(new Set(written.map((r) => r.request_id))).toEqual(new Set(ids));
    await expect.poll(async () => (await (await l.admin("/ready")).json()).ledger, { timeout: 10_000 }).toMatchObject({ postgres: "up", backlog: 0, pending: 0 });
  });

  it("loses nothing when a replica dies holding a batch it took from the queue", async () => {
    const prefix = uniquePrefix();
    const schema = uniqueSchema();
    onTestFinished(() => cleanPrefix(prefix));
    const settings = ledgerSettings(schema, pg.url, { claim_idle_ms: 300 });
    const file = writeConfigFile(
      testConfigInput(upstream.baseUrl, {
        store: { redis_url: redisUrl(), key_prefix: prefix },
        keys: [{ id: "app", key: LEDGER_KEYS.app, team: "research" }],
        admin_key: LEDGER_ADMIN,
        ledger: settings,
      }),
    );
    const doomed = await spawnProxy(file);
    onTestFinished(async () => {
      await doomed.stop("SIGKILL");
    });
    // It started with PostgreSQL up (its tables are there); now its inserts fail.
    await pg.stop("fast");
    onTestFinished(() => pg.start().catch(() => {}));
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${doomed.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${LEDGER_KEYS.app}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(res.status).toBe(200);
    }
    // Its writer has taken a batch (pending under its name) that it cannot write; the rest wait in the stream.
    const redis = new Redis(redisUrl());
    onTestFinished(() => redis.disconnect());
    const stream = `${prefix}{tg}:ledger`;
    const pending = async () => Number(((await redis.xpending(stream, "ledger")) as unknown[])[0]);
    await expect.poll(pending, { timeout: 10_000 }).toBeGreaterThan(0);
    // An answer goes back before its settle lands: the last may still be on its way to the stream.
    await expect.poll(() => redis.xlen(stream)).toBe(12);
    await doomed.stop("SIGKILL");

    await pg.start();
    // A replica that lives takes the dead one's batch over once it has been idle long enough.
    await startLedgerProxy(upstream.baseUrl, { postgresUrl: pg.url, prefix, schema, overrides: { ledger: settings } });
    await expect.poll(async () => (await count(schema).catch(() => ({ rows: -1, distinct: -1 }))).rows, { timeout: 20_000 }).toBe(12);
    expect(await count(schema)).toEqual({ rows: 12, distinct: 12 });
    await expect.poll(async () => ({ queued: await redis.xlen(stream), pending: await pending() })).toEqual({
      queued: 0,
      pending: 0,
    });
  });
});
