import { randomUUID } from "node:crypto";
import type { UpstreamClient } from "../upstream/client.js";

/** The provider's files and batches as JSON calls, for the batch command (provider.ts). */

export async function upstreamJson(services: { upstream: Pick<UpstreamClient, "forward"> }, upstream: string, method: string, path: string, body?: { json: unknown } | { bytes: Uint8Array; type: string }): Promise<Record<string, any>> {
  const headers: Record<string, string> = {};
  let payload: Uint8Array | undefined;
  if (body && "json" in body) {
    headers["content-type"] = "application/json";
    payload = new TextEncoder().encode(JSON.stringify(body.json));
  } else if (body) {
    headers["content-type"] = body.type;
    payload = body.bytes;
  }
  using reply = await services.upstream.forward({ upstream, method, path, headers, body: payload, signal: new AbortController().signal });
  const text = await reply.body.text();
  if (reply.status >= 400) throw new Error(`${method} ${path} on upstream ${upstream} answered ${reply.status}: ${text.slice(0, 300)}`);
  return path.endsWith("/content") ? { text } : (JSON.parse(text) as Record<string, any>);
}

export function multipart(fields: Record<string, string>, file: { name: string; content: string }): { bytes: Uint8Array; type: string } {
  const boundary = `tollgate-${randomUUID()}`;
  let text = "";
  for (const [name, value] of Object.entries(fields)) text += `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  text += `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: application/jsonl\r\n\r\n${file.content}\r\n--${boundary}--\r\n`;
  return { bytes: new TextEncoder().encode(text), type: `multipart/form-data; boundary=${boundary}` };
}

