import { describe, expect, it } from "vitest";
import { protectBigIntegers, restoreBigIntegers } from "./big-integers.js";

const roundTrip = (text: string) => restoreBigIntegers(JSON.stringify(JSON.parse(protectBigIntegers(text))));

describe("integers beyond 2^53 reach the upstream unchanged", () => {
  it("keeps the client's digits", () => {
    expect(roundTrip('{"seed":9007199254740993,"n":-12345678901234567890}')).toBe('{"seed":9007199254740993,"n":-12345678901234567890}');
  });
  it("leaves safe numbers, decimals, exponents and strings alone", () => {
    const text = '{"a":9007199254740991,"b":12345678901234567.5,"c":1234567890123456789e2,"d":"9007199254740993"}';
    expect(protectBigIntegers(text)).toBe(text);
  });
});
