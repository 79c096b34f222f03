import { describe, expect, it } from "vitest";
import { isoTime } from "./clock.js";

describe("isoTime", () => {
  it("writes what toISOString writes, within a second, across seconds and outside the usual years", () => {
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, -1, -999, -1000, -1001, 1_796_396_173_441, 1_796_396_173_442, 1_796_396_174_000, 1_796_396_173_999];
    times.push(253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_000, -62_167_219_200_001, 1_000.5, 1_796_396_173_441);
    for (let ms = 1_700_000_000_000; ms < 1_700_000_003_000; ms += 37) times.push(ms);
    for (const ms of times) expect([ms, isoTime(ms)]).toEqual([ms, new Date(ms).toISOString()]);
  });
});
