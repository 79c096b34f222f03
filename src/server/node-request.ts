import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { clientClosed } from "../errors.js";
import { JsonScan, type ScannedJson } from "../request/json-scan.js";
import type { ClientSignal } from "../upstream/client.js";

/** What @hono/node-server passes as `c.env`: the node request and response behind `c.req.raw`. */
export interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

export const nodeBindings = (c: Context): NodeBindings | undefined => c.env as NodeBindings | undefined;

/** As `Request.text()` decodes: UTF-8, a leading byte-order mark dropped, bad bytes replaced. */
const utf8 = new TextDecoder();

/**
 * The body of a priced request, read whole and limited to `maxSize` bytes; `onError` answers one
 * over the limit. On @hono/node-server it is read from the node request itself, and the text left
 * where `c.req.text()` finds it: touching `c.req.raw` would build a web `Request`, its body stream
 * and its AbortController for every request. A request without node bindings (an internal one,
 * `app.fetch`) takes Hono's own limit.
 *
 * With `maxObjects`, the JSON objects of the body are counted as its bytes arrive; past it the rest
 * is read and dropped, and `onTooManyObjects` answers without anything parsed: parsing millions of
 * small objects would hold the event loop for as long, only to refuse them afterwards
 * (`server.max_parts`).
 *
 *   app.post("/v1/chat/completions", limitedBody({ maxSize, onError }), handler);
 */
export function limitedBody(options: {
  maxSize: number;
  onError: (c: Context) => Response | Promise<Response>;
  maxObjects?: number;
  onTooManyObjects?: (c: Context) => Response | Promise<Response>;
  /** Strings the scan of the body notes when it sees them (request/json-scan.ts). */
  notice?: ReadonlySet<string>;
}): MiddlewareHandler {
  const { maxSize, onError, maxObjects = Infinity, onTooManyObjects = onError, notice } = options;
  const onWebRequest = bodyLimit(options);
  return async (c, next) => {
    const incoming = nodeBindings(c)?.incoming;
    // Read once only: a body something else started reading is left to Hono's way.
    if (!incoming || incoming.readableDidRead || incoming.readableEnded || c.req.bodyCache.text) return onWebRequest(c, next);
    const length = incoming.headers["content-length"];
    if (length !== undefined && incoming.headers["transfer-encoding"] === undefined && Number.parseInt(length, 10) > maxSize) return onError(c);
    const read = await readText(incoming, maxSize, maxObjects, notice);
    if (read === TOO_LARGE) return onError(c);
    if (read === TOO_MANY_OBJECTS) return onTooManyObjects(c);
    // Hono keeps the promise of each body reading there (its type says the value).
    (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(read.text);
    scans.set(incoming, read.scan);
    await next();
  };
}

const scans = new WeakMap<IncomingMessage, ScannedJson>();

/**
 * What the scan of the request's bytes found as they arrived (when `limitedBody` read them), for
 * the parse to skip its own passes over the text (request/parse.ts).
 */
export function scannedBody(c: Context): ScannedJson | undefined {
  const incoming = nodeBindings(c)?.incoming;
  return incoming && scans.get(incoming);
}

const TOO_LARGE = Symbol("too large");
const TOO_MANY_OBJECTS = Symbol("too many objects");

/** The request's bytes as text; past `maxSize` bytes the rest is left unread (for the 413's linger). */
function readText(incoming: IncomingMessage, maxSize: number, maxObjects: number, notice: ReadonlySet<string> | undefined): Promise<{ text: string; scan: ScannedJson } | typeof TOO_LARGE | typeof TOO_MANY_OBJECTS> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const scan = new JsonScan(notice);
    let size = 0;
    const finish = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onGone);
      incoming.off("close", onGone);
    };
    const stop = (why: typeof TOO_LARGE) => {
      finish();
      incoming.pause();
      resolve(why);
    };
    // Past `maxObjects` the rest is read (a client still sending would see its connection reset
    // instead of the answer) but neither kept nor counted.
    let tooMany = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxSize) return stop(TOO_LARGE);
      if (tooMany) return;
      if (scan.add(chunk) > maxObjects) {
        tooMany = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      finish();
      resolve(tooMany ? TOO_MANY_OBJECTS : { text: utf8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)), scan });
    };
    // The client left while sending: the request ends as one whose client closed it.
    const onGone = () => {
      finish();
      reject(clientClosed());
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onGone);
    incoming.on("close", onGone);
  });
}

/**
 * Fires when the client's connection closes before its answer is complete: the response's 'close'
 * before it finished. It costs a listener until then; the web `Request`'s signal would cost the
 * whole `Request` and an AbortController per request.
 */
class ResponseClosed implements ClientSignal {
  aborted = false;
  reason: unknown;
  private listeners: Array<() => void> = [];

  constructor(incoming: IncomingMessage, outgoing: ServerResponse) {
    outgoing.once("close", () => {
      if (incoming.errored) this.abort(incoming.errored.toString());
      else if (!outgoing.writableFinished) this.abort("Client connection prematurely closed.");
    });
  }

  private abort(reason: string): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }

  addEventListener(_type: "abort", listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }
}

const signals = new WeakMap<ServerResponse, ResponseClosed>();

/**
 * Whether the client is gone, as a signal (one per request): from the node response when there is
 * one, else the `Request`'s.
 */
export function clientSignal(c: Context): ClientSignal {
  const env = nodeBindings(c);
  if (!env?.incoming || !env.outgoing) return c.req.raw.signal;
  let signal = signals.get(env.outgoing);
  if (!signal) signals.set(env.outgoing, (signal = new ResponseClosed(env.incoming, env.outgoing)));
  return signal;
}

/** HTTP whitespace, which the web `Headers` strips from both ends of a value. */
const isHttpSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

const headerRecords = new WeakMap<IncomingMessage, Record<string, string>>();

/**
 * The request's headers as `c.req.header()` gives them (lower-case names, a repeated header's
 * values joined with ", "), read from the node request's raw headers: `c.req.header` builds a web
 * `Headers` object first, validating every name and value the node parser already validated. Read
 * once per request. The names are in the order they came, not sorted as a web `Headers` lists
 * them: they are only looked up by name (routing rules).
 */
export function requestHeaders(c: Context): Record<string, string> {
  const incoming = nodeBindings(c)?.incoming;
  if (!incoming) return c.req.header();
  let record = headerRecords.get(incoming);
  if (record) return record;
  const raw = incoming.rawHeaders;
  // Without a prototype: a header named "constructor" or "__proto__" is only a header.
  record = Object.create(null) as Record<string, string>;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // HTTP/2 pseudo-headers (":path") are not headers of the request.
    if (name.charCodeAt(0) === 58) continue;
    let value = raw[i + 1]!;
    if (value.length > 0 && (isHttpSpace(value.charCodeAt(0)) || isHttpSpace(value.charCodeAt(value.length - 1)))) value = value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    const before = record[name];
    record[name] = before === undefined ? value : `${before}, ${value}`;
  }
  headerRecords.set(incoming, record);
  return record;
}

/** One request header, as `c.req.header(name)` gives it (see `requestHeaders`). */
export function requestHeader(c: Context, name: string): string | undefined {
  if (!nodeBindings(c)?.incoming) return c.req.header(name);
  return requestHeaders(c)[name.toLowerCase()];
}
