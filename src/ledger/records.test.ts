import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { usageRecord } from "../../test/support/records.js";
import { decodeCursor, encodeCursor, storeRecordSource, type RecordPosition } from "./records.js";

describe("record cursors and the store-backed listing", () => {
  it("round-trips a position and refuses anything it did not make", () => {
    const position = { time: "2026-06-15T12:00:00.123000Z", requestId: "req-1" };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    for (const bad of ["", "!!", "bm90IGpzb24", Buffer.from('["2026-06-15",1]').toString("base64url"), Buffer.from('["x","y"]').toString("base64url"), "a".repeat(3000)]) {
      expect(() => decodeCursor(bad)).toThrow(ProxyError);
    }
  });

  it("pages the store's newest records by time then request id, within the range and filters", async () => {
    const records = [
      usageRecord({ request_id: "b", time: "2026-06-15T10:00:00.000Z" }),
      usageRecord({ request_id: "a", time: "2026-06-15T10:00:00.000Z" }),
      usageRecord({ request_id: "c", time: "2026-06-15T11:00:00.000Z", routed_model: "gpt-4o" }),
      usageRecord({ request_id: "old", time: "2026-06-14T23:59:59.999Z" }),
    ];
    const source = storeRecordSource({ usageRecords: async (limit) => records.slice(0, limit) });
    const filter = { range: { from: "2026-06-15", to: "2026-06-15", dayCount: 1 }, timeZone: "UTC" };
    const seen: string[] = [];
    let after: RecordPosition | null = null;
    do {
      const page = await source.page(filter, after, 1, "newest");
      seen.push(...page.records.map((r) => r.request_id));
      after = page.next;
    } while (after);
    expect(seen).toEqual(["c", "b", "a"]);
    expect((await source.page({ ...filter, model: "gpt-4o-mini" }, null, 10, "oldest")).records.map((r) => r.request_id)).toEqual(["a", "b"]);
  });
});
