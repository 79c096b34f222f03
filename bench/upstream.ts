import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

/**
 * The benchmark's upstream: a minimal OpenAI-compatible server on loopback, as cheap as it can be
 * so the machine's CPU goes to the process under test. A tiny chat.completion with `usage` for
 * plain requests; for `stream: true` an SSE answer whose first chunk leaves at once and the rest a
 * millisecond later, with the usage chunk only when `stream_options.include_usage` asks for it.
 *
 *   node --import tsx bench/upstream.ts --port 9100
 */

const CREATED = 1_700_000_000;
const PIECES = ["Hello", " from", " the", " bench", " upstream."];

function promptTokens(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 4));
}

function answerJson(res: ServerResponse, model: string, bytes: number): void {
  const body = JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: CREATED,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "Hello from the bench upstream." }, finish_reason: "stop" }],
    usage: { prompt_tokens: promptTokens(bytes), completion_tokens: 7, total_tokens: promptTokens(bytes) + 7 },
  });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function chunk(model: string, choices: unknown[], usage?: unknown): string {
  const payload: Record<string, unknown> = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: CREATED, model, choices };
  if (usage !== undefined) payload.usage = usage;
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function answerStream(res: ServerResponse, model: string, bytes: number, includeUsage: boolean): void {
  const usageField = includeUsage ? null : undefined;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.write(chunk(model, [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }], usageField));
  setTimeout(() => {
    if (res.destroyed) return;
    let rest = "";
    for (const piece of PIECES) rest += chunk(model, [{ index: 0, delta: { content: piece }, finish_reason: null }], usageField);
    rest += chunk(model, [{ index: 0, delta: {}, finish_reason: "stop" }], usageField);
    if (includeUsage) rest += chunk(model, [], { prompt_tokens: promptTokens(bytes), completion_tokens: PIECES.length, total_tokens: promptTokens(bytes) + PIECES.length });
    rest += "data: [DONE]\n\n";
    res.end(rest);
  }, 1);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  const parts: Buffer[] = [];
  let bytes = 0;
  req.on("data", (c: Buffer) => {
    parts.push(c);
    bytes += c.length;
  });
  req.on("end", () => {
    let body: { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } | null } = {};
    try {
      body = JSON.parse(parts.length === 1 ? parts[0]!.toString("utf8") : Buffer.concat(parts).toString("utf8"));
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end('{"error":{"message":"bad json","type":"invalid_request_error","param":null,"code":null}}');
      return;
    }
    const model = typeof body.model === "string" ? body.model : "unknown";
    if (body.stream === true) answerStream(res, model, bytes, body.stream_options?.include_usage === true);
    else answerJson(res, model, bytes);
  });
}

const flag = process.argv.indexOf("--port");
const port = flag >= 0 ? Number(process.argv[flag + 1]) : 0;
const server = createServer(handle);
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ event: "listening", port: typeof address === "object" && address ? address.port : port })}\n`);
});
process.once("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
