import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Tiktoken } from "js-tiktoken/lite";
import o200k from "js-tiktoken/ranks/o200k_base";

/**
 * The demo's upstream: an LLM stand-in on loopback speaking the OpenAI chat completions wire format,
 * plain and streamed (with `stream_options.include_usage`). Its answers are deterministic (the same
 * messages get the same answer), its usage is counted with the o200k tokenizer as a real upstream
 * would bill it, and `max_tokens` / `max_completion_tokens` cut the answer with `finish_reason: "length"`.
 * It calls nothing: `tollgate demo` runs with no API key and no network.
 *
 *   const upstream = await startDemoUpstream();
 *   // upstreams: { openai: { base_url: upstream.baseUrl } }
 */

export interface DemoUpstream {
  /** "http://127.0.0.1:PORT/v1" */
  baseUrl: string;
  /** Chat completions answered so far. */
  readonly answered: number;
  close(): Promise<void>;
}

export interface DemoUpstreamOptions {
  /** Pause between streamed pieces, so a terminal shows the stream arrive; 0 in tests. */
  streamDelayMs?: number;
}

const ANSWERS = [
  "tollgate classified this request into a tier, held its worst case against every budget it belongs to, and will settle the hold with the usage reported at the end of this answer.",
  "Every answer through tollgate carries its tier, model, route and cost in x-tollgate-* headers, so a client can see what a request cost without asking anyone.",
  "This reply comes from the demo upstream on loopback. A real upstream would bill the same usage; tollgate prices it from the bundled catalogue unless the configuration gives a price.",
  "Budgets are shared by every replica through Redis in production; the demo keeps them in memory. Ask for a premium tier to watch a budget downgrade, or use the intern key to be refused.",
];

interface ChatMessage {
  role?: unknown;
  content?: unknown;
  name?: unknown;
}

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string" ? (part as { text: string }).text : "")).join("\n");
  }
  return "";
}

/** FNV-1a: a stable choice of answer for the same question, in every process. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The demo writes and cuts real tokens, so it keeps a full tokenizer (the proxy only counts), built on first use. */
let tokenizer: Tiktoken | undefined;
const o200kBase = () => (tokenizer ??= new Tiktoken(o200k));
const tokens = (text: string) => o200kBase().encode(text);

/** Prompt tokens as OpenAI counts a chat: 3 per message, 1 per name, 3 to prime the reply. */
function promptTokens(messages: ChatMessage[]): number {
  let total = 3;
  for (const m of messages) {
    total += 3 + tokens(messageText(m.content)).length + (typeof m.name === "string" ? 1 + tokens(m.name).length : 0);
  }
  return total;
}

interface Answer {
  text: string;
  completionTokens: number;
  finishReason: "stop" | "length";
}

function answerFor(model: string, messages: ChatMessage[], limit: number | undefined): Answer {
  const question = messageText([...messages].reverse().find((m) => m.role === "user")?.content).trim();
  const quoted = question.length > 60 ? `${question.slice(0, 57)}...` : question;
  const full = `Demo answer from ${model} to "${quoted}": ${ANSWERS[hash(question) % ANSWERS.length]}`;
  const encoded = tokens(full);
  if (limit === undefined || encoded.length <= limit) return { text: full, completionTokens: encoded.length, finishReason: "stop" };
  return { text: o200kBase().decode(encoded.slice(0, limit)), completionTokens: limit, finishReason: "length" };
}

function sendError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message, type: "invalid_request_error", param: null, code: null } }));
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The answer split as a model streams it: a word (with its leading space) per chunk. */
function pieces(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [text];
}

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  let answered = 0;
  const delay = options.streamDelayMs ?? 0;

  async function chat(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : undefined;
    if (!messages || messages.length === 0) return sendError(res, 400, "'messages' must be a non-empty array");
    const model = typeof body.model === "string" ? body.model : "demo-model";
    const rawLimit = body.max_completion_tokens ?? body.max_tokens;
    const limit = typeof rawLimit === "number" && rawLimit > 0 ? rawLimit : undefined;
    const choices = typeof body.n === "number" && body.n > 1 ? Math.floor(body.n) : 1;
    const answer = answerFor(model, messages, limit);
    answered++;
    const id = `chatcmpl-demo-${answered}`;
    const created = Math.floor(Date.now() / 1000);
    const prompt = promptTokens(messages);
    const usage = {
      prompt_tokens: prompt,
      completion_tokens: answer.completionTokens * choices,
      total_tokens: prompt + answer.completionTokens * choices,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    };
    const headers = { "x-request-id": `req_demo_${answered}` };

    if (body.stream !== true) {
      res.writeHead(200, { ...headers, "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model,
          choices: Array.from({ length: choices }, (_, index) => ({
            index,
            message: { role: "assistant", content: answer.text, refusal: null },
            finish_reason: answer.finishReason,
          })),
          usage,
        }),
      );
      return;
    }

    const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const chunk = (delta: Record<string, unknown>, finish: string | null, index = 0) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index, delta, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}) })}\n\n`;
    res.writeHead(200, { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" });
    for (let index = 0; index < choices; index++) {
      res.write(chunk({ role: "assistant", content: "" }, null, index));
      for (const piece of pieces(answer.text)) {
        if (delay > 0) await pause(delay);
        if (res.destroyed) return;
        res.write(chunk({ content: piece }, null, index));
      }
      res.write(chunk({}, answer.finishReason, index));
    }
    if (includeUsage) res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage })}\n\n`);
    res.end("data: [DONE]\n\n");
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on("data", (part: Buffer) => parts.push(part));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "POST" || path !== "/v1/chat/completions") {
        return sendError(res, 404, `The demo upstream answers POST /v1/chat/completions only, not ${req.method} ${path}.`);
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        return sendError(res, 400, "the request body is not valid JSON");
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) return sendError(res, 400, "the request body must be a JSON object");
      chat(body as Record<string, unknown>, res).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 500, (err as Error).message);
        else res.destroy(err as Error);
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    get answered() {
      return answered;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
