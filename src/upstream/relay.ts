import { StringDecoder } from "node:string_decoder";
import { readUsage } from "../pricing/cost.js";
import { answerCharges } from "../usage/charges.js";
import type { Outcome } from "../usage/account.js";
import type { StreamReader } from "../usage/stream.js";
import type { UpstreamReply } from "./client.js";
import type { SecretMasker } from "./secrets.js";
import { RelayBody } from "./relay-body.js";

/** Headers of an upstream error worth passing on to the client, with the name they get. */
const PASSED_ERROR_HEADERS: Array<[from: string, to: string]> = [
  ["retry-after", "retry-after"],
  ["retry-after-ms", "retry-after-ms"],
  // tollgate's own x-request-id stays; the upstream's is kept for support tickets.
  ["x-request-id", "x-upstream-request-id"],
  ...["limit-requests", "remaining-requests", "reset-requests", "limit-tokens", "remaining-tokens", "reset-tokens"].map(
    (h): [string, string] => [`x-ratelimit-${h}`, `x-ratelimit-${h}`],
  ),
];

export function passedErrorHeaders(reply: UpstreamReply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [from, to] of PASSED_ERROR_HEADERS) {
    const value = reply.headers[from];
    if (typeof value === "string") out[to] = value;
  }
  return out;
}

/** Headers of a successful answer passed on: the upstream's request id (beside tollgate's) and its rate limits. */
export function passedAnswerHeaders(reply: UpstreamReply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [from, to] of PASSED_ERROR_HEADERS) {
    const value = reply.headers[from];
    if (typeof value === "string" && (to === "x-upstream-request-id" || to.startsWith("x-ratelimit-"))) out[to] = value;
  }
  return out;
}

interface AnswerLike {
  id?: unknown;
  usage?: unknown;
  output_text?: unknown;
  choices?: Array<{ message?: { content?: unknown; tool_calls?: unknown; function_call?: unknown }; logprobs?: unknown }>;
}

/**
 * Reads a whole (non-streamed) upstream answer and what it says about usage. `replayable` says
 * whether a stream replayed from it could carry everything (no legacy function_call, no logprobs).
 */
export async function readJsonAnswer(reply: UpstreamReply): Promise<{ text: string; outcome: Outcome; replayable: boolean; answer: unknown }> {
  using read = reply;
  const text = await read.body.text();
  let parsed: AnswerLike | undefined;
  try {
    parsed = JSON.parse(text) as AnswerLike;
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
  if (!usage && typeof parsed?.output_text === "string") outputText.push(parsed.output_text);
  const replayable = Array.isArray(parsed?.choices) && parsed.choices.every((c) => c?.message?.function_call == null && c?.logprobs == null);
  const responseId = typeof parsed?.id === "string" ? parsed.id : undefined;
  return { text, outcome: { status: reply.status, usage, outputText, responseId, ...answerCharges(parsed) }, replayable, answer: parsed };
}

export interface StreamRelayOptions {
  /** Reads the stream's dialect: what to forward, usage, whether it ended whole. */
  reader: StreamReader;
  /** Called once when the stream is over, however it ended, after the client's stream is closed. */
  onEnd: (outcome: Outcome) => Promise<void>;
  /** A failure of the relay itself (a bug), for the log. */
  onFailure?: (err: unknown) => void;
  /** Masks secrets in what reaches the client. */
  masker: SecretMasker;
}

/**
 * Bytes of a stream read from the upstream but not yet taken by the client. Reading runs ahead of
 * the client up to this much, so what the upstream sent is counted even when the client reads
 * slowly and then leaves; past it, reading waits and backpressure reaches the upstream.
 */
export const RELAY_BUFFER_BYTES = 1024 * 1024;

/**
 * Streams an upstream SSE answer to the client as it arrives. Every byte read is counted at once,
 * whether or not the client has taken it. When the client goes away, the reply is abandoned: the
 * upstream goes on (and bills) for the drain period, so the relay reads on, forwarding nothing,
 * until the stream ends with its usage or the drain period aborts it. A stream that ends without
 * `[DONE]` or breaks becomes an error event, never a clean end.
 */
export function relayStream(reply: UpstreamReply, options: StreamRelayOptions): RelayBody {
  const accountant = options.reader;
  const masker = options.masker;
  const decoder = new StringDecoder("utf8");
  let ended = false;
  let cancelled = false;
  /** The client had the whole answer when it left (`[DONE]` seen): it got what it asked for. */
  let answeredBeforeLeaving = false;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    wake?.();
    wake = undefined;
  };

  const body = new RelayBody(RELAY_BUFFER_BYTES, {
    pull: wakeUp,
    cancel() {
      cancelled = true;
      answeredBeforeLeaving = accountant.sawEnd;
      // The upstream may go on generating (and billing): the pump reads on for the drain period.
      if (answeredBeforeLeaving) reply.body.destroy();
      else reply.abandon();
      wakeUp();
    },
  });

  const end = async (status: number) => {
    if (ended) return;
    ended = true;
    reply.done();
    await options.onEnd({ status, usage: accountant.usage, outputText: accountant.outputText, responseId: accountant.responseId, ...accountant.charges });
  };
  /** The status of a stream over: whole, cut, or abandoned by its client. */
  const statusAtEnd = (whole: boolean) => (cancelled ? (answeredBeforeLeaving ? 200 : 499) : whole ? 200 : 502);
  // Once the client has gone (cancel), the body drops whatever is pushed.
  const push = (text: string) => body.push(Buffer.from(text));
  const brokenEvent = (message: string) => push(accountant.brokenEvent(message));

  const pump = async () => {
    let first = true;
    try {
      for await (const chunk of reply.body as AsyncIterable<Buffer>) {
        let text = decoder.write(chunk);
        // As a TextDecoder reads: a byte-order mark opening the stream is not part of it.
        if (first && text.length > 0) {
          first = false;
          if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        }
        const out = masker.push(accountant.transform(text));
        // The client left: read on to the usage, forwarding nothing, until the answer is whole.
        if (cancelled) {
          if (accountant.sawEnd) break;
          continue;
        }
        if (out) push(out);
        if (body.desiredSize <= 0) await new Promise<void>((resolve) => (wake = resolve));
      }
      const tail = masker.push(accountant.flush() + decoder.end()) + masker.end();
      // The client's answer is over before it is accounted: the settle never delays its end.
      if (accountant.sawEnd) {
        if (tail.trim()) push(tail);
        body.close();
        await end(statusAtEnd(true));
      } else {
        // An event cut in the middle is dropped, never glued to the error event: every SDK then
        // parses the error and raises it, instead of failing on broken JSON.
        // What the masker still held was part of the cut event, dropped with it.
        brokenEvent("the upstream stream ended before it was complete");
        body.close();
        await end(statusAtEnd(false));
      }
    } catch (err) {
      if (ended) {
        // The stream was whole but its accounting failed: the client already has its end.
        options.onFailure?.(err);
      } else {
        brokenEvent("the upstream connection broke during the stream");
        body.close();
        await end(statusAtEnd(false)).catch((e: unknown) => options.onFailure?.(e));
      }
    }
  };

  // The pump settles every outcome itself; a failure here would be a bug, so it is logged, never left unhandled.
  pump().catch((err: unknown) => options.onFailure?.(err));
  return body;
}
