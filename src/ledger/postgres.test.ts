import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aggregateFields, type UsageRecord } from "../usage/record.js";
import { dropSchema, postgresUrl, sql, uniqueSchema } from "../../test/support/postgres.js";
import { usageRecord } from "../../test/support/records.js";
import { MIGRATIONS, migrate } from "./migrations.js";
import { isRecordError, LedgerDb } from "./postgres.js";
import { ledgerRecordSource, ledgerReport } from "./queries.js";
import type { RecordPosition } from "./records.js";
import { jsonLogger } from "../log.js";

/** The ledger's PostgreSQL side against the real server, in a schema of this file's own. */

const schema = uniqueSchema();
let db: LedgerDb;

beforeAll(async () => {
  db = new LedgerDb({ postgres_url: postgresUrl(), schema, batch_size: 500, poll_ms: 50, claim_idle_ms: 1000 }, jsonLogger);
});

afterAll(async () => {
  await db?.close();
  await dropSchema(postgresUrl(), schema);
});

const day = (d: number, h = 12) => `2026-06-${String(d).padStart(2, "0")}T${String(h).padStart(2, "0")}:00:00.000Z`;

describe("ledger in PostgreSQL", () => {
  it("migrates once, and a second run finds nothing to do", async () => {
    expect(await db.migrate()).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await db.migrate()).toEqual([]);
    const rows = await sql<{ version: number }>(postgresUrl(), schema, "SELECT version FROM tollgate_migrations ORDER BY version");
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it("rolls a failed migration back whole and names it", async () => {
    const other = uniqueSchema();
    const pool = new pg.Pool({ connectionString: postgresUrl() });
    try {
      const broken = [{ version: 1, name: "broken", sql: "CREATE TABLE half (x int); SELECT no_such_function();" }];
      await expect(migrate(pool, other, broken)).rejects.toThrow(/ledger migration 1 \(broken\) failed/);
      expect(await sql(postgresUrl(), other, "SELECT to_regclass('half') AS t")).toEqual([{ t: null }]);
      expect(await sql(postgresUrl(), other, "SELECT count(*)::int AS n FROM tollgate_migrations")).toEqual([{ n: 0 }]);
    } finally {
      await pool.end();
      await dropSchema(postgresUrl(), other);
    }
  });

  it("writes a batch once, however often it is sent, and reads every field back", async () => {
    const records = [
      usageRecord({ request_id: "once-1", latency_ms: 12.7, fallback_from: ["gpt-4o"], output_limit: 50 }),
      usageRecord({ request_id: "once-2", key_id: null, team: null, usage_source: "estimated" }),
    ];
    expect(await db.insert(records)).toBe(2);
    expect(await db.insert([...records, records[0]!])).toBe(0);
    const page = await ledgerRecordSource(db.pool).page(
      { range: { from: "2026-06-15", to: "2026-06-15", dayCount: 1 }, timeZone: "UTC" },
      null,
      10,
      "oldest",
    );
    const byId = new Map(page.records.map((r) => [r.request_id, r]));
    expect(byId.get("once-1")).toEqual({ ...records[0], latency_ms: 13 });
    expect(byId.get("once-2")).toEqual(records[1]);
  });

  it("keeps fields it has no column for yet in `extra`", async () => {
    const record = { ...usageRecord({ request_id: "extra-1" }), routing_score: 0.42 } as UsageRecord;
    await db.insert([record]);
    const [row] = await sql<{ extra: unknown }>(postgresUrl(), schema, "SELECT extra FROM usage_records WHERE request_id = 'extra-1'");
    expect(row!.extra).toEqual({ routing_score: 0.42 });
  });

  it("refuses a record without a number where one is required, as a data error", async () => {
    const bad = usageRecord({ request_id: "bad-1", cost_nano: Number.NaN });
    const err = await db.insert([bad]).catch((e: unknown) => e);
    expect(isRecordError(err)).toBe(true);
    expect(isRecordError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).toBe(false);
  });
});

describe("ledger reports", () => {
  const reportSchema = uniqueSchema();
  let reportDb: LedgerDb;
  const records: UsageRecord[] = [
    usageRecord({ request_id: "r1", time: day(1), cost_nano: 1000, requested_model_cost_nano: 5000 }),
    usageRecord({ request_id: "r2", time: day(1, 23), tier: "standard", routed_model: "gpt-4o", cost_nano: 7000, key_id: null, team: null }),
    usageRecord({ request_id: "r3", time: day(2), cache_hit: true, usage_source: "cache", cost_nano: 0, requested_model_cost_nano: 900 }),
    usageRecord({ request_id: "r4", time: day(2), optimizer_saved_tokens: 40, optimizer_saved_nano: 33, output_limit: 200, output_capped: 150 }),
    usageRecord({ request_id: "r5", time: day(3), context_dropped_messages: 2, context_dropped_tokens: 500, context_saved_nano: 75, request_type: "summary" }),
    usageRecord({ request_id: "r6", time: day(3), usage_source: "unreconciled", cost_nano: 4242, endpoint: "/v1/embeddings" }),
    usageRecord({ request_id: "r6b", time: day(3), tier: null, priced: false, cost_nano: 0, requested_model_cost_nano: 0, endpoint: "/v1/files" }),
    usageRecord({ request_id: "r6c", time: day(3), compressed_tokens: 900, compress_saved_nano: 135, cost_nano: 0 }),
    usageRecord({ request_id: "r6d", time: day(3), route: "compress", cost_nano: 58 }),
    // Outside the range asked for.
    usageRecord({ request_id: "r7", time: day(20), cost_nano: 999_999 }),
  ];

  beforeAll(async () => {
    reportDb = new LedgerDb({ postgres_url: postgresUrl(), schema: reportSchema, batch_size: 500, poll_ms: 50, claim_idle_ms: 1000 }, jsonLogger);
    await reportDb.migrate();
    await reportDb.insert(records);
  });

  afterAll(async () => {
    await reportDb?.close();
    await dropSchema(postgresUrl(), reportSchema);
  });

  it("sums exactly the aggregate fields the store keeps, for the same records", async () => {
    const inRange = records.filter((r) => r.time < day(4));
    const expected: Record<string, number> = {};
    for (const r of inRange) for (const [f, v] of aggregateFields(r)) expected[f] = (expected[f] ?? 0) + v;
    // A field the store never added to and a field at zero read the same in /v1/costs.
    for (const [f, v] of Object.entries(expected)) if (v === 0) delete expected[f];
    const report = await ledgerReport(reportDb.pool, { from: "2026-06-01", to: "2026-06-03", dayCount: 3 }, "UTC", {
      today: { from: "2026-06-03", to: "2026-06-03", dayCount: 1 },
      month: { from: "2026-06-01", to: "2026-06-03", dayCount: 3 },
    });
    const nonZero = (f: Record<string, number>) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== 0));
    expect(nonZero(report.period)).toEqual(expected);
    expect(report.byDay.map((d) => [d.day, d.fields.requests, d.fields.cost])).toEqual([
      ["2026-06-01", 2, 8000],
      ["2026-06-02", 2, 210_000],
      ["2026-06-03", 5, 214_300],
    ]);
    expect(report.byDay[0]!.fields["tier:standard:cost"]).toBe(7000);
    expect(report.today).toEqual({ requests: 5, cost: 214_300 });
    expect(report.month).toEqual({ requests: 9, cost: 432_300 });
  });

  it("puts each record on its day in the budget zone", async () => {
    // 23:00 UTC on the 1st is already the 2nd in Tokyo, and 12:00 UTC on the 2nd still is.
    const report = await ledgerReport(reportDb.pool, { from: "2026-06-02", to: "2026-06-02", dayCount: 1 }, "Asia/Tokyo", {
      today: { from: "2026-06-02", to: "2026-06-02", dayCount: 1 },
      month: { from: "2026-06-01", to: "2026-06-02", dayCount: 2 },
    });
    expect(report.byDay.map((d) => d.day)).toEqual(["2026-06-02"]);
    expect(report.period.requests).toBe(3);
    expect(report.period["tier:standard:requests"]).toBe(1);
  });

  it("pages through records newest first without skipping or repeating, ties broken by request id", async () => {
    const source = ledgerRecordSource(reportDb.pool);
    const range = { from: "2026-06-01", to: "2026-06-30", dayCount: 30 };
    const seen: string[] = [];
    let after: RecordPosition | null = null;
    for (let i = 0; i < 10; i++) {
      const page = await source.page({ range, timeZone: "UTC" }, after, 2, "newest");
      seen.push(...page.records.map((r) => r.request_id));
      after = page.next;
      if (!after) break;
    }
    expect(seen).toEqual(["r7", "r6d", "r6c", "r6b", "r6", "r5", "r4", "r3", "r2", "r1"]);
    const filtered = await source.page({ range, timeZone: "UTC", model: "gpt-4o" }, null, 10, "newest");
    expect(filtered.records.map((r) => r.request_id)).toEqual(["r2"]);
    const byKey = await source.page({ range, timeZone: "UTC", key: "app" }, null, 10, "oldest");
    expect(byKey.records.map((r) => r.request_id)).toEqual(["r1", "r3", "r4", "r5", "r6", "r6b", "r6c", "r6d", "r7"]);
  });
});
