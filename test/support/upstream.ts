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
  method: string;
  /** Bytes of the request body as received. */
  bytes: number;
  /** The body's text as received (bodies up to 1 MB). */
  text: string;
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
      /** Answer nothing (not even the headers) until this settles. */
      answerAfter?: Promise<void>;
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
      /** Send this many content pieces, then wait for `resume` before the rest. */
      holdAfter?: number;
      resume?: Promise<void>;
    }
  | { kind: "error"; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: "hang" };

export interface FakeUpstream {
  baseUrl: string;
  port: number;
  requests: Received[];
  behave: (req: Received) => Behavior;
  close(): Promise<void>;
  /** The Batch API's files and batches; a batch completes as soon as it is created. */
  batchApi: BatchWorld;
  /** Answers a request before any built-in behaviour does, when it returns true (a test's own API world). */
  route?: (req: Received, res: ServerResponse) => boolean | Promise<boolean>;
}

export const DEFAULT_USAGE: Usage = { prompt_tokens: 10, completion_tokens: 5 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function chunk(model: string, id: string, choices: unknown[], usage?: Usage | null): string {
  const payload: Record<string, unknown> = { id, object: "chat.completion.chunk", created: 1_700_000_000, model, choices };
  if (usage !== undefined) payload.usage = usage;
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** Files and batches of a fake's Batch API. */
interface BatchWorld {
  files: Map<string, string>;
  batches: Map<string, Record<string, unknown>>;
  /** Custom ids whose batch result is an error line. */
  failing: Set<string>;
}

async function answer(req: Received, behavior: Behavior, res: ServerResponse, world: BatchWorld): Promise<void> {
  const path = req.path.split("?")[0]!;
  if (behavior.kind === "json" || behavior.kind === "stream") {
    if (path.endsWith("/responses")) return answerResponses(req, behavior, res);
    if (path.endsWith("/embeddings")) return answerEmbeddings(req, behavior, res);
    if (path.endsWith("/completions") && !path.endsWith("/chat/completions")) return answerCompletions(req, behavior, res);
    if (path.endsWith("/v1/files") && req.method === "POST" && world) return answerUpload(req, res, world);
    if (/\/v1\/batches(\/[^/]+)?$/.test(path) && world) return answerBatchApi(req, res, world);
    if (/\/v1\/files\/[^/]+\/content$/.test(path) && world) {
      res.writeHead(200, { "content-type": "application/jsonl" });
      res.end(world.files.get(path.split("/")[3]!) ?? "");
      return;
    }
    if (!path.endsWith("/chat/completions")) return answerOther(req, res);
  }
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
    if (behavior.answerAfter) await behavior.answerAfter;
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
    if (i === behavior.holdAfter) await behavior.resume;
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
  const fake: FakeUpstream = { baseUrl: "", port: 0, requests, behave, close: async () => {}, batchApi: { files: new Map(), batches: new Map(), failing: new Set() } };
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
      const bytes = parts.reduce((n, p) => n + p.length, 0);
      const text = bytes <= 1024 * 1024 ? Buffer.concat(parts).toString("utf8") : "";
      const received: Received = { method: incoming.method ?? "", bytes, text, path: incoming.url ?? "", headers: incoming.headers, body, aborted: false, finished: false };
      requests.push(received);
      res.on("close", () => {
        if (!res.writableFinished) received.aborted = true;
      });
      res.on("finish", () => {
        received.finished = true;
      });
      const answered = async () => {
        if (fake.route && (await fake.route(received, res))) return;
        await answer(received, fake.behave(received), res, fake.batchApi);
      };
      answered().catch(() => res.destroy());
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

const usageOf = (behavior: Extract<Behavior, { kind: "json" | "stream" }>) => (behavior.usage === undefined ? DEFAULT_USAGE : behavior.usage);

/** The Responses API: a response object, or its named events with usage in `response.completed`. */
async function answerResponses(req: Received, behavior: Extract<Behavior, { kind: "json" | "stream" }>, res: ServerResponse): Promise<void> {
  const model = String(req.body.model ?? "unknown");
  const id = `resp_fake_${Math.random().toString(36).slice(2)}`;
  const usage = usageOf(behavior);
  const text = behavior.kind === "json" ? (behavior.content ?? "Hello from the fake upstream.") : (behavior.pieces ?? ["Hello", " there."]).join("");
  const message = { id: `msg_${id}`, type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] };
  const usageBody = usage && { input_tokens: usage.prompt_tokens, input_tokens_details: { cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0 }, output_tokens: usage.completion_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage.prompt_tokens + usage.completion_tokens };
  const response = (status: string, output: unknown[], withUsage: boolean) => ({ id, object: "response", created_at: 1_700_000_000, status, model, output, usage: withUsage ? usageBody : null, error: null, incomplete_details: null, instructions: req.body.instructions ?? null, metadata: {}, parallel_tool_calls: true, temperature: 1, tool_choice: "auto", tools: [], top_p: 1 });
  if (behavior.kind === "json") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ...response("completed", [message], true), output_text: text }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  let seq = 0;
  const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
  send("response.created", { response: response("in_progress", [], false) });
  const pieces = behavior.pieces ?? ["Hello", " there."];
  for (let i = 0; i < pieces.length; i++) {
    if (behavior.delayMs) await sleep(behavior.delayMs);
    if (behavior.cutAfter !== undefined && i >= behavior.cutAfter) {
      res.destroy();
      return;
    }
    send("response.output_text.delta", { item_id: message.id, output_index: 0, content_index: 0, delta: pieces[i] });
  }
  send("response.completed", { response: response("completed", [message], true) });
  res.end();
}

async function answerEmbeddings(req: Received, behavior: Extract<Behavior, { kind: "json" | "stream" }>, res: ServerResponse): Promise<void> {
  const inputs = Array.isArray(req.body.input) && typeof req.body.input[0] !== "number" ? req.body.input : [req.body.input];
  const usage = usageOf(behavior);
  res.writeHead(200, { "content-type": "application/json" });
  // As the API does: base64 of the float32 values when asked (the SDKs ask by default), else numbers.
  const vector = [0.1, 0.2, 0.3];
  const embedding = req.body.encoding_format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
  res.end(JSON.stringify({ object: "list", model: req.body.model, data: inputs.map((_: unknown, index: number) => ({ object: "embedding", index, embedding })), usage: usage && { prompt_tokens: usage.prompt_tokens, total_tokens: usage.prompt_tokens } }));
}

async function answerCompletions(req: Received, behavior: Extract<Behavior, { kind: "json" | "stream" }>, res: ServerResponse): Promise<void> {
  const model = String(req.body.model ?? "unknown");
  const id = `cmpl-fake-${Math.random().toString(36).slice(2)}`;
  const usage = usageOf(behavior);
  if (behavior.kind === "json") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id, object: "text_completion", created: 1_700_000_000, model, choices: [{ text: behavior.content ?? " world", index: 0, logprobs: null, finish_reason: "stop" }], ...(usage ? { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } } : {}) }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const text of behavior.pieces ?? [" hello", " world"]) res.write(`data: ${JSON.stringify({ id, object: "text_completion", created: 1_700_000_000, model, choices: [{ text, index: 0, logprobs: null, finish_reason: null }] })}\n\n`);
  if (req.body.stream_options?.include_usage === true && usage) res.write(`data: ${JSON.stringify({ id, object: "text_completion", created: 1_700_000_000, model, choices: [], usage })}\n\n`);
  res.write("data: [DONE]\n\n");
  res.end();
}

