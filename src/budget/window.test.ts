import { describe, expect, it } from "vitest";
import { WindowCache, windowsAt } from "./window.js";

const at = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;

describe("windowsAt in UTC", () => {
  it("names the day and month and ends them at UTC midnight", () => {
    expect(windowsAt(at("2026-11-26T15:30:00Z"), "UTC")).toEqual({
      day: "2026-11-26",
      month: "2026-11",
      dayEnd: at("2026-11-27T00:00:00Z"),
      monthEnd: at("2026-12-01T00:00:00Z"),
    });
  });

  it("puts midnight itself in the new day", () => {
    expect(windowsAt(at("2026-03-05T00:00:00Z"), "UTC").day).toBe("2026-03-05");
    expect(windowsAt(at("2026-03-04T23:59:59.999Z"), "UTC")).toMatchObject({ day: "2026-03-04", dayEnd: at("2026-03-05T00:00:00Z") });
  });

  it("rolls month ends over: Jan 31 into February, Dec 31 into the next year", () => {
    expect(windowsAt(at("2026-01-31T23:59:59Z"), "UTC")).toEqual({
      day: "2026-01-31",
      month: "2026-01",
      dayEnd: at("2026-02-01T00:00:00Z"),
      monthEnd: at("2026-02-01T00:00:00Z"),
    });
    expect(windowsAt(at("2026-12-31T12:00:00Z"), "UTC")).toEqual({
      day: "2026-12-31",
      month: "2026-12",
      dayEnd: at("2027-01-01T00:00:00Z"),
      monthEnd: at("2027-01-01T00:00:00Z"),
    });
  });

  it("knows leap years: February 2028 has a 29th, February 2027 does not", () => {
    expect(windowsAt(at("2028-02-28T10:00:00Z"), "UTC")).toMatchObject({ dayEnd: at("2028-02-29T00:00:00Z"), monthEnd: at("2028-03-01T00:00:00Z") });
    expect(windowsAt(at("2028-02-29T10:00:00Z"), "UTC")).toMatchObject({ day: "2028-02-29", dayEnd: at("2028-03-01T00:00:00Z") });
    expect(windowsAt(at("2027-02-28T10:00:00Z"), "UTC")).toMatchObject({ dayEnd: at("2027-03-01T00:00:00Z"), monthEnd: at("2027-03-01T00:00:00Z") });
  });
});

