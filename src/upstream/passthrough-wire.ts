import { ProxyError } from "../errors.js";
import { forwardedClientHeaders, type UpstreamReply } from "./client.js";
import type { SecretMasker } from "./secrets.js";

/**
 * The wire of a pass-through call: which request headers go upstream, which answer headers come
 * back, and the answer's body on its way to the client, masked for secrets when it is text.
 */

/**
 * Request headers a pass-through call carries upstream besides the upstream's `forward_headers`
 * (the client's Authorization never does).
 */
const FORWARDED_REQUEST = ["content-type", "content-length", "accept"];
/** Upstream answer headers passed back; any other (organization, project, cookies) stays behind. */
const PASSED_ANSWER = new Set([
  "content-type",
  "content-disposition",
  "cache-control",
  "etag",
  "last-modified",
  "retry-after",
  "retry-after-ms",
  "openai-processing-ms",
  "openai-version",
  ...["limit-requests", "remaining-requests", "reset-requests", "limit-tokens", "remaining-tokens", "reset-tokens"].map((h) => `x-ratelimit-${h}`),
]);
export function forwardedHeaders(header: (name: string) => string | undefined, forward: readonly string[]): Record<string, string> {
  // Identity encoding: every byte of the answer is read for secrets before it leaves.
  return { "accept-encoding": "identity", ...forwardedClientHeaders([...FORWARDED_REQUEST, ...forward], header) };
}

export function answerHeaders(reply: UpstreamReply, requestId: string): Headers {
  const out = new Headers({ "x-request-id": requestId });
  for (const [name, value] of Object.entries(reply.headers)) {
    if (value === undefined) continue;
    if (name === "x-request-id") out.set("x-upstream-request-id", String(value));
    else if (PASSED_ANSWER.has(name)) for (const v of [value].flat()) out.append(name, v);
  }
  return out;
}

/** The largest answer read whole to check it (lists, new objects); larger ones are refused, never passed unchecked. */
const WHOLE_LIMIT = 32 * 1024 * 1024;

export async function readWhole(reply: UpstreamReply): Promise<string> {
  using read = reply;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of read.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > WHOLE_LIMIT) {
      read.body.destroy();
      throw new ProxyError("upstream_stream_broken", "The upstream's answer is too large to check for the objects it shows.");
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * The upstream's body on its way to the client, masked when it is text and watched for usage;
 * `ended` says whether it arrived whole (false: the client left, or the upstream broke off).
 */
export function passBody(reply: UpstreamReply, masker: SecretMasker | undefined, tail: { push(text: string): void } | undefined): { stream: ReadableStream<Uint8Array>; ended: Promise<boolean> } {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const chunks = (reply.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let settle!: (complete: boolean) => void;
  const ended = new Promise<boolean>((resolve) => (settle = resolve));
  let over = false;
  const finish = (complete: boolean) => {
    if (over) return;
    over = true;
    reply.done();
    settle(complete);
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Until something can be handed on: a chunk the masker holds back entirely asks for the next.
        for (;;) {
          const { value, done } = await chunks.next();
          if (done) {
            const rest = masker ? decoder.decode() : "";
            tail?.push(rest);
            const last = masker ? masker.push(rest) + masker.end() : "";
            if (last) controller.enqueue(encoder.encode(last));
            controller.close();
            finish(true);
            return;
          }
          if (!masker) {
            controller.enqueue(value);
            return;
          }
          const text = decoder.decode(value, { stream: true });
          tail?.push(text);
          const out = masker.push(text);
          if (out) {
            controller.enqueue(encoder.encode(out));
            return;
          }
        }
      } catch (err) {
        finish(false);
        controller.error(err);
      }
    },
    cancel() {
      reply.body.destroy();
      finish(false);
    },
  });
  return { stream, ended };
}

