import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { LEDGER_KEYS, startLedgerProxy, type LedgerProxy } from "../support/ledger.js";
import { postgresUrl, sql } from "../support/postgres.js";
import { EXPORT_PAGE_ROWS } from "../../src/server/routes/records.js";

/**
 * The ledger through the proxy: requests land in PostgreSQL once, /v1/costs answers from it with
 * the very numbers the Redis aggregates give, records page with a cursor, the CSV streams.
 */

let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 100 } }));
});

afterAll(async () => {
  await upstream?.close();
});

/** Eight requests of key app on gpt-4o-mini and four of key ci on gpt-4o, then waits until all are in the ledger. */
async function traffic(l: LedgerProxy): Promise<void> {
  for (let i = 0; i < 8; i++) await l.ask("app");
  for (let i = 0; i < 4; i++) await l.ask("ci", "gpt-4o");
  await l.proxy.services.settler.drain(5000);
  await expect.poll(async () => (await l.rows()).length, { timeout: 10_000 }).toBe(12);
}

const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, any> });

describe("ledger through the proxy (Redis store)", () => {
  it("answers /v1/costs from PostgreSQL with exactly the numbers of the Redis aggregates", async () => {
    const l = await startLedgerProxy(upstream.baseUrl);
    await traffic(l);
    // A replica without a ledger on the same Redis reads the store's aggregates.
    const plain = await startLedgerProxy(upstream.baseUrl, { prefix: l.prefix, ledger: false });
    for (const query of ["", "?days=7", "?from=2026-06-01&to=2026-06-15", "?from=2026-06-15&to=2026-06-15"]) {
      const fromLedger = await json(await l.admin(`/v1/costs${query}`));
      const fromStore = await json(await plain.admin(`/v1/costs${query}`));
      expect(fromLedger.status).toBe(200);
      expect(fromLedger.body.source).toBe("ledger");
      expect(fromStore.body.source).toBe("store");
      expect({ ...fromLedger.body, source: "-" }).toEqual({ ...fromStore.body, source: "-" });
    }
    const { body } = await json(await l.admin("/v1/costs"));
    expect(body).toMatchObject({ total_requests: 12, period_days: 30, from: "2026-05-17", to: "2026-06-15" });
    expect(body.by_key.ci.requests).toBe(4);
    expect(body.by_model["gpt-4o"].requests).toBe(4);
    expect(body.by_day).toEqual([
      { day: "2026-06-15", requests: 12, cost: body.total_cost, by_tier: { economy: body.by_tier.economy, standard: body.by_tier.standard } },
    ]);
    expect(body.today_cost).toBe(body.total_cost);
  });

  it("answers any range from the ledger, and zero for days without traffic", async () => {
    const l = await startLedgerProxy(upstream.baseUrl);
    await traffic(l);
    const old = await json(await l.admin("/v1/costs?from=2020-01-01&to=2020-12-31"));
    expect(old.status).toBe(200);
    expect(old.body).toMatchObject({ period_days: 366, total_requests: 0, total_cost: 0, by_day: [], by_model: {} });
    // Today's and this month's spend do not depend on the period asked for.
    expect(old.body.today_cost).toBeGreaterThan(0);
    const long = await json(await l.admin("/v1/costs?from=2019-01-01"));
    expect(long.body.total_requests).toBe(12);
  });

  it("pages through records newest first, with filters and a cursor, and refuses bad input", async () => {
    const l = await startLedgerProxy(upstream.baseUrl);
    await traffic(l);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { status: number; body: Record<string, any> } = await json(await l.admin(`/v1/costs/records?limit=5${cursor ? `&cursor=${cursor}` : ""}`));
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((r: { request_id: string }) => r.request_id));
      cursor = page.body.next_cursor;
      expect(page.body.has_more).toBe(cursor !== null);
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(12);
    expect(seen.sort()).toEqual((await l.rows()).map((r) => r.request_id));

    const ci = await json(await l.admin("/v1/costs/records?key=ci&model=gpt-4o"));
    expect(ci.body.data).toHaveLength(4);
    expect(ci.body.data[0]).toMatchObject({ key_id: "ci", team: null, routed_model: "gpt-4o", tier: "standard", input_tokens: 1000, output_tokens: 100, usage_source: "upstream", priced: true });
    expect((await json(await l.admin("/v1/costs/records?from=2026-06-16&to=2026-06-20"))).body.data).toEqual([]);

    for (const [query, param] of [
      ["cursor=nonsense!", "cursor"],
      ["cursor=WyJ4IiwieSJd", "cursor"],
      ["limit=0", "limit"],
      ["limit=1001", "limit"],
      ["limit=ten", "limit"],
      ["from=2026-02-30", "from"],
      ["from=2026-06-15&to=2026-06-01", "from"],
      ["key=", "key"],
    ] as const) {
      const res = await json(await l.admin(`/v1/costs/records?${query}`));
      expect(res.status, query).toBe(400);
      expect(res.body.error).toMatchObject({ type: "invalid_request_error", code: "invalid_request", param });
    }
    const bad = await json(await l.admin("/v1/costs?from=soon"));
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "invalid_request", param: "from" } } });
    for (const path of ["/v1/costs/records", "/v1/costs/export.csv", "/v1/costs?from=2026-06-01"]) {
      const res = await json(await l.admin(path, LEDGER_KEYS.app));
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("admin_key_required");
    }
  });

  it("exports the range as CSV, every record once across pages", async () => {
    const l = await startLedgerProxy(upstream.baseUrl);
    await traffic(l);
    // More rows than one export page, all at one instant: the pages must split ties by request id.
    const extra = EXPORT_PAGE_ROWS * 2 + 7;
    await sql(
      postgresUrl(),
      l.schema,
      `INSERT INTO usage_records (request_id, time, endpoint, key_id, team, request_type, tier, route, requested_model, routed_model, stream,
         status, input_tokens, cached_tokens, output_tokens, usage_source, estimated_cost_nano, cost_nano, requested_model_cost_nano, cache_hit,
         optimizer_saved_tokens, optimizer_saved_nano, context_dropped_messages, context_dropped_tokens, context_saved_nano, latency_ms, priced)
       SELECT 'bulk-' || i, '2026-06-14T08:00:00Z', '/v1/chat/completions', 'app', 'research', 'chat', 'economy', 'heuristic', 'auto', 'gpt-4o-mini', false,
         200, 10, 0, 5, 'upstream', 1, 1, 2, false, 0, 0, 0, 0, 0, 3, true
       FROM generate_series(1, $1) AS i`,
      [extra],
    );
    const res = await l.admin("/v1/costs/export.csv?from=2026-06-14&to=2026-06-15");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="tollgate-usage-2026-06-14-to-2026-06-15.csv"');
    const lines = (await res.text()).split("\r\n");
    expect(lines.pop()).toBe("");
    const header = lines.shift()!.split(",");
    const ids = lines.map((line) => line.split(",")[header.indexOf("request_id")]);
    expect(ids).toHaveLength(extra + 12);
    expect(new Set(ids).size).toBe(extra + 12);
    // Oldest first: yesterday's bulk rows, then today's requests.
    expect(ids.slice(0, extra).every((id) => id!.startsWith("bulk-"))).toBe(true);
    const costs = lines.slice(extra).map((line) => BigInt(line.split(",")[header.indexOf("cost_nano")]!));
    const { body } = await json(await l.admin("/v1/costs?from=2026-06-15&to=2026-06-15"));
    expect(Number(costs.reduce((a, b) => a + b, 0n)) / 1e9).toBe(body.total_cost);
  });

  it("shows the backlog on /ready and /metrics", async () => {
    const l = await startLedgerProxy(upstream.baseUrl);
    await traffic(l);
    await expect.poll(async () => (await json(await l.admin("/ready"))).body.ledger, { timeout: 5000 }).toMatchObject({ postgres: "up", backlog: 0, pending: 0, written: 12 });
    const metrics = await (await l.admin("/metrics")).text();
    expect(metrics).toMatch(/^tollgate_ledger_backlog_records 0$/m);
    expect(metrics).toMatch(/^tollgate_ledger_pending_records 0$/m);
    expect(metrics).toMatch(/^tollgate_ledger_written_total 12$/m);
  });
});

