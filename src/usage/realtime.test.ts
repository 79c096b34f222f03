import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config/schema.js";
import { tokensCost } from "../money.js";
import { RealtimeMeter } from "./realtime.js";

const MODEL = { upstream: "openai", tier: "standard", kind: "realtime", reasoning: false, drop_params: [], context_window: 32000, max_output_tokens: 4096, price_source: "config", price: { input: 4, output: 16, input_audio: 32, output_audio: 64 } } as ModelConfig;

describe("RealtimeMeter", () => {
  it("holds a first response for what the client added and the model's output limit, at the dearer rates", () => {
    const meter = new RealtimeMeter(MODEL);
    meter.fromClient({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] } });
    const itemBytes = Buffer.byteLength(JSON.stringify({ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }));
    expect(meter.worstCase({ type: "response.create" })).toBe(tokensCost(itemBytes, 32) + tokensCost(4096, 64));
  });

  it("counts a second of appended audio as 20 tokens, and the limits the client sets", () => {
    const meter = new RealtimeMeter(MODEL);
    meter.fromClient({ type: "session.update", session: { max_response_output_tokens: 100 } });
    meter.fromClient({ type: "input_audio_buffer.append", audio: "A".repeat(64_000) });
    expect(meter.worstCase({ type: "response.create" })).toBe(tokensCost(20, 32) + tokensCost(100, 64));
    expect(meter.worstCase({ type: "response.create", response: { max_output_tokens: 10 } })).toBe(tokensCost(20, 32) + tokensCost(10, 64));
  });

  it("starts the next response from what the last one read and wrote", () => {
    const meter = new RealtimeMeter(MODEL);
    meter.fromClient({ type: "input_audio_buffer.append", audio: "A".repeat(64_000) });
    meter.responseDone({ input_tokens: 300, output_tokens: 50 });
    expect(meter.worstCase({ type: "response.create", response: { max_output_tokens: 1 } })).toBe(tokensCost(350, 32) + tokensCost(1, 64));
  });
});
