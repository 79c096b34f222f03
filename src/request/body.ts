import { ProxyError } from "../errors.js";

/** Reading a request body that streams in: bounded, whole when needed, a multipart body's text fields. */

/** The media type of a Content-Type header, lower-cased, without its parameters (`application/json`). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

export function isJsonType(type: string): boolean {
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

/** The `boundary` parameter of a multipart Content-Type. */
export function multipartBoundary(contentType: string): string | undefined {
  return /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType)?.slice(1).find((b) => b !== undefined);
}

const TEXT_FIELD_BYTES = 64 * 1024;

/**
 * The text fields of a multipart/form-data body (parts without a filename), by name, parsed part by
 * part as the upstream reads them. A field named twice, or a body that is not well-formed multipart,
 * is a 400: what is checked must be what the upstream reads.
 */
export function multipartFields(bytes: Buffer, boundary: string): Map<string, string> {
  const fields = new Map<string, string>();
  const delimiter = Buffer.from(`--${boundary}`);
  let at = bytes.indexOf(delimiter);
  if (at < 0) throw malformed("no boundary");
  for (;;) {
    at += delimiter.length;
    if (bytes.subarray(at, at + 2).toString("latin1") === "--") return fields;
    if (bytes.subarray(at, at + 2).toString("latin1") !== "\r\n") throw malformed("a boundary not followed by a line end");
    const headersEnd = bytes.indexOf("\r\n\r\n", at + 2);
    if (headersEnd < 0) throw malformed("a part without headers");
    const next = bytes.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4);
    if (next < 0) throw malformed("a part without its closing boundary");
    const disposition = bytes
      .subarray(at + 2, headersEnd)
      .toString("latin1")
      .split("\r\n")
      .find((line) => /^content-disposition\s*:/i.test(line));
    const name = disposition && param(disposition, "name");
    if (name === undefined) throw malformed("a part without a name");
    if (param(disposition!, "filename") === undefined) {
      if (fields.has(name)) throw new ProxyError("invalid_request", `The multipart field '${name}' is given more than once.`, name);
      if (next - headersEnd - 4 > TEXT_FIELD_BYTES) throw new ProxyError("invalid_request", `The multipart field '${name}' is too long.`, name);
      fields.set(name, bytes.subarray(headersEnd + 4, next).toString("utf8"));
    }
    at = next + 2;
  }
}

/** A parameter of a Content-Disposition header (`name="model"` or `name=model`), never part of another one's name. */
function param(header: string, key: string): string | undefined {
  const match = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, "i").exec(header);
  return match ? (match[1] ?? match[2]) : undefined;
}

function malformed(what: string): ProxyError {
  return new ProxyError("invalid_request", `The multipart body is malformed: ${what}.`);
}

export async function collect(body: ReadableStream<Uint8Array>, limit: number): Promise<Buffer> {
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
