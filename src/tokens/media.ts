/**
 * Tokens of what a prompt holds besides text, as OpenAI bills it: images by their size and detail
 * (tiles or patches, by model), audio by its duration. Sizes and durations are read from the
 * payload's own header when it is inline (a data URL, base64 audio); what cannot be read is held at
 * its worst case, and the settle corrects it from the answer's usage.
 */

/** How a model turns an image into tokens. */
export type ImageFormula =
  /** Scaled to fit 2048×2048, then its shorter side to 768; `base` plus `tile` per 512px tile (gpt-4o, gpt-4.1, gpt-5, o1, o3). */
  | { kind: "tiles"; id: string; base: number; tile: number }
  /** 32px patches, at most 1536 of them, times a multiplier (gpt-4.1-mini and -nano, gpt-5-mini and -nano, o4-mini). */
  | { kind: "patches"; id: string; multiplier: number };

const tiles = (id: string, base: number, tile: number): ImageFormula => ({ kind: "tiles", id, base, tile });
const patches = (id: string, multiplier: number): ImageFormula => ({ kind: "patches", id, multiplier });

/** gpt-4o's tiles: the formula of a model this table does not know. */
export const DEFAULT_IMAGE_FORMULA = tiles("tiles-85-170", 85, 170);

/** OpenAI's published image formulas, by the model id's start (first match wins). */
const IMAGE_FORMULAS: Array<[RegExp, ImageFormula]> = [
  [/^gpt-4o-mini/, tiles("tiles-2833-5667", 2833, 5667)],
  [/^(gpt-4\.1-mini|gpt-5-mini)/, patches("patches-1.62", 1.62)],
  [/^(gpt-4\.1-nano|gpt-5-nano)/, patches("patches-2.46", 2.46)],
  [/^o4-mini/, patches("patches-1.72", 1.72)],
  [/^gpt-5/, tiles("tiles-70-140", 70, 140)],
  [/^(o1|o3)(?!-mini)/, tiles("tiles-75-150", 75, 150)],
  [/^computer-use/, tiles("tiles-65-129", 65, 129)],
];

/** The image formula of a model, by the id the upstream is sent. */
export function imageFormulaFor(upstreamModel: string): ImageFormula {
  return IMAGE_FORMULAS.find(([pattern]) => pattern.test(upstreamModel))?.[1] ?? DEFAULT_IMAGE_FORMULA;
}

const MAX_PATCHES = 1536;

/**
 * Tokens of one image of `width`×`height` (undefined: unknown, held at the formula's worst case) at
 * `detail` ("low" costs the base only; "high" and "auto" are held as high).
 */
