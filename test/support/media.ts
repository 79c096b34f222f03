/**
 * Media payloads for tests, built byte by byte: a WAV of a given duration, a PNG header of a given
 * size (what tollgate reads of an image is its header; the upstream fakes bill by the same size).
 */

/** A 16-bit mono PCM WAV of `seconds` at `rate` Hz, base64. */
export function wavBase64(seconds: number, rate = 24_000): string {
  const data = Math.round(seconds * rate) * 2;
  const bytes = Buffer.alloc(44 + data);
  bytes.write("RIFF", 0, "latin1");
  bytes.writeUInt32LE(36 + data, 4);
  bytes.write("WAVE", 8, "latin1");
  bytes.write("fmt ", 12, "latin1");
  bytes.writeUInt32LE(16, 16);
  bytes.writeUInt16LE(1, 20);
  bytes.writeUInt16LE(1, 22);
  bytes.writeUInt32LE(rate, 24);
  bytes.writeUInt32LE(rate * 2, 28);
  bytes.writeUInt16LE(2, 32);
  bytes.writeUInt16LE(16, 34);
  bytes.write("data", 36, "latin1");
  bytes.writeUInt32LE(data, 40);
  return bytes.toString("base64");
}

/** The signature and IHDR chunk of a `width`×`height` PNG, as a data URL. */
export function pngDataUrl(width: number, height: number): string {
  const bytes = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
  bytes.writeUInt32BE(13, 8);
  bytes.write("IHDR", 12, "latin1");
  bytes.writeUInt32BE(width, 16);
  bytes.writeUInt32BE(height, 20);
  bytes.writeUInt8(8, 24);
  bytes.writeUInt8(6, 25);
  return `data:image/png;base64,${bytes.toString("base64")}`;
}