/** The API's resources; any other path is a 404, as the real API answers it. */
const KNOWN = /^\/v1\/(files|uploads|batches|chat|responses|models|audio|images|moderations|vector_stores|fine_tuning|assistants|threads|embeddings|completions|conversations|containers|evals)(\/|\?|$)/;

/** Any other path (files, batches, stored completions): says what it received. */
async function answerOther(req: Received, res: ServerResponse): Promise<void> {
  if (!KNOWN.test(req.path)) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `Invalid URL (${req.method} ${req.path})`, type: "invalid_request_error", param: null, code: null } }));
    return;
  }
  res.writeHead(200, { "content-type": "application/json", "x-request-id": "req_fake_passthrough" });
  res.end(JSON.stringify({ id: "file-fake", object: req.path.includes("/files") ? "file" : "passthrough", method: req.method, path: req.path, bytes: req.bytes, bytes_received: req.bytes, filename: "upload.bin", purpose: "batch", status: "processed", created_at: 1_700_000_000 }));
}

/** POST /v1/files: keeps the multipart upload's file part. */
async function answerUpload(req: Received, res: ServerResponse, world: BatchWorld): Promise<void> {
  const boundary = /boundary=(.+)$/.exec(String(req.headers["content-type"]))?.[1] ?? "";
  const part = req.text.split(`--${boundary}`).find((p) => p.includes('name="file"')) ?? "";
  const content = part.slice(part.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, "");
  const id = `file-${world.files.size + 1}`;
  world.files.set(id, content);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ id, object: "file", bytes: content.length, purpose: "batch", filename: "input.jsonl", created_at: 1_700_000_000 }));
}

/** POST /v1/batches creates a batch that is complete at once; GET /v1/batches/{id} reads it. */
async function answerBatchApi(req: Received, res: ServerResponse, world: BatchWorld): Promise<void> {
  res.writeHead(200, { "content-type": "application/json" });
  if (req.method === "GET") {
    res.end(JSON.stringify(world.batches.get(req.path.split("/").at(-1)!) ?? {}));
    return;
  }
  const input = world.files.get(String(req.body.input_file_id)) ?? "";
  const out: string[] = [];
  const errors: string[] = [];
  for (const line of input.split("\n").filter((l) => l.trim())) {
    const request = JSON.parse(line) as { custom_id: string; body: { model: string } };
    if (world.failing.has(request.custom_id)) {
      errors.push(JSON.stringify({ custom_id: request.custom_id, response: { status_code: 400, body: { error: { message: "bad" } } } }));
      continue;
    }
    const body = { id: `chatcmpl-${request.custom_id}`, object: "chat.completion", model: request.body.model, choices: [{ index: 0, message: { role: "assistant", content: `batched ${request.custom_id}` }, finish_reason: "stop" }], usage: { prompt_tokens: 30, completion_tokens: 10, total_tokens: 40 } };
    out.push(JSON.stringify({ id: `batch_req_${request.custom_id}`, custom_id: request.custom_id, response: { status_code: 200, request_id: "r", body }, error: null }));
  }
  const id = `batch_${world.batches.size + 1}`;
  const outputId = `file-out-${id}`;
  world.files.set(outputId, out.join("\n"));
  const errorId = errors.length > 0 ? `file-err-${id}` : null;
  if (errorId) world.files.set(errorId, errors.join("\n"));
  const batch = { id, object: "batch", endpoint: req.body.endpoint, input_file_id: req.body.input_file_id, completion_window: "24h", status: "completed", output_file_id: outputId, error_file_id: errorId, request_counts: { total: out.length + errors.length, completed: out.length, failed: errors.length } };
  world.batches.set(id, batch);
  res.end(JSON.stringify(batch));
}
