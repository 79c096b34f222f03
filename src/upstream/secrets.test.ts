import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskSecrets, SecretMasker } from "./secrets.js";

const UPSTREAM = "sk-upstream-openai-0123456789abcdef";

function inPieces(text: string, cuts: number[]): string {
  const masker = new SecretMasker([UPSTREAM]);
  let out = "";
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    out += masker.push(text.slice(at, cut));
    at = cut;
  }
  return out + masker.push(text.slice(at)) + masker.end();
}

describe("masking a text that arrives in pieces", () => {
  it("masks a secret split at any point, as the whole text would be masked", () => {
    const text = `{"error":{"message":"bad auth: Bearer ${UPSTREAM} and sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ end"}}`;
    const whole = maskSecrets(text, [UPSTREAM]);
    expect(whole).not.toContain("0123456789abcdef");
    expect(whole).not.toContain("ABCDEFGHIJKLMNOP");
    for (let i = 0; i <= text.length; i++) {
      for (const j of [i, Math.min(text.length, i + 7)]) expect(inPieces(text, [i, j])).toBe(whole);
    }
  });

  it("holds for any text and any cuts", () => {
    const piece = fc.constantFrom(UPSTREAM, "Bearer ", "sk-", "abcDEF0123456789", " ", '"', "\n", "data: ", "-", "_x", "é");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), (parts, rawCuts) => {
        const text = parts.join("");
        const cuts = rawCuts.map((c) => c % (text.length + 1));
        expect(inPieces(text, cuts)).toBe(maskSecrets(text, [UPSTREAM]));
      }),
      { numRuns: 500 },
    );
  });

  it("masks a configured secret of any characters split at any point", () => {
    const odd = "abc:defghijk/lm";
    const text = `before ${odd} after`;
    for (let i = 0; i <= text.length; i++) {
      const masker = new SecretMasker([odd]);
      expect(masker.push(text.slice(0, i)) + masker.push(text.slice(i)) + masker.end(), `cut at ${i}`).toBe("before *** after");
    }
  });

  it("lets a long run go without holding it all", () => {
    const masker = new SecretMasker([]);
    const out = masker.push("A".repeat(2 * 1024 * 1024));
    expect(out.length).toBe(2 * 1024 * 1024 - 1024);
    expect(masker.end().length).toBe(1024);
  });
});
