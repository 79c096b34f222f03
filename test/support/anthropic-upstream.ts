import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake Anthropic upstream: a real HTTP server on loopback speaking the Messages wire (JSON
 * answers, SSE with named events, count_tokens, errors in Anthropic's shape).
 */

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  server_tool_use?: { web_search_requests: number };
}

export interface AnthropicReceived {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, any>;
}

export type AnthropicBehavior =
  /** A text answer, or a tool call when the request offers tools and its last turn is not a tool result. */
  | { kind: "answer"; text?: string; usage?: AnthropicUsage; stopReason?: string; noTools?: boolean }
  | { kind: "error"; status: number; type: string; message: string };

export interface FakeAnthropic {
  baseUrl: string;
  requests: AnthropicReceived[];
  behave: (req: AnthropicReceived) => AnthropicBehavior;
  close(): Promise<void>;
}

export const ANTHROPIC_USAGE: AnthropicUsage = { input_tokens: 20, output_tokens: 7 };

function wantsTool(body: Record<string, any>, behavior?: { noTools?: boolean }): boolean {
  if (behavior?.noTools) return false;
  const last = body.messages?.at(-1);
  const lastIsResult = Array.isArray(last?.content) && last.content.some((b: any) => b.type === "tool_result");
  return Array.isArray(body.tools) && body.tools.length > 0 && !lastIsResult;
}

function contentOf(body: Record<string, any>, text: string, noTools = false): Array<Record<string, unknown>> {
  if (wantsTool(body, { noTools })) return [{ type: "tool_use", id: "toolu_fake_1", name: body.tools[0].name, input: { city: "Paris" } }];
  return [{ type: "text", text }];
}

function event(res: ServerResponse, type: string, data: Record<string, unknown>): void {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

function stream(res: ServerResponse, body: Record<string, any>, text: string, usage: AnthropicUsage, stopReason: string, noTools: boolean): void {
  res.writeHead(200, { "content-type": "text/event-stream" });
  const { output_tokens, ...input } = usage;
  event(res, "message_start", { message: { id: "msg_fake_1", type: "message", role: "assistant", model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...input, output_tokens: 1 } } });
  event(res, "ping", {});
  contentOf(body, text, noTools).forEach((block, index) => {
    if (block.type === "tool_use") {
      event(res, "content_block_start", { index, content_block: { ...block, input: {} } });
      const json = JSON.stringify(block.input);
      for (const piece of [json.slice(0, 5), json.slice(5)]) event(res, "content_block_delta", { index, delta: { type: "input_json_delta", partial_json: piece } });
    } else {
      event(res, "content_block_start", { index, content_block: { type: "text", text: "" } });
      for (const piece of text.split(/(?<= )/)) event(res, "content_block_delta", { index, delta: { type: "text_delta", text: piece } });
    }
    event(res, "content_block_stop", { index });
  });
  event(res, "message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens, ...(usage.server_tool_use ? { server_tool_use: usage.server_tool_use } : {}) } });
  event(res, "message_stop", {});
  res.end();
}

export async function startFakeAnthropic(behave?: FakeAnthropic["behave"]): Promise<FakeAnthropic> {
  const requests: AnthropicReceived[] = [];
  const fake: FakeAnthropic = { baseUrl: "", requests, behave: behave ?? (() => ({ kind: "answer" })), close: async () => {} };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as Record<string, any>;
    const received: AnthropicReceived = { path: req.url ?? "", headers: req.headers, body };
    requests.push(received);
    if (req.headers["x-api-key"] === undefined || req.headers["anthropic-version"] === undefined) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(JSON.stringify({ type: "error", error: { type: "authentication_error", message: "x-api-key and anthropic-version are required" } }));
    }
    if (req.url?.startsWith("/v1/messages/count_tokens")) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ input_tokens: 42 }));
    }
    const behavior = fake.behave(received);
    if (behavior.kind === "error") {
      res.writeHead(behavior.status, { "content-type": "application/json", "request-id": "req_fake" });
      return res.end(JSON.stringify({ type: "error", error: { type: behavior.type, message: behavior.message } }));
    }
    const text = behavior.text ?? "Hello from the fake Claude.";
    const usage = behavior.usage ?? ANTHROPIC_USAGE;
    const noTools = behavior.noTools === true;
    const stopReason = behavior.stopReason ?? (wantsTool(body, behavior) ? "tool_use" : "end_turn");
    if (body.stream === true) return stream(res, body, text, usage, stopReason, noTools);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: "msg_fake_1", type: "message", role: "assistant", model: body.model, content: contentOf(body, text, noTools), stop_reason: stopReason, stop_sequence: null, usage }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  fake.baseUrl = `http://127.0.0.1:${port}/v1`;
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}
