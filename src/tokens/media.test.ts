import { describe, expect, it } from "vitest";
import { pngDataUrl, wavBase64 } from "../../test/support/media.js";
import { audioSeconds, dataUrlImageSize, DEFAULT_IMAGE_FORMULA, imageFormulaFor, imageSize, imageTokens, inputAudioTokens } from "./media.js";

describe("image tokens, as OpenAI's formulas bill them", () => {
  const tiles = DEFAULT_IMAGE_FORMULA;

  it("counts 512px tiles after fitting 2048 and a 768 shorter side", () => {
    // OpenAI's own examples: 1024×1024 high detail is 765 tokens; 2048×4096 is 1105.
    expect(imageTokens(tiles, 1024, 1024, "high")).toBe(765);
    expect(imageTokens(tiles, 2048, 4096, "high")).toBe(1105);
    expect(imageTokens(tiles, 768, 2048, "auto")).toBe(85 + 170 * 8);
    expect(imageTokens(tiles, 300, 200, "high")).toBe(85 + 170);
    expect(imageTokens(tiles, 4000, 4000, "low")).toBe(85);
  });

  it("holds an image of unknown size at the most tiles a high-detail image can have", () => {
    expect(imageTokens(tiles, undefined, undefined, undefined)).toBe(1445);
    expect(imageTokens(imageFormulaFor("gpt-4.1-mini"), undefined, undefined, "high")).toBe(Math.ceil(1536 * 1.62));
  });

  it("counts 32px patches, at most 1536, for the patch models", () => {
    const mini = imageFormulaFor("gpt-4.1-mini-2025-04-14");
    // OpenAI's example: 1024×1024 is 1024 patches; 1800×2400 is scaled down to 1452.
    expect(imageTokens(mini, 1024, 1024, "high")).toBe(Math.ceil(1024 * 1.62));
    expect(imageTokens(mini, 1800, 2400, "high")).toBe(Math.ceil(1452 * 1.62));
  });

  it("knows each family's formula by its model id", () => {
    expect(imageFormulaFor("gpt-4o-mini").id).toBe("tiles-2833-5667");
    expect(imageFormulaFor("gpt-4o").id).toBe("tiles-85-170");
    expect(imageFormulaFor("gpt-5").id).toBe("tiles-70-140");
    expect(imageFormulaFor("o3").id).toBe("tiles-75-150");
    expect(imageFormulaFor("o3-mini").id).toBe("tiles-85-170");
    expect(imageFormulaFor("o4-mini").id).toBe("patches-1.72");
    expect(imageFormulaFor("someone-elses-model").id).toBe("tiles-85-170");
  });

  it("reads the size of PNG, GIF, JPEG and WebP headers", () => {
    expect(dataUrlImageSize(pngDataUrl(640, 480))).toEqual({ width: 640, height: 480 });
    const gif = Buffer.from("GIF89a\x20\x03\x58\x02", "latin1");
    expect(imageSize(gif)).toEqual({ width: 800, height: 600 });
    // SOI, an APP0 segment of 16 bytes, then SOF0 with height 300 and width 400.
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...new Array(14).fill(0), 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x2c, 0x01, 0x90, 0x03]);
    expect(imageSize(jpeg)).toEqual({ width: 400, height: 300 });
    const webp = Buffer.alloc(30);
    webp.write("RIFF", 0, "latin1");
    webp.write("WEBPVP8X", 8, "latin1");
    webp.writeUIntLE(1919, 24, 3);
    webp.writeUIntLE(1079, 27, 3);
    expect(imageSize(webp)).toEqual({ width: 1920, height: 1080 });
    expect(dataUrlImageSize("https://example.com/a.png")).toBeUndefined();
    expect(dataUrlImageSize("data:image/png;base64,bm90IGFuIGltYWdl")).toBeUndefined();
  });
});

describe("audio tokens", () => {
  it("reads a WAV's duration from its header: 10 input tokens a second", () => {
    expect(audioSeconds(wavBase64(60), "wav")).toBeCloseTo(60, 6);
    expect(inputAudioTokens({ data: wavBase64(60), format: "wav" })).toBe(600);
    expect(inputAudioTokens({ data: wavBase64(1.5, 16_000), format: "wav" })).toBe(15);
  });

  it("holds compressed audio at 32 kbit/s and pcm16 at 24 kHz", () => {
    const fourKb = Buffer.alloc(4000).toString("base64");
    expect(audioSeconds(fourKb, "mp3")).toBeCloseTo(1, 6);
    expect(audioSeconds(Buffer.alloc(48_000).toString("base64"), "pcm16")).toBeCloseTo(1, 6);
    expect(inputAudioTokens({ data: 42 })).toBe(0);
  });
});
