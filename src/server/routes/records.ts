import type { Hono } from "hono";
import { ProxyError } from "../../errors.js";
import type { Services } from "../../services.js";
import { CSV_HEADER, csvRows } from "../../ledger/csv.js";
import { dayRange } from "../../ledger/range.js";
import { decodeCursor, encodeCursor, storeRecordSource, type RecordFilter, type RecordSource } from "../../ledger/records.js";

/** Rows per query while exporting: what the export holds in memory at most, whatever the range. */
export const EXPORT_PAGE_ROWS = 2000;
const MAX_LIMIT = 1000;

function textParam(value: string | undefined, param: string): string | undefined {
  if (value === undefined) return undefined;
  if (value === "" || value.length > 256) throw new ProxyError("invalid_request", `'${param}' must be 1 to 256 characters`, param);
  return value;
}

function limitParam(value: string | undefined): number {
  if (value === undefined) return 50;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_LIMIT) throw new ProxyError("invalid_request", `'limit' must be an integer from 1 to ${MAX_LIMIT}`, "limit");
  return n;
}

function filterOf(services: Services, query: Record<string, string>): RecordFilter {
  const today = services.windows.at(services.clock.now()).day;
  return {
    range: dayRange(query, today),
    timeZone: services.config.budgets.timezone,
    key: textParam(query.key, "key"),
    model: textParam(query.model, "model"),
  };
}

const sourceOf = (services: Services): RecordSource => services.ledger?.records ?? storeRecordSource(services.store);

/**
 * GET /v1/costs/records?from&to&key&model&limit&cursor: usage records, newest first, a page at a
 * time (`next_cursor` asks for the next). GET /v1/costs/export.csv?from&to&key&model: the same
 * records, oldest first, as CSV streamed a page at a time, so memory stays bounded for any range.
 * Both read the ledger when one is configured, else the newest records the store keeps.
 */
export function registerLedgerRoutes(app: Hono, services: Services): void {
  app.get("/v1/costs/records", async (c) => {
    services.auth.requireAdmin(c.req.header("authorization"));
    const query = c.req.query();
    const filter = filterOf(services, query);
    const limit = limitParam(query.limit);
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const page = await sourceOf(services).page(filter, after, limit, "newest");
    return c.json({
      object: "list",
      source: services.ledger ? "ledger" : "store",
      from: filter.range.from,
      to: filter.range.to,
      data: page.records,
      has_more: page.next !== null,
      next_cursor: page.next ? encodeCursor(page.next) : null,
    });
  });

  app.get("/v1/costs/export.csv", async (c) => {
    services.auth.requireAdmin(c.req.header("authorization"));
    const filter = filterOf(services, c.req.query());
    const source = sourceOf(services);
    // The first page is read before answering: an unreachable ledger is a 503, not an empty file.
    let page = await source.page(filter, null, EXPORT_PAGE_ROWS, "oldest");
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          controller.enqueue(encoder.encode(CSV_HEADER + csvRows(page.records)));
        },
        // Called only when the client has taken what was sent: one page is in memory at a time.
        async pull(controller) {
          if (page.next === null) return controller.close();
          try {
            page = await source.page(filter, page.next, EXPORT_PAGE_ROWS, "oldest");
            controller.enqueue(encoder.encode(csvRows(page.records)));
          } catch (err) {
            // Headers are gone: the only honest end is a cut-off response, never a short file that looks whole.
            services.logger.log("error", "export_failed", { error: (err as Error).message });
            controller.error(err);
          }
        },
      },
      { highWaterMark: 1 },
    );
    const name = `tollgate-usage-${filter.range.from}-to-${filter.range.to}.csv`;
    return new Response(body, {
      headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${name}"`, "cache-control": "no-store" },
    });
  });
}
