import { describe, expect, it } from "vitest";
import { JsonScan } from "./json-scan.js";
import { textNestedDeeperThan } from "./parse.js";

/** The scan's facts, the obvious way: one character at a time. */
function reference(text: string): { objects: number; maxDepth: number; longDigitRun: boolean } {
  const { objects, maxDepth, longDigitRun } = referenceAll(text);
  return { objects, maxDepth, longDigitRun };
}

function referenceAll(text: string, notice: ReadonlySet<string> = new Set()) {
  let noticed = false;
  let unicodeEscape = false;
  let stringStart = 0;
  let objects = 0;
  let depth = 0;
  let maxDepth = 0;
  let digits = 0;
  let longDigitRun = false;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "\\") {
        if (text[i + 1] === "u") unicodeEscape = true;
        i++;
      } else if (c === '"') {
        inString = false;
        if (notice.has(text.slice(stringStart, i))) noticed = true;
      }
      continue;
    }
    if (c >= "0" && c <= "9") {
      if (++digits >= 16) longDigitRun = true;
      continue;
    }
    digits = 0;
    if (c === '"') {
      inString = true;
      stringStart = i + 1;
    } else if (c === "{" || c === "[") {
      if (c === "{") objects++;
      maxDepth = Math.max(maxDepth, ++depth);
    } else if (c === "}" || c === "]") depth--;
  }
  return { objects, maxDepth, longDigitRun, noticed, unicodeEscape };
}

const facts = (scan: JsonScan) => ({ objects: scan.objects, maxDepth: scan.maxDepth, longDigitRun: scan.longDigitRun });

/** A small seeded generator (mulberry32), so a failure repeats. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['"', "\\", "{", "}", "[", "]", "\u00e9", "\u{1F600}", "1234567890123456", "7", "x", " ", "\n", "\\u005f"];

function value(next: () => number, depth: number): unknown {
  const kind = Math.floor(next() * (depth > 6 ? 3 : 6));
  if (kind === 0) return Array.from({ length: Math.floor(next() * 6) }, () => PIECES[Math.floor(next() * PIECES.length)]).join("");
  if (kind === 1) return next() < 0.5 ? Math.floor(next() * 1e6) : JSON.parse(`${Math.floor(next() * 9) + 1}${"0".repeat(Math.floor(next() * 20))}`);
  if (kind === 2) return next() < 0.5 ? null : true;
  if (kind === 3) return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}${PIECES[Math.floor(next() * PIECES.length)]}`, value(next, depth + 1)]));
}

describe("JsonScan", () => {
  const text = JSON.stringify({
    model: "m",
    messages: [{ role: "user", content: [{ type: "text", text: 'braces {in} a "quoted" {string}\\' }, { type: "text", text: "\\\"{\u00e9}\\" }] }],
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", description: "{}{}" } } } } }],
    seed: 12345678901234567890n.toString(),
    note: "caf\u00e9 \u{1F600} { 12345678901234567890",
  });

  it("counts objects and depth outside strings, whatever the strings hold", () => {
    const scan = new JsonScan();
    expect(scan.add(Buffer.from(text))).toBe(9);
    // The digits are all inside strings.
    expect(facts(scan)).toEqual({ objects: 9, maxDepth: 7, longDigitRun: false });
    expect(textNestedDeeperThan(text, 6)).toBe(true);
    expect(textNestedDeeperThan(text, 7)).toBe(false);
    const big = new JsonScan();
    big.add(Buffer.from('{"seed": 12345678901234567890, "n": 123456789012345}'));
    expect(big.longDigitRun).toBe(true);
  });

  it("finds the same for the bytes cut anywhere, across escapes, digits and multi-byte characters", () => {
    const bytes = Buffer.from(`${text.slice(0, -1)},"n":[12345678901234567,"\\\\\\""]}`);
    const expected = reference(bytes.toString());
    expect(expected.longDigitRun).toBe(true);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const scan = new JsonScan();
      scan.add(bytes.subarray(0, cut));
      scan.add(bytes.subarray(cut));
      expect(facts(scan), `cut at ${cut}`).toEqual(expected);
    }
  });

  it("agrees with a character-by-character reading on random JSON cut in random chunks", () => {
    const next = random(21);
    for (let round = 0; round < 300; round++) {
      const json = JSON.stringify(value(next, 0));
      const bytes = Buffer.from(json);
      const scan = new JsonScan();
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(next() * 12);
        scan.add(bytes.subarray(at, at + size));
        at += size;
      }
      expect(facts(scan), json).toEqual(reference(json));
    }
  });

  it("notices the strings it is asked to and every \\u escape, however the bytes are cut", () => {
    const notice = new Set(["file_id", "container"]);
    const cases: Array<[string, boolean, boolean]> = [
      ['{"messages":[{"content":[{"type":"file","file":{"file_id":"file-1"}}]}]}', true, false],
      ['{"tools":[{"type":"code_interpreter","container":{"type":"auto"}}]}', true, false],
      ['{"file":{"file\\u005fid":"file-1"}}', false, true],
      ['{"content":"a file_id, a container, \\"file_id\\" quoted"}', false, false],
      ['{"file_ids":["x"],"container_id":"c"}', false, false],
    ];
    for (const [json, noticed, unicodeEscape] of cases) {
      const whole = new JsonScan(notice);
      whole.add(Buffer.from(json));
      expect([json, whole.noticed, whole.unicodeEscape]).toEqual([json, noticed, unicodeEscape]);
      expect(referenceAll(json, notice)).toMatchObject({ noticed, unicodeEscape });
      const bytes = Buffer.from(json);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const scan = new JsonScan(notice);
        scan.add(bytes.subarray(0, cut));
        scan.add(bytes.subarray(cut));
        // A short string cut in two is noticed whatever it is: never missed, sometimes noticed for nothing.
        if (noticed) expect(scan.noticed, `${json} cut at ${cut}`).toBe(true);
        expect(scan.unicodeEscape, `${json} cut at ${cut}`).toBe(unicodeEscape);
        expect(scan.objects).toBe(whole.objects);
      }
    }
  });

  it("never misses a noticed string or an escape in random JSON cut in random chunks", () => {
    const notice = new Set(["k0{", "k1x", "7"]);
    const next = random(5);
    for (let round = 0; round < 300; round++) {
      const json = JSON.stringify(value(next, 0));
      const expected = referenceAll(json, notice);
      const bytes = Buffer.from(json);
      const scan = new JsonScan(notice);
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(next() * 12);
        scan.add(bytes.subarray(at, at + size));
        at += size;
      }
      expect(scan.unicodeEscape, json).toBe(expected.unicodeEscape);
      if (expected.noticed) expect(scan.noticed, json).toBe(true);
      const whole = new JsonScan(notice);
      whole.add(bytes);
      expect(whole.noticed, json).toBe(expected.noticed);
    }
  });
});
