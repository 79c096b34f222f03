import { describe, expect, it } from "vitest";
import { parseJsonBody } from "./parse.js";
import { spliceBody } from "./splice.js";

/** The client's text and what parsing it gave, as admit.ts keeps them. */
const sourceOf = (text: string) => ({ text, body: parseJsonBody(text) as Record<string, unknown> });

describe("spliceBody", () => {
  it("keeps the client's bytes where nothing changed, and writes only what did", () => {
    const text = '{ "model" : "auto",\n  "messages": [{"role":"user","content":"caf\\u00e9 {\\"x\\"} \\\\"}],\n  "seed": 12345678901234567890, "temperature": 0.5 }';
    const source = sourceOf(text);
    const upstream: Record<string, unknown> = { ...source.body, model: "gpt-4o-mini", max_tokens: 512 };
    delete upstream.temperature;
    const out = spliceBody(source, upstream)!;
    expect(out).toBe('{"model":"gpt-4o-mini","messages": [{"role":"user","content":"caf\\u00e9 {\\"x\\"} \\\\"}],"seed": 12345678901234567890,"max_tokens":512}');
    // The same value as serialising the whole body (the big integer as the client wrote it).
    expect(JSON.parse(out.replace("12345678901234567890", '"big"'))).toEqual({ ...JSON.parse(JSON.stringify(upstream)), seed: "big" });
  });

  it("gives the client's text back whole when the body is the one parsed", () => {
    const text = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
    const source = sourceOf(text);
    expect(spliceBody(source, { ...source.body })).toBe(text);
  });

  it("writes a replaced nested value anew, big integers restored", () => {
    const source = sourceOf('{"stream":true,"stream_options":{"include_usage":false},"messages":[],"user_id":98765432109876543210}');
    const out = spliceBody(source, { ...source.body, stream_options: { include_usage: true }, note: { id: source.body.user_id } })!;
    expect(out).toBe('{"stream":true,"stream_options":{"include_usage":true},"messages":[],"user_id":98765432109876543210,"note":{"id":98765432109876543210}}');
  });

  it("declines a text whose top level repeats a key, or is not an object", () => {
    const repeated = '{"model":"a","model":"b"}';
    expect(spliceBody({ text: repeated, body: JSON.parse(repeated) as object }, { model: "c" })).toBeUndefined();
    expect(spliceBody({ text: "[1]", body: [1] }, { model: "c" })).toBeUndefined();
  });

  it("parses to what JSON.stringify of the upstream body gives, for any body and any change (seeded)", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const strings = ["", "plain", 'quote " inside', "back\\slash\\", "\\\\\"", "{[]}", "é ü 中文 😀", "line\nbreak\ttab", "\u0000\u001f"];
    const value = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 2 ? 4 : 6));
      if (kind === 0) return pick(strings);
      if (kind === 1) return Math.floor(random() * 1e6) / (random() < 0.5 ? 1 : 7);
      if (kind === 2) return pick([true, false, null]);
      if (kind === 3) return -Math.floor(random() * 100);
      if (kind === 4) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`${pick(strings)}${i}`, value(depth + 1)]));
    };
    const spaced = (json: string) => json.replace(/([,:{[])(?=(?:[^"\\]|\\.|"(?:[^"\\]|\\.)*")*$)/g, (m) => (random() < 0.3 ? `${m} \n` : m));
    for (let n = 0; n < 300; n++) {
      const body: Record<string, unknown> = {};
      for (let k = 0; k < 1 + Math.floor(random() * 6); k++) body[`${pick(strings)}k${k}`] = value(0);
      const text = random() < 0.5 ? spaced(JSON.stringify(body, null, random() < 0.5 ? 2 : undefined)) : JSON.stringify(body);
      const source = sourceOf(text);
      const upstream: Record<string, unknown> = { ...source.body };
      const keys = Object.keys(upstream);
      if (keys.length > 0 && random() < 0.5) delete upstream[pick(keys)];
      if (keys.length > 0 && random() < 0.5) upstream[pick(keys)] = value(1);
      if (random() < 0.5) upstream[`added ${n}`] = value(1);
      if (random() < 0.2) upstream.model = undefined;
      const out = spliceBody(source, upstream);
      expect(out).toBeDefined();
      expect(JSON.parse(out!)).toEqual(JSON.parse(JSON.stringify(upstream)));
    }
  });
});
