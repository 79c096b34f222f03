import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config/schema.js";
import type { ChatBody } from "../request/parse.js";
import { testConfig } from "../../test/support/proxy.js";
import { adaptParams, clientOutputLimit, REASONING_DROPPED } from "./adapt.js";

const models = testConfig("http://upstream.test/v1").models;
const reasoning = models["o3-mini"]!;
const plain = models["gpt-4o"]!;

function body(extra: Partial<ChatBody> = {}): ChatBody {
  return { model: "auto", messages: [{ role: "user", content: "hi" }], ...extra };
}

const SAMPLING = {
  temperature: 0.2,
  top_p: 0.9,
  presence_penalty: 0.1,
  frequency_penalty: 0.3,
  logprobs: true,
  top_logprobs: 2,
  logit_bias: { "50256": -100 },
};

describe("adaptParams for a reasoning model", () => {
  it("renames max_tokens and drops the sampling parameters", () => {
    const out = adaptParams(body({ max_tokens: 300, ...SAMPLING, reasoning_effort: "low", seed: 7 }), reasoning, "o3-mini");
    expect(out).toEqual({
      model: "o3-mini",
      messages: [{ role: "user", content: "hi" }],
      max_completion_tokens: 300,
      reasoning_effort: "low",
      seed: 7,
    });
    expect(Object.keys(SAMPLING).sort()).toEqual([...REASONING_DROPPED].sort());
  });

  it("keeps the client's max_completion_tokens over max_tokens", () => {
    const out = adaptParams(body({ max_tokens: 300, max_completion_tokens: 500 }), reasoning, "o3-mini");
    expect(out.max_completion_tokens).toBe(500);
    expect("max_tokens" in out).toBe(false);
  });

  it("does not forward a null max_tokens", () => {
    const out = adaptParams(body({ max_tokens: null }), reasoning, "o3-mini");
    expect("max_tokens" in out).toBe(false);
    expect("max_completion_tokens" in out).toBe(false);
  });

  it("drops sampling parameters even when they are null", () => {
    const out = adaptParams(body({ temperature: null, top_p: null }), reasoning, "o3-mini");
    expect("temperature" in out).toBe(false);
    expect("top_p" in out).toBe(false);
  });
});

describe("adaptParams for a non-reasoning model", () => {
  it("keeps max_tokens, sampling parameters and reasoning_effort (gpt-5-family models need it)", () => {
    const out = adaptParams(body({ max_tokens: 300, reasoning_effort: "high", ...SAMPLING }), plain, "gpt-4o");
    expect(out).toEqual({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 300, reasoning_effort: "high", ...SAMPLING });
  });

  it("drops reasoning_effort where drop_params says the model refuses it", () => {
    const out = adaptParams(body({ reasoning_effort: "high" }), { ...plain, drop_params: ["reasoning_effort"] }, "gpt-4o");
    expect(out).not.toHaveProperty("reasoning_effort");
  });

  it("sends the upstream's model name", () => {
    const haiku = models["claude-3-haiku"]!;
    expect(adaptParams(body({ model: "claude-3-haiku" }), haiku, haiku.upstream_model!).model).toBe("claude-3-haiku-20240307");
  });
});

describe("adaptParams in general", () => {
  it("drops the model's drop_params on top of the built-in rules", () => {
    const model: ModelConfig = { ...plain, drop_params: ["seed", "parallel_tool_calls"] };
    const out = adaptParams(body({ seed: 1, parallel_tool_calls: false, user: "u1" }), model, "gpt-4o");
    expect(out).toEqual({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], user: "u1" });
    const reasoningDrop: ModelConfig = { ...reasoning, drop_params: ["max_completion_tokens"] };
    expect("max_completion_tokens" in adaptParams(body({ max_tokens: 10 }), reasoningDrop, "o3-mini")).toBe(false);
  });

  it("passes unknown fields through untouched, by value", () => {
    const extra = { metadata: { trace: "t1" }, tools: [{ type: "function", function: { name: "f" } }], stream: true, future_param: [1, 2] };
    const out = adaptParams(body(extra), reasoning, "o3-mini");
    expect(out).toMatchObject(extra);
    expect(out.metadata).toBe(extra.metadata);
  });

  it("never mutates the client's body", () => {
    const input = body({ max_tokens: 100, ...SAMPLING, reasoning_effort: "low", seed: 3 });
    const snapshot = structuredClone(input);
    adaptParams(input, reasoning, "o3-mini");
    adaptParams(input, { ...plain, drop_params: ["seed"] }, "gpt-4o");
    expect(input).toEqual(snapshot);
  });
});

describe("clientOutputLimit", () => {
  it("prefers max_completion_tokens, then max_tokens", () => {
    expect(clientOutputLimit(body({ max_completion_tokens: 50, max_tokens: 100 }))).toBe(50);
    expect(clientOutputLimit(body({ max_tokens: 100 }))).toBe(100);
    expect(clientOutputLimit(body({ max_completion_tokens: null, max_tokens: 100 }))).toBe(100);
    expect(clientOutputLimit(body({ max_tokens: null }))).toBeUndefined();
    expect(clientOutputLimit(body())).toBeUndefined();
  });
});