describe("windowsAt in other zones", () => {
  it("America/Los_Angeles: the local date, ending at local midnight (PST and PDT)", () => {
    // 07:00Z on Nov 26 is 23:00 on Nov 25 in Los Angeles (UTC-8).
    expect(windowsAt(at("2026-11-26T07:00:00Z"), "America/Los_Angeles")).toEqual({
      day: "2026-11-25",
      month: "2026-11",
      dayEnd: at("2026-11-26T08:00:00Z"),
      monthEnd: at("2026-12-01T08:00:00Z"),
    });
    // Summer time (UTC-7): June 30 23:59:59 local, the last second of June.
    expect(windowsAt(at("2026-07-01T06:59:59Z"), "America/Los_Angeles")).toEqual({
      day: "2026-06-30",
      month: "2026-06",
      dayEnd: at("2026-07-01T07:00:00Z"),
      monthEnd: at("2026-07-01T07:00:00Z"),
    });
  });

  it("America/Los_Angeles: a month that ends in summer time before the clocks go back", () => {
    const w = windowsAt(at("2026-10-15T12:00:00Z"), "America/Los_Angeles");
    expect(w.monthEnd).toBe(at("2026-11-01T07:00:00Z"));
    // November 1 2026 is 25 hours long there.
    const nov1 = windowsAt(at("2026-11-01T12:00:00Z"), "America/Los_Angeles");
    expect(nov1.day).toBe("2026-11-01");
    expect(nov1.dayEnd - w.monthEnd).toBe(25 * HOUR);
  });

  it("Asia/Kolkata: a half-hour offset, ahead of UTC", () => {
    expect(windowsAt(at("2026-01-31T18:29:59Z"), "Asia/Kolkata")).toMatchObject({
      day: "2026-01-31",
      dayEnd: at("2026-01-31T18:30:00Z"),
      monthEnd: at("2026-01-31T18:30:00Z"),
    });
    expect(windowsAt(at("2026-01-31T18:30:00Z"), "Asia/Kolkata")).toEqual({
      day: "2026-02-01",
      month: "2026-02",
      dayEnd: at("2026-02-01T18:30:00Z"),
      monthEnd: at("2026-02-28T18:30:00Z"),
    });
    expect(windowsAt(at("2026-12-31T20:00:00Z"), "Asia/Kolkata")).toMatchObject({ day: "2027-01-01", month: "2027-01" });
  });

  it("America/New_York: 2026-03-08 is 23 hours long", () => {
    const before = windowsAt(at("2026-03-07T12:00:00Z"), "America/New_York");
    expect(before.dayEnd).toBe(at("2026-03-08T05:00:00Z")); // midnight EST
    for (const iso of ["2026-03-08T05:00:00Z", "2026-03-08T06:59:59Z", "2026-03-08T07:00:00Z", "2026-03-09T03:59:59Z"]) {
      const w = windowsAt(at(iso), "America/New_York");
      expect([iso, w.day, w.dayEnd]).toEqual([iso, "2026-03-08", at("2026-03-09T04:00:00Z")]); // midnight EDT
    }
    expect(at("2026-03-09T04:00:00Z") - before.dayEnd).toBe(23 * HOUR);
  });

  it("America/Santiago: a day whose midnight is skipped starts when the clocks jump", () => {
    // Clocks go from Sept 5 24:00 (UTC-4) straight to Sept 6 01:00 (UTC-3), at 04:00Z.
    const sept5 = windowsAt(at("2026-09-06T03:30:00Z"), "America/Santiago");
    expect(sept5).toMatchObject({ day: "2026-09-05", dayEnd: at("2026-09-06T04:00:00Z") });
    expect(windowsAt(at("2026-09-06T04:00:00Z"), "America/Santiago").day).toBe("2026-09-06");
  });

  it("ends each window at the exact instant the local day or month changes, in every zone", () => {
    const zones = ["UTC", "America/Los_Angeles", "America/New_York", "America/Santiago", "America/Havana", "Asia/Beirut", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"];
    const start = at("2026-01-01T00:00:00Z");
    for (const zone of zones) {
      for (let ms = start; ms < start + 366 * 24 * HOUR; ms += 5 * HOUR + 17 * 60_000) {
        const w = windowsAt(ms, zone);
        const lastOfDay = windowsAt(w.dayEnd - 1, zone);
        const nextDay = windowsAt(w.dayEnd, zone);
        const ok =
          w.dayEnd > ms &&
          lastOfDay.day === w.day &&
          nextDay.day !== w.day &&
          windowsAt(w.monthEnd - 1, zone).month === w.month &&
          nextDay.month === (w.dayEnd === w.monthEnd ? windowsAt(w.monthEnd, zone).month : w.month) &&
          windowsAt(w.monthEnd, zone).month !== w.month;
        if (!ok) throw new Error(`${zone} at ${new Date(ms).toISOString()}: ${JSON.stringify(w)}`);
      }
    }
  });
});

describe("WindowCache", () => {
  it("returns the same windows within a day and new ones from dayEnd on", () => {
    const cache = new WindowCache("America/Los_Angeles");
    const morning = cache.at(at("2026-11-25T16:00:00Z"));
    expect(morning.day).toBe("2026-11-25");
    expect(cache.at(at("2026-11-26T07:59:59Z"))).toBe(morning);
    const next = cache.at(morning.dayEnd);
    expect(next).not.toBe(morning);
    expect(next).toMatchObject({ day: "2026-11-26", month: "2026-11", dayEnd: at("2026-11-27T08:00:00Z") });
  });

  it("recomputes for an instant before the cached day", () => {
    const cache = new WindowCache("UTC");
    cache.at(at("2026-05-10T12:00:00Z"));
    expect(cache.at(at("2026-05-09T23:00:00Z")).day).toBe("2026-05-09");
  });

  it("agrees with windowsAt over a month boundary", () => {
    const cache = new WindowCache("Asia/Kolkata");
    for (let ms = at("2026-01-30T00:00:00Z"); ms < at("2026-02-03T00:00:00Z"); ms += 37 * 60_000) {
      const { day, month, dayEnd, monthEnd } = cache.at(ms);
      expect({ day, month, dayEnd, monthEnd }).toEqual(windowsAt(ms, "Asia/Kolkata"));
    }
  });
});
