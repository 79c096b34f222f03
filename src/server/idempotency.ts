import { createHash } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { KeyValueStore } from "../budget/interface.js";
import { ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Authenticator } from "./auth.js";
import { requestHeader } from "./node-request.js";

/**
 * `Idempotency-Key` on the priced endpoints: the first answer to a key (per tollgate key) is kept
 * for 24 hours, and a retry with the same key gets it back from tollgate, reaching no upstream and
 * charging nothing. The SDKs send one key for a request and all its retries, so a reply lost on
 * the way back is not paid twice. The key is claimed atomically in the shared store, so replicas
 * agree on which request runs; a retry while it still runs gets 409 (the SDKs retry a 409).
 *
 *   app.post("/v1/chat/completions", limited, idempotent({ store, auth, logger, runningMs }), handler);
 */

/** How long a first answer is kept. */
export const KEEP_MS = 24 * 3600 * 1000;
/** Answers longer than this are not kept: the key is let go, and a retry runs again. */
const MAX_KEPT_CHARS = 4 * 1024 * 1024;
const MAX_KEY_CHARS = 255;
/** Headers of the transport, not of the answer: never replayed. */
const NOT_KEPT = /^(connection|keep-alive|transfer-encoding|content-length|access-control-.*|vary)$/;

interface Running {
  state: "running";
  fingerprint: string;
}

interface Done {
  state: "done";
  fingerprint: string;
  status: number;
  headers: Array<[string, string]>;
  body: string;
}

export interface IdempotencyServices {
  store: KeyValueStore;
  auth: Pick<Authenticator, "authenticate">;
  logger: Logger;
  /** How long a claim may stay unanswered (the longest a request runs): a replica that died frees it then. */
  runningMs: number;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * An answer worth giving again: a success, or a refusal the same request would get again. A
 * failure worth retrying (5xx, 408, 409, 429, a client that left) lets the key go instead.
 */
const keepable = (status: number) => status < 400 || (status < 500 && ![408, 409, 429, 499].includes(status));

export function idempotent(services: IdempotencyServices): MiddlewareHandler {
  const { store, logger } = services;
  return async (c, next) => {
    const given = requestHeader(c, "idempotency-key");
    if (given === undefined || given === "") return next();
    if (given.length > MAX_KEY_CHARS) throw new ProxyError("invalid_request", `The Idempotency-Key header is longer than ${MAX_KEY_CHARS} characters.`, "idempotency-key");
    const caller = services.auth.authenticate(requestHeader(c, "authorization"));
    const fingerprint = sha256(`${c.req.method} ${c.req.path}\n${await c.req.text()}`);
    const key = `idem:${sha256(`${caller.keyId ?? ""}\u0000${given}`)}`;
    let claimed: boolean;
    try {
      claimed = await store.setValue(key, JSON.stringify({ state: "running", fingerprint } satisfies Running), services.runningMs, true);
    } catch (err) {
      // The budget step decides whether a request may run without the store; this one only stops repeats.
      logger.log("warn", "idempotency_store_failed", { error: (err as Error).message });
      return next();
    }
    if (!claimed) return answerAgain(await store.getValue(key), fingerprint);

    const release = () => store.deleteValue(key).catch((err: unknown) => logger.log("warn", "idempotency_store_failed", { error: (err as Error).message }));
    try {
      await next();
    } catch (err) {
      await release();
      throw err;
    }
    const answer = c.res;
    if (!keepable(answer.status)) return void (await release());
    const headers = [...answer.headers].filter(([name]) => !NOT_KEPT.test(name));
    const keep = async (body: string) => {
      if (body.length > MAX_KEPT_CHARS) return release();
      const done: Done = { state: "done", fingerprint, status: answer.status, headers, body };
      await store.setValue(key, JSON.stringify(done), KEEP_MS).catch(() => release());
    };
    if (!(answer.headers.get("content-type") ?? "").includes("text/event-stream")) {
      // A whole answer is kept before it is sent: a retry that follows it at once finds it.
      const body = await answer.text();
      await keep(body);
      c.res = undefined;
      c.res = new Response(body, answer);
      return;
    }
    c.res = undefined;
    c.res = new Response(answer.body ? keeping(answer.body, keep, release) : null, answer);
  };
}

/**
 * A stream passed on as it comes and kept when it ends whole (before its end reaches the client,
 * so a retry after it finds it); a stream cut short, or left by its client, lets the key go.
 */
function keeping(body: ReadableStream<Uint8Array>, keep: (body: string) => Promise<unknown>, release: () => Promise<unknown>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return new ReadableStream({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) {
          await (text.length > MAX_KEPT_CHARS ? release() : keep(text + decoder.decode()));
          controller.close();
          return;
        }
        if (text.length <= MAX_KEPT_CHARS) text += decoder.decode(value, { stream: true });
        controller.enqueue(value);
      } catch (err) {
        await release();
        controller.error(err);
      }
    },
    async cancel(reason) {
      await release();
      await reader.cancel(reason);
    },
  });
}

/** A key seen before: its first answer, or 409 while that request runs, or 422 for another request. */
function answerAgain(raw: string | null, fingerprint: string): Response {
  const kept = raw === null ? undefined : (JSON.parse(raw) as Running | Done);
  if (kept && kept.fingerprint !== fingerprint) {
    throw new ProxyError("idempotency_key_reused", "This Idempotency-Key was used for another request; use a new key for each request.", "idempotency-key");
  }
  if (kept?.state !== "done") {
    throw new ProxyError("idempotency_key_in_use", "A request with this Idempotency-Key is still running; retry once it has answered.", "idempotency-key", { "retry-after": "1" });
  }
  const headers = new Headers(kept.headers);
  headers.set("idempotent-replayed", "true");
  return new Response(kept.body, { status: kept.status, headers });
}