describe("ledger through the proxy (memory store)", () => {
  it("writes every record from the in-process queue, and a shutdown writes what is left", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, { store: "memory" });
    await traffic(l);
    const { body } = await json(await l.admin("/v1/costs"));
    expect(body).toMatchObject({ source: "ledger", total_requests: 12 });
    await l.ask("app");
    await l.proxy.shutdown();
    expect((await l.rows()).length).toBe(13);
  });
});

describe("records and reports without a ledger", () => {
  it("pages and exports the newest records the store keeps, and keeps reports to the store's 400 days", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, { ledger: false });
    for (let i = 0; i < 3; i++) await l.ask("app");
    await l.ask("ci", "gpt-4o");
    await l.proxy.services.settler.drain(5000);
    const first = await json(await l.admin("/v1/costs/records?limit=3"));
    expect(first.body).toMatchObject({ source: "store", has_more: true });
    const rest = await json(await l.admin(`/v1/costs/records?limit=3&cursor=${first.body.next_cursor}`));
    expect(rest.body).toMatchObject({ has_more: false, next_cursor: null });
    const ids = [...first.body.data, ...rest.body.data].map((r: { request_id: string }) => r.request_id);
    expect(new Set(ids).size).toBe(4);
    const csv = await (await l.admin("/v1/costs/export.csv")).text();
    expect(csv.trimEnd().split("\r\n")).toHaveLength(5);
    const { body } = await json(await l.admin("/v1/costs?from=2026-06-15"));
    expect(body).toMatchObject({ source: "store", total_requests: 4, by_day: [{ day: "2026-06-15", requests: 4 }] });
    const tooLong = await json(await l.admin("/v1/costs?from=2024-01-01&to=2026-06-15"));
    expect(tooLong).toMatchObject({ status: 400, body: { error: { code: "invalid_request", param: "from" } } });
  });
});
