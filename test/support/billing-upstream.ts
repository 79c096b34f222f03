import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getEncoding } from "js-tiktoken";

/**
 * A fake upstream that bills as OpenAI does, written from its published prices and usage shapes,
 * not from tollgate's code: priority at twice the token prices and flex at half (and the answer
 * names the tier); audio tokens at audio prices, 10 a second of input and 20 of output; a fee per
 * web search with its search content read as input; images by the tile formula; background
 * responses billed when they finish; conversations whose items are input of every turn; reasoning
 * that goes on (and is billed) after the client leaves. Every bill is kept by the request's `user`.
 */

export interface BilledModel {
  input: number;
  output: number;
  input_audio?: number;
  output_audio?: number;
  /** USD per web search. */
  web_search?: number;
  reasoning?: boolean;
}

export interface BillingUpstream {
  baseUrl: string;
  /** USD billed per `user` tag. */
  billed: Map<string, number>;
  /** Streams waiting to go on (the reasoning row): resolved by the test. */
  resume(): void;
  /** Requests received per `user` tag. */
  received: Map<string, number>;
  close(): Promise<void>;
}

const enc = getEncoding("o200k_base");
const tokens = (text: string) => enc.encode(text, [], []).length;
const TIERS: Record<string, number> = { priority: 2, flex: 0.5 };
/** Search content each search reads, in input tokens. */
export const SEARCH_CONTENT_TOKENS = 5000;
/** Searches a Responses web search makes when nothing limits it. */
const SEARCHES_WANTED = 12;

/** 85 + 170 per 512px tile, after fitting 2048×2048 and a shorter side of 768 (gpt-4o, high detail). */
function tileTokens(width: number, height: number): number {
  const fit = Math.min(1, 2048 / Math.max(width, height));
  let w = width * fit;
  let h = height * fit;
  const shorter = Math.min(w, h);
  if (shorter > 768) [w, h] = [(w * 768) / shorter, (h * 768) / shorter];
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** The size of an image: a PNG data URL's header, or what a remote image is said to be (its URL's `WxH`). */
function imageSize(url: string): [number, number] {
  if (url.startsWith("data:image/png;base64,")) {
    const bytes = Buffer.from(url.slice(22, 22 + 64), "base64");
    return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  }
  const size = /(\d+)x(\d+)/.exec(url);
  return size ? [Number(size[1]), Number(size[2])] : [2048, 768];
}

/** Seconds of a base64 WAV: its data chunk's size over its byte rate. */
function wavSeconds(data: string): number {
  const bytes = Buffer.from(data.slice(0, 64), "base64");
  return bytes.readUInt32LE(40) / bytes.readUInt32LE(28);
}

interface Input {
  text: number;
  audio: number;
}

/** Input tokens of chat messages: 3 per message, its role and texts, images by tiles, audio by duration; 3 to prime the reply. */
function chatInput(messages: Array<Record<string, any>>): Input {
  const input = { text: 3, audio: 0 };
  for (const m of messages) {
    input.text += 3 + tokens(String(m.role));
    if (typeof m.content === "string") input.text += tokens(m.content);
    else
      for (const part of m.content ?? []) {
        if (part.type === "text") input.text += tokens(part.text);
        if (part.type === "image_url") input.text += part.image_url.detail === "low" ? 85 : tileTokens(...imageSize(part.image_url.url));
        if (part.type === "input_audio") input.audio += Math.ceil(wavSeconds(part.input_audio.data) * 10);
      }
  }
  return input;
}

function responsesInput(body: Record<string, any>): number {
  let text = 3 + (typeof body.instructions === "string" ? tokens(body.instructions) + 3 : 0);
  if (typeof body.input === "string") text += tokens(body.input) + 3;
  else for (const item of body.input ?? []) text += tokens(JSON.stringify(item.content ?? item)) + 3;
  return text;
}

