import type { ModelConfig } from "../config/schema.js";
import type { ChatBody } from "../request/parse.js";

/** What every proxied request body has, whatever its endpoint. */
export interface RequestBody {
  model: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean; [field: string]: unknown } | null;
  [field: string]: unknown;
}

/**
 * How one OpenAI endpoint fits the pipeline: its body, how it reads as a chat prompt (for routing
 * and counting), where its output limit lives, and how a model receives it. The pipeline itself
 * (plan, hold, forward, relay, account) is the same for all of them.
 */
export interface EndpointShape<B extends RequestBody = RequestBody> {
  /** The usage record's `endpoint`, e.g. `chat.completions`. */
  name: string;
  /** Path under the upstream's base URL. */
  path: string;
  /** Validates a parsed JSON body (400 with the offending param otherwise). */
  validate(value: unknown): B;
  /** The body as a chat prompt: what routing reads and what is counted as input. */
  view(body: B): ChatBody;
  /** Chat only: the body is its view, so token reduction and context fit may rewrite it. */
  rewritable: boolean;
  outputLimit(body: B): number | undefined;
  withOutputLimit(body: B, tokens: number): B;
  /** Answers produced per request (`n`). */
  choices(body: B): number;
  /** The body as the routed model receives it. */
  adapt(body: B, model: ModelConfig, upstreamModel: string): Record<string, unknown>;
  /** The dialect of its streams: chat-style chunks with `[DONE]`, or the Responses or Messages API's named events. */
  streamDialect: "chat" | "responses" | "anthropic";
  /** The kind of model it is served by. */
  modelKind: "chat" | "embedding";
  /** The API the client speaks: its errors' format, and what a model on an upstream of the other one needs translated. */
  protocol: "openai" | "anthropic";
  /**
   * Whether the response cache serves it: `deterministic` requests only (`temperature: 0`, or
   * `x-tollgate-cache: on`), `always` (its answers are deterministic), or never.
   */
  cache: "deterministic" | "always" | "never";
}

/** The output limit the client set, whichever field it used. */
export const positiveInt = (value: unknown): number | undefined => (typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined);

/**
 * The chat side of a rewritable endpoint: its body is the chat body itself (`rewritable`), so its
 * values are chat values; the steps only chat takes (token reduction, context fit, compression,
 * micro-batches) see them so. This is the one place that is said to the compiler; any other
 * endpoint gets undefined.
 */
export function chatSide<B extends RequestBody>(shape: EndpointShape<B>) {
  if (!shape.rewritable) return undefined;
  return {
    toChat: (body: B) => body as unknown as ChatBody,
    fromChat: (body: ChatBody) => body as unknown as B,
    /** A value holding the body (a request, a prepared request), seen as holding the chat body. */
    holding: <T extends { body: B }>(value: T) => value as unknown as Omit<T, "body"> & { body: ChatBody },
  };
}
