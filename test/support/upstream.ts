import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake LLM upstream: a real HTTP server on loopback speaking the OpenAI wire format
 * (JSON and SSE, with and without include_usage, errors, delays, cut-off streams).
 */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, any>;
  /** Set when the proxy closed the connection before the answer was complete. */
  aborted: boolean;
  finished: boolean;
}

export type Behavior =
  | {
      kind: "json";
      content?: string;
      usage?: Usage | null;
      delayMs?: number;
      extra?: Record<string, unknown>;
      /** Send the headers at once, and the body only when this settles. */
      bodyAfter?: Promise<void>;
      headers?: Record<string, string>;
    }
  | {
      kind: "stream";
      pieces?: string[];
      usage?: Usage | null;
      /** Pause between chunks. */
      delayMs?: number;
      /** Destroy the connection after this many content pieces. */
      cutAfter?: number;
      /** End the response cleanly but without `[DONE]`. */
      noDone?: boolean;
    }
  | { kind: "error"; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: "hang" };

export interface FakeUpstream {
  baseUrl: string;
  port: number;
  requests: Received[];
  behave: (req: Received) => Behavior;
  close(): Promise<void>;
}

export const DEFAULT_USAGE: Usage = { prompt_tokens: 10, completion_tokens: 5 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function chunk(model: string, id: string, choices: unknown[], usage?: Usage | null): string {
  const payload: Record<string, unknown> = { id, object: "chat.completion.chunk", created: 1_700_000_000, model, choices };
  if (usage !== undefined) payload.usage = usage;
  return `data: ${JSON.stringify(payload)}\n\n`;
}

async function answer(req: Received, behavior: Behavior, res: ServerResponse): Promise<void> {
  const model = String(req.body.model ?? "unknown");
  const id = `chatcmpl-fake-${Math.random().toString(36).slice(2)}`;
  if (behavior.kind === "hang") return;
  if (behavior.kind === "error") {
    const body = behavior.body ?? { error: { message: `fake upstream error ${behavior.status}`, type: "upstream_error", param: null, code: null } };
    res.writeHead(behavior.status, { "content-type": "application/json", ...behavior.headers });
    res.end(JSON.stringify(body));
    return;
  }
  if (behavior.kind === "json") {
    if (behavior.delayMs) await sleep(behavior.delayMs);
    const usage = behavior.usage === undefined ? DEFAULT_USAGE : behavior.usage;
    const body: Record<string, unknown> = {
      id,
      object: "chat.completion",
      created: 1_700_000_000,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: behavior.content ?? "Hello from the fake upstream." }, finish_reason: "stop" }],
      ...behavior.extra,
    };
    if (usage) body.usage = usage;
    res.writeHead(200, { "content-type": "application/json", ...behavior.headers });
    if (behavior.bodyAfter) {
      res.flushHeaders();
      await behavior.bodyAfter;
    }
    res.end(JSON.stringify(body));
    return;
  }
  const pieces = behavior.pieces ?? ["Hello", " from", " the", " stream."];
  const includeUsage = req.body.stream_options?.include_usage === true;
  const usage = behavior.usage === undefined ? DEFAULT_USAGE : behavior.usage;
  const usageField = includeUsage ? null : undefined;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.write(chunk(model, id, [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }], usageField));
  for (let i = 0; i < pieces.length; i++) {
    if (behavior.delayMs) await sleep(behavior.delayMs);
    if (behavior.cutAfter !== undefined && i >= behavior.cutAfter) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    res.write(chunk(model, id, [{ index: 0, delta: { content: pieces[i] }, finish_reason: null }], usageField));
  }
  res.write(chunk(model, id, [{ index: 0, delta: {}, finish_reason: "stop" }], usageField));
  if (includeUsage && usage) res.write(chunk(model, id, [], usage));
  if (!behavior.noDone) res.write("data: [DONE]\n\n");
  res.end();
}

export async function startUpstream(behave: (req: Received) => Behavior = () => ({ kind: "json" })): Promise<FakeUpstream> {
  const requests: Received[] = [];
  const fake: FakeUpstream = { baseUrl: "", port: 0, requests, behave, close: async () => {} };
  const server: Server = createServer((incoming, res) => {
    const parts: Buffer[] = [];
    incoming.on("data", (c: Buffer) => parts.push(c));
    incoming.on("end", () => {
      let body: Record<string, any> = {};
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        body = {};
      }
      const received: Received = { path: incoming.url ?? "", headers: incoming.headers, body, aborted: false, finished: false };
      requests.push(received);
      res.on("close", () => {
        if (!res.writableFinished) received.aborted = true;
      });
      res.on("finish", () => {
        received.finished = true;
      });
      answer(received, fake.behave(received), res).catch(() => res.destroy());
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  fake.port = port;
  fake.baseUrl = `http://127.0.0.1:${port}/v1`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
