import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { splitByWeight } from "./split.js";

describe("splitByWeight", () => {
  it("adds up to the whole, whatever the weights", () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }), (total, weights) => {
        const parts = splitByWeight(total, weights);
        expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
        expect(parts.every((p) => Number.isInteger(p) && p >= 0)).toBe(true);
      }),
    );
  });
  it("follows the weights", () => {
    expect(splitByWeight(10, [1, 1, 3])).toEqual([2, 2, 6]);
    expect(splitByWeight(7, [0, 0])).toEqual([4, 3]);
  });
});
