import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type { Hono } from "hono";
import { previousResponse } from "../../endpoints/previous-response.js";
import { ProxyError } from "../../errors.js";
import type { Services } from "../../services.js";
import { unpricedRecord } from "../../usage/record.js";
import { exchange } from "../exchange.js";

/** Request headers a pass-through call carries upstream (the client's Authorization never does). */
const FORWARDED_REQUEST = ["content-type", "content-length", "accept", "openai-beta", "openai-organization", "openai-project", "idempotency-key"];
/** Response headers not passed back: hop-by-hop, or rewritten by the server. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer", "content-length"]);

/** The endpoint's name for records and reports: the path's first segment under /v1/ (`files`, `batches`...). */
function endpointOf(path: string): string {
  const [first, second] = path.replace(/^\/v1\//, "").split("/");
  return first === "chat" && second === "completions" ? "chat.completions.stored" : (first ?? "");
}

/** The largest JSON body read to find the model it names; larger and non-JSON bodies stream through untouched. */
const MODEL_PEEK_BYTES = 64 * 1024;

/**
 * Every other /v1/ path (stored chat completions, files, uploads, batches, audio, images,
 * moderations, models/{id}, vector stores, fine-tuning, stored responses): authenticated and
 * passed to an upstream with its own key, bodies streamed both ways and never buffered whole. The
 * upstream is the named model's, a stored response's, or `passthrough.upstream`. Each call gets a
 * usage record with `priced: false`, so what a budget cannot see is counted.
 */
export function registerPassthrough(app: Hono, services: Services): void {
  const settings = services.config.passthrough;
  if (settings === false) return;
  const defaultUpstream = settings.upstream ?? Object.keys(services.config.upstreams)[0]!;
  const limitBytes = Math.floor(settings.body_limit_mb * 1024 * 1024);

  app.all(
    "/v1/*",
    exchange(services, async (ex, c) => {
      const startedMono = performance.now();
      const startedAt = services.clock.now();
      const caller = services.auth.authenticate(c.req.header("authorization"));
      const url = new URL(c.req.url);
      const declared = Number(c.req.header("content-length") ?? 0);
      if (declared > limitBytes) throw new ProxyError("request_too_large", `The request body is larger than the pass-through limit of ${settings.body_limit_mb} MB.`);

      let body: Uint8Array | AsyncIterable<Uint8Array> | undefined = c.req.raw.body ? limitStream(c.req.raw.body, limitBytes) : undefined;
      let upstream = defaultUpstream;
      let model: string | null = null;
      const responseId = /^\/v1\/responses\/([^/]+)/.exec(url.pathname)?.[1];
      if (responseId) upstream = (await previousResponse(services, responseId))?.upstream ?? upstream;
      else if (c.req.header("content-type")?.includes("application/json") && declared > 0 && declared <= MODEL_PEEK_BYTES) {
        const bytes = new Uint8Array(await c.req.arrayBuffer());
        body = bytes;
        try {
          const named = (JSON.parse(new TextDecoder().decode(bytes)) as { model?: unknown }).model;
          if (typeof named === "string" && Object.hasOwn(services.config.models, named)) {
            model = named;
            upstream = services.config.models[named]!.upstream;
          }
        } catch {
          // Not JSON after all: passed on as it came; the upstream says what is wrong with it.
        }
      }

      const headers: Record<string, string> = {};
      for (const name of FORWARDED_REQUEST) {
        const value = c.req.header(name);
        if (value !== undefined) headers[name] = value;
      }
      const reply = await services.upstream.forward({
        upstream,
        method: c.req.method,
        path: url.pathname.replace(/^\/v1/, "") + url.search,
        headers,
        body: c.req.method === "GET" || c.req.method === "HEAD" ? undefined : body,
        signal: ex.signal,
      });
      const requestId = `pt-tg-${randomUUID()}`;
      const header = {
        time: new Date(startedAt).toISOString(),
        request_id: requestId,
        endpoint: endpointOf(url.pathname),
        key_id: caller.keyId,
        team: caller.team,
        request_type: "passthrough",
        tier: null,
        requested_model: model ?? "",
        routed_model: model ?? "",
        route: "passthrough",
        stream: false,
      };
      const out = new Headers({ "x-request-id": requestId });
      for (const [name, value] of Object.entries(reply.headers)) {
        if (HOP_BY_HOP.has(name) || value === undefined) continue;
        if (name === "x-request-id") out.set("x-upstream-request-id", String(value));
        else for (const v of [value].flat()) out.append(name, v);
      }
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      reply.body.once("close", () => {
        reply.done();
        const record = unpricedRecord(header, ex.clientGone ? 499 : reply.status, Math.round(performance.now() - startedMono));
        void services.settler
          .settle({ requestId, counters: [], actual: 0, record, day: services.windows.at(startedAt).day })
          .catch((err: unknown) => services.logger.log("error", "passthrough_record_failed", { request_id: requestId, error: (err as Error).message }))
          .finally(finish);
      });
      const stream = reply.status === 204 || c.req.method === "HEAD" ? null : (Readable.toWeb(reply.body) as ReadableStream<Uint8Array>);
      if (!stream) reply.body.resume();
      return { response: new Response(stream, { status: reply.status, headers: out }), finished };
    }),
  );
}

/** The body as it streams in, failing once it passes `limit` bytes. */
async function* limitStream(body: ReadableStream<Uint8Array>, limit: number): AsyncIterable<Uint8Array> {
  let seen = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    seen += chunk.byteLength;
    if (seen > limit) throw new ProxyError("request_too_large", `The request body is larger than the pass-through limit of ${limit} bytes.`);
    yield chunk;
  }
}
