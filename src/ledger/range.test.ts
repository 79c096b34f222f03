import { describe, expect, it } from "vitest";
import { ProxyError } from "../errors.js";
import { addDays, dayRange, daysOf, rangeInstants } from "./range.js";

const refused = (query: Record<string, string>, param: string) => {
  try {
    dayRange(query, "2026-06-15");
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).toBody().error).toMatchObject({ type: "invalid_request_error", code: "invalid_request", param });
    return;
  }
  throw new Error(`accepted ${JSON.stringify(query)}`);
};

describe("report ranges", () => {
  it("defaults to the last 30 days ending today, or the last `days`", () => {
    expect(dayRange({}, "2026-06-15")).toEqual({ from: "2026-05-17", to: "2026-06-15", dayCount: 30 });
    expect(dayRange({ days: "1" }, "2026-06-15")).toEqual({ from: "2026-06-15", to: "2026-06-15", dayCount: 1 });
  });

  it("takes from and to, both included, across months and leap days", () => {
    expect(dayRange({ from: "2028-02-27", to: "2028-03-01" }, "2026-06-15")).toEqual({ from: "2028-02-27", to: "2028-03-01", dayCount: 4 });
    expect(daysOf({ from: "2028-02-27", to: "2028-03-01", dayCount: 4 })).toEqual(["2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01"]);
    expect(dayRange({ to: "2026-01-02", days: "3" }, "2026-06-15")).toEqual({ from: "2025-12-31", to: "2026-01-02", dayCount: 3 });
    expect(dayRange({ from: "2020-01-01" }, "2026-06-15").dayCount).toBe(2358);
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
  });

  it("refuses dates that are not dates, and a range that ends before it starts", () => {
    for (const from of ["2026-02-30", "2026-13-01", "15-06-2026", "2026-6-1", "yesterday", "1969-12-31", "2026-06-15T00:00:00Z"]) refused({ from }, "from");
    refused({ to: "2026-04-31" }, "to");
    refused({ from: "2026-06-16", to: "2026-06-15" }, "from");
    refused({ days: "0" }, "days");
    refused({ days: "401" }, "days");
    refused({ days: "abc" }, "days");
  });

  it("turns days into the instants they cover in the budget zone, daylight saving included", () => {
    expect(rangeInstants({ from: "2026-06-15", to: "2026-06-15", dayCount: 1 }, "UTC")).toEqual({
      start: Date.UTC(2026, 5, 15),
      end: Date.UTC(2026, 5, 16),
    });
    // New York springs forward on 2026-03-08: that day has 23 hours.
    const { start, end } = rangeInstants({ from: "2026-03-08", to: "2026-03-08", dayCount: 1 }, "America/New_York");
    expect(start).toBe(Date.UTC(2026, 2, 8, 5));
    expect(end - start).toBe(23 * 3600 * 1000);
  });
});
