import type { Context } from "hono";
import { ProxyError, toProxyError } from "../errors.js";
import type { Services } from "../services.js";
import type { ClientSignal } from "../upstream/client.js";
import { clientSignal } from "./node-request.js";

/** What a route answers: the response, and for a stream, when it is over. */
export interface Answer {
  response: Response;
  /** Set when the body outlives the handler (a stream): the exchange closes when it settles. */
  finished?: Promise<void>;
}

/**
 * What one request holds that must be given back, however it ends: its slot in the lifecycle
 * (graceful shutdown waits for it), and whatever a step registers with `defer` (a budget hold, a
 * cache ticket). Closed in one place, `exchange()` below, once the answer is complete; closers run
 * last registered first, and every one runs even if another fails.
 */
export class Exchange {
  private readonly closers: Array<() => Promise<void> | void> = [];
  /** What ended the request when it did not end with an answer (read by closers). */
  failure: unknown;

  constructor(
    private readonly services: Services,
    readonly signal: ClientSignal,
  ) {
    this.closers.push(services.lifecycle.enter());
  }

  defer(close: () => Promise<void> | void): void {
    this.closers.unshift(close);
  }

  get clientGone(): boolean {
    return this.signal.aborted;
  }

  async close(): Promise<void> {
    for (const close of this.closers) {
      try {
        await close();
      } catch (err) {
        this.services.logger.log("error", "close_failed", { error: (err as Error)?.stack ?? String(err) });
      }
    }
  }
}

/**
 * A route whose request holds resources until its answer is complete. Errors propagate to the
 * app's one error handler (which answers and counts them), after the exchange is closed.
 */
export function exchange(services: Services, run: (ex: Exchange, c: Context) => Promise<Answer>) {
  return async (c: Context): Promise<Response> => {
    if (services.lifecycle.draining) {
      throw new ProxyError("shutting_down", "The proxy is shutting down; retry on another replica.", null, { "retry-after": "1" });
    }
    const ex = new Exchange(services, clientSignal(c));
    let answer: Answer | undefined;
    try {
      answer = await run(ex, c);
      return answer.response;
    } catch (err) {
      ex.failure = err;
      // Whatever an abort threw (not always an Error), the outcome is the client's leaving.
      throw ex.clientGone || !(err instanceof Error) ? toProxyError(err, ex.clientGone) : err;
    } finally {
      if (answer?.finished) {
        const finished = answer.finished;
        void finished
          .catch((err: unknown) => services.logger.log("error", "answer_not_settled", { error: (err as Error)?.stack ?? String(err) }))
          .finally(() => ex.close());
      }
      else await ex.close();
    }
  };
}
