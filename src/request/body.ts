import { ProxyError } from "../errors.js";

/** Reading a request body that streams in: bounded, whole when needed, multipart fields from its bytes. */

/** A multipart body's text field, read from its bytes (the part named `name`, up to 4 KiB). */
export function multipartField(bytes: Buffer, boundary: string): (name: string) => string | undefined {
  return (name) => {
    const at = bytes.indexOf(`name="${name}"`);
    if (at < 0) return undefined;
    const start = bytes.indexOf("\r\n\r\n", at);
    const end = start < 0 ? -1 : bytes.indexOf(`\r\n--${boundary}`, start + 4);
    if (end < 0 || end - start > 4096) return undefined;
    return bytes.subarray(start + 4, end).toString("utf8");
  };
}

export async function collect(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of limitStream(body, limit)) parts.push(chunk);
  return Buffer.concat(parts);
}

/** The body as it streams in, failing once it passes `limit` bytes. */
export async function* limitStream(body: ReadableStream<Uint8Array>, limit: number): AsyncIterable<Uint8Array> {
  let seen = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    seen += chunk.byteLength;
    if (seen > limit) throw new ProxyError("request_too_large", `The request body is larger than the limit of ${Math.round(limit / 1024 / 1024)} MB for this endpoint.`);
    yield chunk;
  }
}
