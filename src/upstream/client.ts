import { EventEmitter } from "node:events";
import { Pool, errors as undiciErrors } from "undici";
import type { Readable } from "node:stream";
import { upstreamProtocol, type UpstreamConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";

export interface UpstreamReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { text(): Promise<string> };
  /**
   * Frees the in-flight slot and timers once the body has been read or given up; idempotent. A
   * reply read whole is disposed by its `using` declaration; a streamed one by its stream's end.
   */
  done(): void;
  /**
   * Nobody will read the answer any more (the client left): the call goes on for the drain period,
   * so its usage can still be read, and is aborted after it. Idempotent.
   */
  abandon(): void;
  [Symbol.dispose](): void;
}

/**
 * What a call needs of its caller's signal: whether it fired, why, and a listener for when it does.
 * An AbortSignal is one; so is the light one the server makes from the client's connection.
 */
export interface ClientSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export interface UpstreamRequest {
  upstream: string;
  /** Path under the upstream's base URL, e.g. `/chat/completions`. */
  path: string;
  body: string;
  /** Aborts the upstream call (client gone, shutdown). */
  signal: ClientSignal;
  /**
   * Once the answer's headers are in, the client leaving no longer aborts the call: a whole
   * (non-streamed) answer is then read to the end, so its real usage is recorded.
   */
  finishAfterHeaders?: boolean;
  /** The client's request headers: those in the upstream's `forward_headers` go with the call. */
  clientHeader?: (name: string) => string | undefined;
  /**
   * The client leaving (the signal) aborts the call only this long after (`accounting.drain_seconds`):
   * what the upstream bills goes on after the client is gone, and its usage comes at the end.
   */
  drainMs?: number;
  /**
   * More headers for the upstream: Anthropic's version and beta flags of the client's, the trace
   * context; never over the upstream's own (its key).
   */
  headers?: Record<string, string>;
}

/** A call of any method and body to an upstream path, for the pass-through. */
export interface ForwardRequest {
  upstream: string;
  method: string;
  /** Path and query under the upstream's base URL. */
  path: string;
  headers: Record<string, string>;
  body: Uint8Array | AsyncIterable<Uint8Array> | undefined;
  signal: ClientSignal;
}

/** Why an upstream call failed before answering; `retryable` marks failures another model may not have. */
export class UpstreamFailure extends ProxyError {
  /** True when the request never reached the upstream (no connection): nothing can have been billed (a metered call settles at 0). */
  notSent = false;

  constructor(
    code: "upstream_unreachable" | "upstream_timeout" | "overloaded",
    message: string,
    readonly retryable: boolean,
    headers: Record<string, string> = {},
  ) {
    super(code, message, null, headers);
  }
}

/** A slot limiter: at most `max` in flight, at most `maxQueued` waiting, the rest refused at once. */
class Slots {
  private inFlight = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  acquire(signal: ClientSignal): Promise<void> | undefined {
    if (this.inFlight < this.max) {
      this.inFlight++;
      return undefined;
    }
    if (this.queue.length >= this.maxQueued) {
      throw new UpstreamFailure("overloaded", "the upstream is at capacity; retry shortly", true, { "retry-after": "1" });
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        this.inFlight++;
        resolve();
      };
      const onAbort = () => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(grant);
    });
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inFlight--;
  }
}

/**
 * Aborts one upstream call, for the client's signal or the total timeout. undici takes an
 * EventEmitter as a signal: one per request is much cheaper than an AbortController, whose signal
 * is a transferable EventTarget.
 */
class UpstreamAbort extends EventEmitter {
  aborted = false;
  reason: unknown;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new DOMException("This operation was aborted", "AbortError");
    this.emit("abort");
  }
}

interface Upstream {
  config: UpstreamConfig;
  pool: Pool;
  basePath: string;
  headers: Record<string, string>;
  slots: Slots;
}

/**
 * One undici pool per upstream, keep-alive, the upstream's own key. A total timeout, a connect
 * timeout and a headers timeout apply separately; the caller's signal aborts the call.
 */
export class UpstreamClient {
  private readonly upstreams = new Map<string, Upstream>();
  /** Calls whose client left, read on for their usage until they end or the drain period does. */
  draining = 0;

  constructor(configs: Record<string, UpstreamConfig>) {
    for (const [name, config] of Object.entries(configs)) {
      const url = new URL(config.base_url);
      const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json, text/event-stream", ...authHeaders(config) };
      this.upstreams.set(name, {
        config,
        pool: new Pool(url.origin, {
          connections: config.max_in_flight,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          connect: { timeout: config.connect_timeout_ms },
          headersTimeout: config.headers_timeout_ms ?? config.timeout_ms,
          bodyTimeout: config.timeout_ms,
        }),
        basePath: url.pathname.replace(/\/$/, ""),
        headers,
        slots: new Slots(config.max_in_flight, config.max_queued),
      });
    }
  }

  /** The upstream's configured API keys, so no answer passes one on. */
  get secrets(): string[] {
    return [...this.upstreams.values()].map((u) => u.config.api_key).filter((k) => k.length > 0);
  }

