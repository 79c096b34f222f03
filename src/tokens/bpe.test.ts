import { getEncoding } from "js-tiktoken";
import { describe, expect, it } from "vitest";
import { BpeCounter } from "./bpe.js";

/** The counting tokenizer against js-tiktoken's own, text for text. */

const TEXTS = [
  "Hello, world! How are you doing today?",
  "The quick brown fox jumps over the lazy dog. It's 3:45pm; we've got 12,345.67 reasons.",
  "function add(a, b) {\n  return a + b; // sum\n}\n\n\tconst x = [1, 2, 3].map((n) => n ** 2);",
  "日本語のテキストと中文文本，还有한국어 텍스트.",
  "Emoji 👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵, accents: café, naïve, Ærøskøbing.",
  "    leading spaces\n\n\n\ttabs\r\nCRLF   trailing   ",
  "<|endoftext|> <|fim_prefix|> special tokens are plain text here",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
  "https://example.com/path?query=1&x=%20y#frag",
  "Ünïcödé ÀÉÎÕÜ ß ﬁ ℌ ¹²³ ½",
  "",
];

/** Text of random code points, from a seeded generator (the same every run). */
function randomText(seed: number, length: number): string {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  let text = "";
  for (let i = 0; i < length; i++) {
    const r = next();
    text += r < 0.6 ? String.fromCharCode(32 + Math.floor(next() * 95)) : r < 0.8 ? " " : String.fromCodePoint(0xa0 + Math.floor(next() * 0x3000));
  }
  return text;
}

describe("BpeCounter counts as js-tiktoken does", () => {
  for (const name of ["o200k_base", "cl100k_base"] as const) {
    it(name, () => {
      const ours = BpeCounter.load(name);
      const theirs = getEncoding(name);
      for (const text of [...TEXTS, ...Array.from({ length: 20 }, (_, i) => randomText(i + 1, 400))]) {
        expect(ours.count(text), JSON.stringify(text.slice(0, 40))).toBe(theirs.encode(text, [], []).length);
      }
    });
  }
});
