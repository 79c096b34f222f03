import { describe, expect, it } from "vitest";
import { meteredCost, meteredHold, readMeteredRequest, readMeteredUsage } from "./metered.js";
import { UsageTail } from "./usage-tail.js";

const fields = (body: Record<string, unknown>) => (name: string) => (body[name] === undefined ? undefined : String(body[name]));

describe("metered calls", () => {
  it("reads units from the request and holds at least their price", () => {
    const ten = readMeteredRequest("images", "/images/generations", fields({ model: "gpt-image-1", n: 10 }));
    expect(ten).toEqual({ model: "gpt-image-1", units: { kind: "per_image", count: 10 } });
    expect(meteredHold(0.5, { input: 5, output: 40, per_image: 0.2 }, ten)).toBe(2_000_000_000);
    expect(meteredHold(0.5, { input: 5, output: 40 }, ten)).toBe(500_000_000);
    const speech = readMeteredRequest("audio", "/audio/speech", fields({ model: "tts-1", input: "x".repeat(2500) }));
    expect(speech.units).toEqual({ kind: "per_1k_characters", count: 2.5 });
    expect(readMeteredRequest("videos", "/videos", fields({ seconds: "8" })).units).toEqual({ kind: "per_video_second", count: 8 });
    expect(readMeteredRequest("audio", "/audio/transcriptions", fields({ model: "whisper-1" })).units).toBeUndefined();
  });

  it("costs from token usage, else units, else the hold", () => {
    const price = { input: 5, output: 40, per_image: 0.04, per_audio_second: 0.0001 };
    const images = { model: "gpt-image-1", units: { kind: "per_image" as const, count: 2 } };
    const usage = readMeteredUsage({ input_tokens: 100, output_tokens: 4160, total_tokens: 4260 });
    expect(meteredCost(price, images, usage, 9)).toMatchObject({ cost: 100 * 5000 + 4160 * 40_000, source: "upstream" });
    expect(meteredCost(price, images, readMeteredUsage(undefined), 9)).toMatchObject({ cost: 80_000_000, source: "estimated" });
    const duration = readMeteredUsage({ type: "duration", seconds: 60 });
    expect(meteredCost(price, { model: "whisper-1", units: undefined }, duration, 9)).toMatchObject({ cost: 6_000_000, source: "upstream" });
    expect(meteredCost(undefined, images, usage, 9)).toMatchObject({ cost: 9, source: "held" });
  });

  it("finds the last usage object at the end of a streamed answer", () => {
    const tail = new UsageTail();
    const body = JSON.stringify({ data: [{ b64_json: "A".repeat(600_000) }], note: 'a "usage": {"x": 1} in text', usage: { input_tokens: 7, output_tokens: 9, details: { s: "}{" } } });
    for (let i = 0; i < body.length; i += 4096) tail.push(body.slice(i, i + 4096));
    expect(tail.usage()).toEqual({ input_tokens: 7, output_tokens: 9, details: { s: "}{" } });
    const sse = new UsageTail();
    sse.push('event: transcript.text.done\ndata: {"type":"transcript.text.done","text":"hi","usage":{"type":"tokens","input_tokens":3,"output_tokens":2}}\n\n');
    expect(sse.usage()).toMatchObject({ input_tokens: 3 });
    const none = new UsageTail();
    none.push('{"usage": {"cut": ');
    expect(none.usage()).toBeUndefined();
  });
});