  async post(req: UpstreamRequest): Promise<UpstreamReply> {
    const upstream = this.upstreams.get(req.upstream)!;
    const waiting = upstream.slots.acquire(req.signal);
    if (waiting) await waiting;
    const passed = req.clientHeader ? forwardedClientHeaders(upstream.config.forward_headers, req.clientHeader) : undefined;
    // Most calls pass no client header: the upstream's own headers as they are (spreading costs microseconds).
    const headers = req.headers || (passed && hasAny(passed)) ? Object.assign({}, passed, req.headers, upstream.headers, req.headers ? versionOf(req.headers) : undefined) : upstream.headers;
    return this.call(upstream, req.upstream, { path: req.path, method: "POST", headers, body: req.body }, req.signal, {
      finishAfterHeaders: req.finishAfterHeaders === true,
      drainMs: req.drainMs ?? 0,
      release: () => upstream.slots.release(),
    });
  }

  /**
   * A pass-through call: the client's method, headers and body (streamed), the upstream's key.
   * The total timeout applies; the client leaving aborts it.
   */
  async forward(req: ForwardRequest): Promise<UpstreamReply> {
    const upstream = this.upstreams.get(req.upstream)!;
    const headers: Record<string, string> = { ...req.headers, ...authHeaders(upstream.config) };
    return this.call(upstream, req.upstream, { path: req.path, method: req.method, headers, body: req.body }, req.signal, { finishAfterHeaders: false, drainMs: 0, release: () => {} });
  }

  /**
   * One call with the total timeout and the caller's signal; `done` (once) frees its timers,
   * listener and slot. The signal aborts the call at once, or after `drainMs` (see `abandon`).
   */
  private async call(
    upstream: Upstream,
    name: string,
    request: { path: string; method: string; headers: Record<string, string>; body: string | Uint8Array | AsyncIterable<Uint8Array> | undefined },
    signal: ClientSignal,
    options: { finishAfterHeaders: boolean; drainMs: number; release: () => void },
  ): Promise<UpstreamReply> {
    const controller = new UpstreamAbort();
    let released = false;
    let drain: NodeJS.Timeout | undefined;
    const abandon = () => {
      if (released || drain !== undefined || controller.aborted) return;
      if (options.drainMs <= 0) return controller.abort(signal.reason);
      this.draining++;
      drain = setTimeout(() => controller.abort(new Error("drain period over")), options.drainMs);
    };
    const onAbort = () => abandon();
    signal.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error("upstream timeout"));
    }, upstream.config.timeout_ms);
    const done = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      if (drain !== undefined) {
        clearTimeout(drain);
        this.draining--;
      }
      signal.removeEventListener("abort", onAbort);
      options.release();
    };
    try {
      const res = await upstream.pool.request({
        path: upstream.basePath + request.path,
        method: request.method as "POST",
        headers: request.headers,
        body: request.body as never,
        signal: controller,
      });
      if (options.finishAfterHeaders) signal.removeEventListener("abort", onAbort);
      return { status: res.statusCode, headers: res.headers, body: res.body, done, abandon, [Symbol.dispose]: done };
    } catch (err) {
      done();
      if (err instanceof ProxyError) throw err;
      throw describeFailure(err, name, timedOut, signal.aborted);
    }
  }

  /** The client headers a call to `upstream` carries (`upstreams.X.forward_headers`). */
  forwardList(upstream: string): readonly string[] {
    return this.upstreams.get(upstream)!.config.forward_headers;
  }

  async close(): Promise<void> {
    await Promise.all([...this.upstreams.values()].map((u) => u.pool.close()));
  }
}

function hasAny(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}

/** The version of Anthropic's API asked for when the client names none. */
export const ANTHROPIC_VERSION = "2023-06-01";

/** The upstream's own key, as its protocol takes it, and Anthropic's version header. */
function authHeaders(config: UpstreamConfig): Record<string, string> {
  if (upstreamProtocol(config) === "anthropic") return { "anthropic-version": ANTHROPIC_VERSION, ...(config.api_key ? { "x-api-key": config.api_key } : {}) };
  return config.api_key ? { authorization: `Bearer ${config.api_key}` } : {};
}

/** The client's own `anthropic-version` wins over the default; nothing else of its may replace the upstream's headers. */
function versionOf(headers: Record<string, string>): Record<string, string> {
  return headers["anthropic-version"] ? { "anthropic-version": headers["anthropic-version"] } : {};
}

/** The client's values of the headers named in `names`, for the upstream (names lower-case). */
export function forwardedClientHeaders(names: readonly string[], header: (name: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = header(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Failures to connect at all: the request was never sent. */
const CONNECT_FAILURES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

function notSent(failure: UpstreamFailure): UpstreamFailure {
  failure.notSent = true;
  return failure;
}

function describeFailure(err: unknown, name: string, timedOut: boolean, clientGone: boolean): unknown {
  if (clientGone) return err;
  if (timedOut || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new UpstreamFailure("upstream_timeout", `upstream ${name} did not answer in time`, true);
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return notSent(new UpstreamFailure("upstream_timeout", `connecting to upstream ${name} timed out`, true));
  }
  const code = (err as { code?: string })?.code ?? "";
  // The error's code names the cause (ECONNREFUSED, UND_ERR_SOCKET); without one, its class does.
  const cause = code || (err as Error)?.name || "";
  const failure = new UpstreamFailure("upstream_unreachable", `upstream ${name} is unreachable${cause ? ` (${cause})` : ""}`, true);
  return CONNECT_FAILURES.has(code) ? notSent(failure) : failure;
}
