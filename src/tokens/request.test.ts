import { describe, expect, it } from "vitest";
import type { ChatBody } from "../request/parse.js";
import { countTextTokens } from "./count.js";
import { countMessagesTokens, IMAGE_TOKENS, LOW_DETAIL_IMAGE_TOKENS } from "./messages.js";
import { wavBase64 } from "../../test/support/media.js";
import { countChatRequest, sizeFloorTokens, sum } from "./request.js";

const ENC = "o200k_base";
const base: ChatBody = { model: "auto", messages: [{ role: "user", content: "hi" }] };
const text = "a description the upstream reads and bills ".repeat(200);

async function extra(fields: Record<string, unknown>): Promise<number> {
  const plain = await countChatRequest(base, ENC);
  const withFields = await countChatRequest({ ...base, ...fields }, ENC);
  return sum(withFields.messages) + withFields.fixed - (sum(plain.messages) + plain.fixed);
}

describe("countChatRequest counts every part of the body the upstream bills", () => {
  const tokens = () => countTextTokens(text, ENC);
  it.each([
    ["functions", { functions: [{ name: "f", description: text }] }],
    ["tools", { tools: [{ type: "function", function: { name: "f", description: text } }] }],
    ["tool_choice", { tool_choice: { type: "function", function: { name: text } } }],
    ["a response_format schema", { response_format: { type: "json_schema", json_schema: { name: "s", schema: { description: text } } } }],
    ["a field added after this code was written", { some_new_field: text }],
  ])("%s", async (_, fields) => {
    expect(await extra(fields)).toBeGreaterThanOrEqual(await tokens());
  });

  it("ignores settings the upstream does not bill", async () => {
    expect(await extra({ temperature: 0.5, max_tokens: 10, user: text, metadata: { note: text }, stream: true })).toBe(0);
  });

  it("counts a prediction as output it may bill", async () => {
    const counted = await countChatRequest({ ...base, prediction: { type: "content", content: text } }, ENC);
    expect(counted.prediction).toBe(await tokens());
  });

  it("prices every kind of content part", async () => {
    const parts = async (content: unknown[]) => (await countMessagesTokens([{ role: "user", content }], ENC))[0]!;
    const empty = await parts([]);
    expect((await parts([{ type: "image_url", image_url: { url: "https://x/y.png" } }])) - empty).toBe(IMAGE_TOKENS);
    expect((await parts([{ type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } }])) - empty).toBe(LOW_DETAIL_IMAGE_TOKENS);
    // Audio by its duration, 10 tokens a second: a 2 s WAV read from its header.
    expect((await parts([{ type: "input_audio", input_audio: { data: wavBase64(2), format: "wav" } }])) - empty).toBe(20);
    // Compressed audio whose header is not read: held at 32 kbit/s, longer than it can be.
    expect((await parts([{ type: "input_audio", input_audio: { data: "A".repeat(16_000), format: "mp3" } }])) - empty).toBe(30);
    expect((await parts([{ type: "file", file: { file_data: "A".repeat(32_000) } }])) - empty).toBe(2000);
    expect((await parts([{ type: "refusal", refusal: text }])) - empty).toBe(await tokens());
    expect((await parts([{ type: "a_future_part", payload: text }])) - empty).toBeGreaterThanOrEqual(await tokens());
  });
});

describe("sizeFloorTokens", () => {
  it("is never below what the body's size implies, binary payloads aside", () => {
    expect(sizeFloorTokens(6_000, base)).toBe(1000);
    const image = `data:image/png;base64,${"A".repeat(60_000)}`;
    const withImage: ChatBody = { ...base, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: image } }] }] };
    expect(sizeFloorTokens(60_600, withImage)).toBeLessThan(200);
  });
});

describe("counting a huge prompt", () => {
  it("yields to the event loop while it counts a hundred thousand messages", async () => {
    const messages = Array.from({ length: 100_000 }, (_, i) => ({ role: "user", content: `message number ${i} of a very long conversation` }));
    let ticks = 0;
    let counting = true;
    const tick = () => {
      ticks++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const counts = await countMessagesTokens(messages, ENC);
    counting = false;
    expect(counts).toHaveLength(100_000);
    // Others got turns while it counted: the loop was never held for the whole count.
    expect(ticks).toBeGreaterThan(5);
  });
});
