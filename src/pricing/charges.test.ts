import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../config/schema.js";
import { testConfig } from "../../test/support/proxy.js";
import { readUsage, tierMultiplier, usageCost } from "./cost.js";
import { extraPrices } from "./catalogue.js";
import { affordableOutput, NO_EXTRAS, requestCost } from "./estimate.js";
import { resolveModels } from "../config/resolve.js";

/** gpt-4o-audio-preview as OpenAI prices it: text 2.5 / 10, audio 40 / 80 USD per 1M tokens. */
const audio: ModelConfig = {
  ...testConfig("http://upstream.test/v1").models["gpt-4o"]!,
  price: { input: 2.5, cached_input: 1.25, output: 10, input_audio: 40, cached_audio: 2.5, output_audio: 80, web_search: 0.01, per_request: 0.001 },
};

describe("what a usage costs beyond text tokens", () => {
  it("reads audio, cached audio and reasoning tokens from the usage's details", () => {
    const usage = readUsage({
      prompt_tokens: 700,
      completion_tokens: 300,
      prompt_tokens_details: { cached_tokens: 100, audio_tokens: 600, cached_tokens_details: { audio_tokens: 50 } },
      completion_tokens_details: { audio_tokens: 200, reasoning_tokens: 40 },
    });
    expect(usage).toEqual({ promptTokens: 700, cachedTokens: 100, completionTokens: 300, audioInputTokens: 600, cachedAudioTokens: 50, audioOutputTokens: 200, reasoningTokens: 40 });
    expect(readUsage({ input_tokens: 10, output_tokens: 5, output_tokens_details: { reasoning_tokens: 3 } })).toEqual({ promptTokens: 10, cachedTokens: 0, completionTokens: 5, reasoningTokens: 3 });
  });

  it("prices audio tokens at the audio prices, the rest at the text ones", () => {
    const usage = { promptTokens: 700, cachedTokens: 100, completionTokens: 300, audioInputTokens: 600, cachedAudioTokens: 50, audioOutputTokens: 200 };
    // text in 50 × 2.5, cached text 50 × 1.25, audio in 550 × 40, cached audio 50 × 2.5, text out 100 × 10, audio out 200 × 80; plus the call's fee.
    const tokens = 50 * 2.5 + 50 * 1.25 + 550 * 40 + 50 * 2.5 + 100 * 10 + 200 * 80;
    expect(usageCost(audio, usage, { requests: 1 })).toBe(Math.round(tokens * 1000) + 1_000_000);
    expect(usageCost(audio, usage, { requests: 0 })).toBe(Math.round(tokens * 1000));
  });

  it("multiplies token prices by the service tier, and adds each web search's fee", () => {
    const usage = { promptTokens: 1000, cachedTokens: 0, completionTokens: 1000 };
    const standard = usageCost(audio, usage, { requests: 0 });
    expect(usageCost(audio, usage, { requests: 0, serviceTier: "priority" })).toBe(2 * standard);
    expect(usageCost(audio, usage, { requests: 0, serviceTier: "flex" })).toBe(standard / 2);
    expect(usageCost(audio, usage, { requests: 0, serviceTier: "default" })).toBe(standard);
    expect(usageCost(audio, usage, { requests: 0, webSearches: 3 })).toBe(standard + 30_000_000);
    expect(tierMultiplier({ input: 1, output: 1, service_tiers: { priority: 1.75 } }, "priority")).toBe(1.75);
  });
});

describe("what a request is held for beyond text tokens", () => {
  const extras = { ...NO_EXTRAS, audioInput: 600 };

  it("holds input audio at its price and an audio answer at the dearer output price", () => {
    expect(requestCost(audio, 1000, 0, 1, extras) - requestCost(audio, 1000, 0, 1)).toBe(600 * (40 - 2.5) * 1000);
    expect(requestCost(audio, 0, 1000, 1, { ...NO_EXTRAS, audioOutput: true }) - 1_000_000).toBe(80 * 1_000_000);
  });

  it("holds web searches at their fee and search content, times the tier", () => {
    const plain = requestCost(audio, 1000, 1000, 1);
    const searched = requestCost(audio, 1000, 1000, 1, { ...NO_EXTRAS, webSearches: 2, searchTokens: 8000 });
    expect(searched - plain).toBe(2 * 10_000_000 + 16_000 * 2.5 * 1000);
    expect(requestCost(audio, 1000, 1000, 1, { ...NO_EXTRAS, serviceTier: "priority" })).toBe(2 * (plain - 1_000_000) + 1_000_000);
  });

  it("caps the output so the whole worst case, extras included, fits the room", () => {
    const priority = { ...NO_EXTRAS, serviceTier: "priority", audioOutput: true };
    const room = 50_000_000;
    const tokens = affordableOutput(audio, 1000, 1, room, priority);
    expect(requestCost(audio, 1000, tokens, 1, priority)).toBeLessThanOrEqual(room);
    expect(requestCost(audio, 1000, tokens + 1, 1, priority)).toBeGreaterThan(room);
  });
});

describe("the catalogue's prices beyond text tokens", () => {
  it("maps audio prices and fees per thousand to tollgate's names", () => {
    expect(extraPrices({ input_mtok: 4, input_audio_mtok: 32, output_audio_mtok: 64, cache_audio_read_mtok: 0.4, web_searches_kcount: 10, requests_kcount: 5 })).toEqual({
      input_audio: 32,
      output_audio: 64,
      cached_audio: 0.4,
      web_search: 0.01,
      per_request: 0.005,
    });
  });

  it("fills what a configured price leaves out from the catalogue, never its token rates", () => {
    const resolved = resolveModels({
      upstreams: { openai: { base_url: "https://api.openai.com/v1", api_key: "", timeout_ms: 1000, connect_timeout_ms: 1000, max_in_flight: 1, max_queued: 1, forward_headers: [] } },
      models: { realtime: { upstream: "openai", upstream_model: "gpt-realtime", tier: "premium", price: { input: 5, output: 20, input_audio: 30 }, reasoning: false, drop_params: [], kind: "chat" } },
    });
    const price = resolved.models.realtime!.price;
    expect(price).toMatchObject({ input: 5, output: 20, input_audio: 30 });
    // The configured audio input wins; the catalogue's audio output and cached audio fill the gaps.
    expect(price.output_audio).toBeGreaterThan(0);
    expect(price.cached_audio).toBeGreaterThan(0);
    expect(price.cached_input).toBeUndefined();
  });
});