export async function startBillingUpstream(models: Record<string, BilledModel>): Promise<BillingUpstream> {
  const billed = new Map<string, number>();
  const received = new Map<string, number>();
  const conversations = new Map<string, number>();
  const background = new Map<string, { user: string; finish: () => Record<string, unknown> }>();
  let resumeStreams!: () => void;
  let resumed = new Promise<void>((r) => (resumeStreams = r));
  let ids = 0;

  const bill = (user: string, usd: number) => billed.set(user, (billed.get(user) ?? 0) + usd);
  /** What a usage costs at `model`'s prices and the tier: tokens times the tier, plus the searches' fees. */
  const charge = (user: string, name: string, tier: string | undefined, u: { text: number; audio: number; outText: number; outAudio: number; searches: number }) => {
    const m = models[name]!;
    const tokensUsd = (u.text * m.input + u.audio * (m.input_audio ?? m.input) + u.outText * m.output + u.outAudio * (m.output_audio ?? m.output)) / 1e6;
    bill(user, tokensUsd * (TIERS[tier ?? ""] ?? 1) + u.searches * (m.web_search ?? 0));
  };

  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, any>) : {};
    const path = (req.url ?? "").replace(/^\/v1/, "");
    const user = String(body.user ?? "");
    received.set(user, (received.get(user) ?? 0) + 1);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };

    if (path === "/conversations" && req.method === "POST") {
      const id = `conv_${++ids}`;
      conversations.set(id, (body.items ?? []).reduce((n: number, item: any) => n + tokens(JSON.stringify(item.content)) + 3, 0));
      return json(200, { id, object: "conversation", created_at: 1_700_000_000, metadata: {} });
    }
    const retrieve = /^\/responses\/([^/?]+)$/.exec(path);
    if (retrieve && req.method === "GET") {
      const pending = background.get(retrieve[1]!);
      if (!pending) return json(404, { error: { message: "No response found", type: "invalid_request_error", param: null, code: null } });
      return json(200, pending.finish());
    }

    const model = String(body.model);
    const tier = typeof body.service_tier === "string" && body.service_tier !== "auto" ? body.service_tier : "default";
    if (path === "/chat/completions") {
      const input = chatInput(body.messages);
      const limit = body.max_completion_tokens ?? body.max_tokens ?? 16_384;
      const searches = body.web_search_options ? 1 : 0;
      input.text += searches * SEARCH_CONTENT_TOKENS;
      const audioOut = Array.isArray(body.modalities) && body.modalities.includes("audio");
      // The answer fills its limit: reasoning for a reasoning model, audio when asked for, else text.
      const outAudio = audioOut ? Math.floor(limit * 0.9) : 0;
      const completion = limit;
      charge(user, model, tier, { text: input.text, audio: input.audio, outText: completion - outAudio, outAudio, searches });
      const usage = {
        prompt_tokens: input.text + input.audio,
        completion_tokens: completion,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: input.audio },
        completion_tokens_details: { reasoning_tokens: models[model]!.reasoning ? completion - 2 : 0, audio_tokens: outAudio },
      };
      const id = `chatcmpl-${++ids}`;
      if (body.stream !== true) {
        return json(200, { id, object: "chat.completion", created: 1, model, service_tier: tier, choices: [{ index: 0, message: { role: "assistant", content: "Done." }, finish_reason: "stop" }], usage });
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const chunk = (fields: Record<string, unknown>) => res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 1, model, service_tier: tier, ...fields })}\n\n`);
      chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
      if (body.metadata?.row === "reasoning-left") {
        // Reasoning goes on after the client left: the rest, and the usage, come when the test says.
        chunk({ choices: [{ index: 0, delta: { content: "Thinking" }, finish_reason: null }] });
        await resumed;
      }
      if (body.metadata?.row === "long-unread") {
        // A long answer, as fast as the connection takes it: about one token per piece.
        for (let i = 0; i < completion; i += 500) chunk({ choices: [{ index: 0, delta: { content: " go".repeat(Math.min(500, completion - i)) }, finish_reason: null }] });
      } else chunk({ choices: [{ index: 0, delta: { content: "Done." }, finish_reason: null }] });
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
      if (body.stream_options?.include_usage && body.metadata?.row !== "no-usage") chunk({ choices: [], usage });
      res.end("data: [DONE]\n\n");
      return;
    }

    if (path === "/responses") {
      const prior = typeof body.conversation === "string" ? (conversations.get(body.conversation) ?? 0) : 0;
      let text = responsesInput(body) + prior;
      const hasSearch = (body.tools ?? []).some((t: any) => String(t.type).startsWith("web_search"));
      const searches = hasSearch ? Math.min(body.max_tool_calls ?? Infinity, SEARCHES_WANTED) : 0;
      text += searches * SEARCH_CONTENT_TOKENS;
      const completion = body.max_output_tokens ?? 16_384;
      const id = `resp_${++ids}`;
      const response = (status: string) => ({
        id,
        object: "response",
        created_at: 1,
        status,
        model,
        service_tier: tier,
        output: [
          ...Array.from({ length: status === "completed" ? searches : 0 }, (_, i) => ({ type: "web_search_call", id: `ws_${id}_${i}`, status: "completed" })),
          { type: "message", id: `msg_${id}`, role: "assistant", status: "completed", content: [{ type: "output_text", text: "Done.", annotations: [] }] },
        ],
        usage: status === "completed" ? { input_tokens: text, output_tokens: completion, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: text + completion } : null,
      });
      const finish = () => {
        charge(user, model, tier, { text, audio: 0, outText: completion, outAudio: 0, searches });
        if (typeof body.conversation === "string") conversations.set(body.conversation, text - searches * SEARCH_CONTENT_TOKENS + completion);
      };
      if (body.background === true) {
        let done = false;
        background.set(id, {
          user,
          finish: () => {
            // Billed once, when it finishes: the first time anyone looks after it was queued.
            if (!done) finish();
            done = true;
            return response("completed");
          },
        });
        return json(200, response("queued"));
      }
      finish();
      return json(200, response("completed"));
    }
    json(404, { error: { message: `no route ${path}`, type: "invalid_request_error", param: null, code: null } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    billed,
    received,
    resume: () => {
      resumeStreams();
      resumed = new Promise<void>((r) => (resumeStreams = r));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
