import { afterEach, describe, expect, it, vi } from "vitest";
import { ProxyError } from "../errors.js";
import { MAX_DEPTH, parseChatBody, textNestedDeeperThan } from "./parse.js";

afterEach(() => vi.restoreAllMocks());

describe("nesting depth is read from the text, before parsing", () => {
  it("refuses a body nested millions deep without parsing it", () => {
    const parse = vi.spyOn(JSON, "parse");
    const deep = `{"model":"auto","messages":[{"role":"user","content":"hi"}],"x":${"[".repeat(4_500_000)}${"]".repeat(4_500_000)}}`;
    expect(() => parseChatBody(deep)).toThrow(ProxyError);
    expect(parse).not.toHaveBeenCalled();
  });

  it("counts only brackets outside strings", () => {
    expect(textNestedDeeperThan(JSON.stringify({ s: "[".repeat(1000), t: "\\\"[[[" }), 3)).toBe(false);
    expect(textNestedDeeperThan("[".repeat(MAX_DEPTH + 1), MAX_DEPTH)).toBe(true);
    expect(textNestedDeeperThan(`${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}`, MAX_DEPTH)).toBe(false);
  });

  it("still parses a legitimate deep schema", () => {
    let schema: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 20; i++) schema = { type: "object", properties: { a: schema } };
    const body = parseChatBody(JSON.stringify({ model: "auto", messages: [{ role: "user", content: "hi" }], response_format: { type: "json_schema", json_schema: { schema } } }));
    expect(body.response_format?.type).toBe("json_schema");
  });
});