export function imageTokens(formula: ImageFormula, width: number | undefined, height: number | undefined, detail: unknown): number {
  if (formula.kind === "patches") {
    if (width === undefined || height === undefined) return Math.ceil(MAX_PATCHES * formula.multiplier);
    return Math.ceil(patchCount(width, height) * formula.multiplier);
  }
  if (detail === "low") return formula.base;
  if (width === undefined || height === undefined) return formula.base + formula.tile * 8;
  let w = width;
  let h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shorter = Math.min(w, h);
  if (shorter > 768) {
    w = (w * 768) / shorter;
    h = (h * 768) / shorter;
  }
  return formula.base + formula.tile * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** 32px patches covering the image, scaled down to fit MAX_PATCHES when it needs more. */
function patchCount(width: number, height: number): number {
  const whole = Math.ceil(width / 32) * Math.ceil(height / 32);
  if (whole <= MAX_PATCHES) return whole;
  let scale = Math.sqrt((32 * 32 * MAX_PATCHES) / (width * height));
  // Whole patches along the narrower fit: shrink until the width fits a whole number of them.
  scale *= Math.min(Math.floor((width * scale) / 32) / ((width * scale) / 32), Math.floor((height * scale) / 32) / ((height * scale) / 32));
  return Math.min(MAX_PATCHES, Math.ceil((width * scale) / 32) * Math.ceil((height * scale) / 32));
}

/** Decodes the first `chars` characters of base64 (a header is all that is read). */
function base64Head(data: string, chars: number): Buffer {
  return Buffer.from(data.slice(0, chars - (chars % 4)), "base64");
}

/** Bytes `data` (base64) decodes to. */
export function base64Bytes(data: string): number {
  let padding = 0;
  if (data.endsWith("==")) padding = 2;
  else if (data.endsWith("=")) padding = 1;
  return Math.floor((data.length * 3) / 4) - padding;
}

/** The width and height a PNG, GIF, WebP or JPEG header gives; undefined for anything else. */
export function imageSize(bytes: Buffer): { width: number; height: number } | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString("latin1", 12, 16) === "IHDR") {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 10 && bytes.toString("latin1", 0, 4) === "GIF8") return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  if (bytes.length >= 30 && bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP") {
    const chunk = bytes.toString("latin1", 12, 16);
    if (chunk === "VP8 ") return { width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
    if (chunk === "VP8L") {
      const bits = bytes.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8X") return { width: bytes.readUIntLE(24, 3) + 1, height: bytes.readUIntLE(27, 3) + 1 };
    return undefined;
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  return undefined;
}

/** A JPEG's size, from its first start-of-frame marker. */
function jpegSize(bytes: Buffer): { width: number; height: number } | undefined {
  let at = 2;
  while (at + 9 < bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    // Start of frame: every SOFn but the huffman (C4), arithmetic-coding (CC) and JPG (C8) markers.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: bytes.readUInt16BE(at + 5), width: bytes.readUInt16BE(at + 7) };
    }
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  return undefined;
}

/** Base64 characters read for an image's header: a JPEG's frame marker can follow 64 KB of metadata. */
const IMAGE_HEAD_CHARS = 96 * 1024;

/** The size of an image given as a data URL; undefined for a remote one or an unreadable header. */
export function dataUrlImageSize(url: string): { width: number; height: number } | undefined {
  if (!url.startsWith("data:")) return undefined;
  const comma = url.indexOf(",");
  if (comma < 0 || !url.slice(0, comma).endsWith(";base64")) return undefined;
  return imageSize(base64Head(url.slice(comma + 1, comma + 1 + IMAGE_HEAD_CHARS), IMAGE_HEAD_CHARS));
}

/** Audio tokens per second, as OpenAI bills them: 1 per 100 ms of input, 1 per 50 ms of output. */
export const AUDIO_INPUT_TOKENS_PER_SECOND = 10;
export const AUDIO_OUTPUT_TOKENS_PER_SECOND = 20;

/**
 * Bytes per second assumed for compressed audio whose header is not read (mp3, ogg...): 32 kbit/s,
 * low for speech, so the duration held is at least the real one.
 */
const COMPRESSED_BYTES_PER_SECOND = 4000;
/** Raw 16-bit PCM at 24 kHz mono, the format OpenAI's `pcm16` means. */
const PCM16_BYTES_PER_SECOND = 48_000;

/** A WAV file's duration from its `fmt ` and `data` chunks; undefined when they are not found. */
export function wavSeconds(bytes: Buffer, totalBytes: number): number | undefined {
  if (bytes.length < 12 || bytes.toString("latin1", 0, 4) !== "RIFF" || bytes.toString("latin1", 8, 12) !== "WAVE") return undefined;
  let at = 12;
  let byteRate: number | undefined;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString("latin1", at, at + 4);
    const size = bytes.readUInt32LE(at + 4);
    if (id === "fmt " && at + 16 <= bytes.length) byteRate = bytes.readUInt32LE(at + 16);
    if (id === "data") {
      if (!byteRate) return undefined;
      // A streamed WAV may give no size (0 or 0xFFFFFFFF): the rest of the payload is its data.
      const dataBytes = size === 0 || size === 0xffffffff ? totalBytes - at - 8 : Math.min(size, totalBytes - at - 8);
      return Math.max(0, dataBytes) / byteRate;
    }
    at += 8 + size + (size % 2);
  }
  return undefined;
}

/** Seconds of base64 audio in `format` ("wav", "mp3", "pcm16"...), from its header when it has one. */
export function audioSeconds(data: string, format: unknown): number {
  const bytes = base64Bytes(data);
  if (format === "pcm16") return bytes / PCM16_BYTES_PER_SECOND;
  const wav = format === "wav" || format === undefined ? wavSeconds(base64Head(data, 4096), bytes) : undefined;
  return wav ?? bytes / COMPRESSED_BYTES_PER_SECOND;
}

/** Input audio tokens of an `input_audio` part: its duration at 10 tokens a second. */
export function inputAudioTokens(audio: { data?: unknown; format?: unknown } | undefined): number {
  if (typeof audio?.data !== "string") return 0;
  return Math.ceil(audioSeconds(audio.data, audio.format) * AUDIO_INPUT_TOKENS_PER_SECOND);
}
