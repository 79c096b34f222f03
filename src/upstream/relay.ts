import { ProxyError } from "../errors.js";
import { readUsage } from "../pricing/cost.js";
import type { Outcome } from "../usage/account.js";
import { StreamAccountant } from "../usage/stream.js";
import type { UpstreamReply } from "./client.js";
import { sseEvent } from "./sse.js";

/** Headers of an upstream error worth passing on to the client. */
const PASSED_ERROR_HEADERS = ["retry-after", "retry-after-ms", "x-request-id", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"];

export function passedErrorHeaders(reply: UpstreamReply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASSED_ERROR_HEADERS) {
    const value = reply.headers[name];
    if (typeof value === "string") out[name] = value;
  }
  return out;
}

/**
 * Reads a whole (non-streamed) upstream answer and what it says about usage. `replayable` says
 * whether a stream replayed from it could carry everything (no legacy function_call, no logprobs).
 */
export async function readJsonAnswer(reply: UpstreamReply): Promise<{ text: string; outcome: Outcome; replayable: boolean }> {
  let text: string;
  try {
    text = await reply.body.text();
  } finally {
    reply.done();
  }
  let parsed: { usage?: unknown; choices?: Array<{ message?: { content?: unknown; tool_calls?: unknown; function_call?: unknown }; logprobs?: unknown }> } | undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const usage = readUsage(parsed?.usage);
  const outputText: string[] = [];
  if (!usage && Array.isArray(parsed?.choices)) {
    for (const choice of parsed.choices) {
      if (typeof choice?.message?.content === "string") outputText.push(choice.message.content);
      if (choice?.message?.tool_calls !== undefined) outputText.push(JSON.stringify(choice.message.tool_calls));
    }
  }
  const replayable = Array.isArray(parsed?.choices) && parsed.choices.every((c) => c?.message?.function_call == null && c?.logprobs == null);
  return { text, outcome: { status: reply.status, usage, outputText }, replayable };
}

export interface StreamRelayOptions {
  clientWantsUsage: boolean;
  /** Sees every parsed chunk (the response cache assembles the answer from them). */
  onChunk?: (chunk: Record<string, unknown>) => void;
  /** Called once when the stream is over, however it ended; its promise is awaited before the client's stream closes. */
  onEnd: (outcome: Outcome) => Promise<void>;
}

/**
 * Streams an upstream SSE answer to the client as it arrives, pull by pull, so backpressure
 * reaches the upstream. The upstream is aborted when the client goes away; a stream that ends
 * without `[DONE]` or breaks becomes an error event, never a clean end.
 */
export function relayStream(reply: UpstreamReply, options: StreamRelayOptions): ReadableStream<Uint8Array> {
  const accountant = new StreamAccountant(options.clientWantsUsage, options.onChunk);
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const chunks = reply.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let ended = false;

  const end = async (status: number) => {
    if (ended) return;
    ended = true;
    reply.done();
    await options.onEnd({ status, usage: accountant.usage, outputText: accountant.outputText });
  };

  const brokenEvent = (message: string) =>
    encoder.encode(sseEvent(JSON.stringify(new ProxyError("upstream_stream_broken", message).toBody())));

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const next = await chunks.next();
          if (next.done) {
            const tail = accountant.flush() + decoder.decode();
            if (tail.trim()) controller.enqueue(encoder.encode(tail));
            if (accountant.sawDone) {
              await end(200);
            } else {
              controller.enqueue(brokenEvent("the upstream stream ended before it was complete"));
              await end(502);
            }
            controller.close();
            return;
          }
          const out = accountant.transform(decoder.decode(next.value, { stream: true }));
          if (out) {
            controller.enqueue(encoder.encode(out));
            return;
          }
        }
      } catch {
        if (ended) return;
        controller.enqueue(brokenEvent("the upstream connection broke during the stream"));
        await end(502);
        controller.close();
      }
    },
    async cancel() {
      // The client went away: stop the upstream generating (and billing) more.
      reply.body.destroy();
      await end(499);
    },
  });
}
