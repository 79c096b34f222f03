import type { ModelConfig, UpstreamProtocol } from "../config/schema.js";
import type { ChatBody } from "../request/parse.js";
import { translateError, type MessagesBody } from "../translate/anthropic.js";
import { completionAsMessage, messageAsCompletion } from "../translate/answers.js";
import { chatToMessages } from "../translate/chat-request.js";
import { messagesToChat } from "../translate/messages-request.js";
import { AnthropicAsChatChunks, ChatAsAnthropicEvents } from "../translate/streams.js";
import { AnthropicStreamReader } from "../usage/anthropic-stream.js";
import { ResponsesStreamReader } from "../usage/responses-stream.js";
import { StreamAccountant, type StreamReader } from "../usage/stream.js";
import { chatShape } from "./chat.js";
import type { EndpointShape, RequestBody } from "./shape.js";

/**
 * How a request of one endpoint reaches an upstream of a given protocol and how its answer comes
 * back: as it is when the two speak the same API, translated both ways between OpenAI chat and
 * Anthropic messages when they do not. The accounting always reads the upstream's own dialect.
 */
export interface Wire<B extends RequestBody = RequestBody> {
  /** Path under the upstream's base URL. */
  path: string;
  /** Throws the 400 naming a field the upstream's API has no counterpart for. */
  check(body: B): void;
  /** The body the upstream receives; `maxTokens` is what the request was held for (Anthropic needs a limit). */
  request(body: B, model: ModelConfig, upstreamModel: string, maxTokens: number): Record<string, unknown>;
  /** Reads the upstream's stream and writes the client's. */
  reader(clientWantsUsage: boolean, created: number, onChunk?: (chunk: Record<string, unknown>) => void): StreamReader;
  /** A whole answer, as the client's API has it. */
  answer(text: string, created: number): string;
  /** An upstream error body, as the client's API has it. */
  error(text: string, status: number): string;
}

function native<B extends RequestBody>(shape: EndpointShape<B>): Wire<B> {
  return {
    path: shape.path,
    check: () => undefined,
    request: (body, model, upstreamModel) => shape.adapt(body, model, upstreamModel),
    reader(clientWantsUsage, _created, onChunk) {
      if (shape.streamDialect === "responses") return new ResponsesStreamReader();
      if (shape.streamDialect === "anthropic") return new AnthropicStreamReader();
      return new StreamAccountant(clientWantsUsage, onChunk);
    },
    answer: (text) => text,
    error: (text) => text,
  };
}

const chatOverAnthropic: Wire<ChatBody> = {
  path: "/messages",
  check: (body) => void chatToMessages(body, 1),
  request: (body, model, upstreamModel, maxTokens) => chatToMessages(chatShape.adapt(body, model, upstreamModel) as ChatBody, maxTokens),
  reader: (clientWantsUsage, created, onChunk) => new AnthropicAsChatChunks(clientWantsUsage, created, onChunk),
  answer: (text, created) => messageAsCompletion(text, created),
  error: (text, status) => translateError(text, status, "openai"),
};

const messagesOverOpenAI: Wire<MessagesBody> = {
  path: "/chat/completions",
  check: (body) => void messagesToChat(body),
  request: (body, model, upstreamModel) => chatShape.adapt(messagesToChat({ ...body, model: upstreamModel }), model, upstreamModel),
  reader: () => new ChatAsAnthropicEvents(),
  answer: (text) => completionAsMessage(text),
  error: (text, status) => translateError(text, status, "anthropic"),
};

/** Each endpoint's native wire, made once (every request asks for it). */
const natives = new WeakMap<object, Wire>();

/**
 * The wire between an endpoint and an upstream protocol; undefined when there is none (the
 * Responses, completions and embeddings APIs have no Anthropic counterpart).
 */
export function wireFor<B extends RequestBody>(shape: EndpointShape<B>, protocol: UpstreamProtocol): Wire<B> | undefined {
  if (shape.protocol === protocol) {
    let wire = natives.get(shape);
    if (!wire) natives.set(shape, (wire = native(shape) as unknown as Wire));
    return wire as unknown as Wire<B>;
  }
  if (shape.name === "chat.completions") return chatOverAnthropic as unknown as Wire<B>;
  if (shape.name === "messages") return messagesOverOpenAI as unknown as Wire<B>;
  return undefined;
}
