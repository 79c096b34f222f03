import { UpstreamFailure, type UpstreamReply } from "./client.js";

/** Longest cool-down honoured from an upstream's retry-after. */
const MAX_COOLDOWN_MS = 10 * 60_000;

/** retry-after in seconds or as an HTTP date, as milliseconds from now. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  if (typeof value !== "string") return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_COOLDOWN_MS) : undefined;
}

/** An answer the fallback passed over, for the log and the record. */
export interface Skipped {
  model: string;
  status: number;
  code: string | null;
}

export interface FallbackSteps<P extends { model: string }> {
  send(candidate: P): Promise<UpstreamReply>;
  /** The candidate to try after `failed` (its budget already moved), or undefined when there is none. */
  next(failed: P): Promise<P | undefined>;
  /** The model's upstream asked to wait this long. */
  coolDown(model: string, ms: number): Promise<void>;
  now(): number;
}

export interface Forwarded<P> {
  candidate: P;
  reply: UpstreamReply;
  /** The body of an error answer, read whole so another model could be tried. */
  errorText?: string;
  skipped: Skipped[];
}

/**
 * Step 6: forward upstream, and when the upstream answers 429 or 5xx, times out or refuses the
 * connection (before any byte reached the client), try the next candidate. The loop knows
 * nothing about money: `next` moves the budget. The last failure is what the client gets;
 * every one before it is in `skipped`.
 */
export async function forwardWithFallback<P extends { model: string }>(first: P, steps: FallbackSteps<P>): Promise<Forwarded<P>> {
  const skipped: Skipped[] = [];
  for (let candidate = first; ; ) {
    let reply: UpstreamReply | undefined;
    let failure: UpstreamFailure | undefined;
    try {
      reply = await steps.send(candidate);
    } catch (err) {
      if (!(err instanceof UpstreamFailure) || !err.retryable) throw err;
      failure = err;
    }
    if (reply && reply.status !== 429 && reply.status < 500) return { candidate, reply, skipped };

    let errorText: string | undefined;
    if (reply) {
      {
        using failed = reply;
        errorText = await failed.body.text().catch(() => "");
      }
      const coolMs = retryAfterMs(reply.headers["retry-after"], steps.now());
      if (coolMs !== undefined) await steps.coolDown(candidate.model, coolMs);
    }
    const next = await steps.next(candidate);
    if (!next) {
      if (failure) throw failure;
      return { candidate, reply: reply!, errorText, skipped };
    }
    skipped.push({ model: candidate.model, status: reply?.status ?? failure!.status, code: failure?.code ?? null });
    candidate = next;
  }
}
