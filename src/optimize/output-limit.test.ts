import { describe, expect, it } from "vitest";
import type { ChatBody } from "../request/parse.js";
import { applyOutputLimit } from "./output-limit.js";

const LIMITS = { classification: 50, extraction: 200, summary: 300, explanation: 500, generation: 1000 };

function body(extra: Partial<ChatBody> = {}): ChatBody {
  return { model: "auto", messages: [{ role: "user", content: "hi" }], ...extra };
}

describe("applyOutputLimit", () => {
  it("sets max_tokens for a configured request type when the client set no limit", () => {
    const out = applyOutputLimit(body(), "summary", LIMITS);
    expect(out.applied).toBe(300);
    expect(out.body).toEqual({ ...body(), max_tokens: 300 });
  });

  it("uses the limit of the request type asked for", () => {
    expect(applyOutputLimit(body(), "classification", LIMITS).body.max_tokens).toBe(50);
    expect(applyOutputLimit(body(), "generation", LIMITS).body.max_tokens).toBe(1000);
  });

  it("treats a null client limit as no limit", () => {
    const out = applyOutputLimit(body({ max_tokens: null, max_completion_tokens: null }), "extraction", LIMITS);
    expect(out.applied).toBe(200);
    expect(out.body.max_tokens).toBe(200);
  });

  it.each([
    ["max_tokens below the configured limit", { max_tokens: 20 }],
    ["max_tokens above the configured limit", { max_tokens: 4000 }],
    ["max_completion_tokens below the configured limit", { max_completion_tokens: 20 }],
    ["max_completion_tokens above the configured limit", { max_completion_tokens: 4000 }],
  ] as const)("keeps the client's own %s, unchanged", (_name, limit) => {
    const input = body(limit);
    const out = applyOutputLimit(input, "summary", LIMITS);
    expect(out.applied).toBeUndefined();
    expect(out.body).toEqual(body(limit));
    // A client's max_completion_tokens does not gain a max_tokens beside it.
    if (!("max_tokens" in limit)) expect("max_tokens" in out.body).toBe(false);
  });

  it("sets nothing for an unknown request type", () => {
    const out = applyOutputLimit(body(), "poetry", LIMITS);
    expect(out.applied).toBeUndefined();
    expect("max_tokens" in out.body).toBe(false);
  });

  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])("sets nothing for the inherited key %j", (type) => {
    const out = applyOutputLimit(body(), type, LIMITS);
    expect(out.applied).toBeUndefined();
    expect("max_tokens" in out.body).toBe(false);
  });

  it("does not mutate the input body", () => {
    const input = body({ temperature: 0 });
    const snapshot = structuredClone(input);
    const out = applyOutputLimit(input, "summary", LIMITS);
    expect(out.body.max_tokens).toBe(300);
    expect(input).toEqual(snapshot);
    expect("max_tokens" in input).toBe(false);
  });
});
