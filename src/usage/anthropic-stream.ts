import { ForwardingReader } from "./forwarding-reader.js";
import { ProxyError } from "../errors.js";
import { readAnthropicUsage, type TokenUsage } from "../pricing/cost.js";
import { eventData, sseEvent } from "../upstream/sse.js";
import { serverToolSearches, type AnswerCharges } from "./charges.js";
import type { StreamReader } from "./stream.js";

/**
 * Reads an Anthropic Messages stream as it passes through: named events (`message_start`,
 * `content_block_delta`, `message_delta`, `message_stop`, `ping`, `error`). The usage starts in
 * `message_start` (input and cache tokens) and grows in `message_delta` (output tokens, and the
 * input ones again when the API sends them); `message_stop` ends a whole stream. Everything is
 * forwarded as it came.
 */
export class AnthropicStreamReader extends ForwardingReader implements StreamReader {
  private raw: Record<string, unknown> | undefined;
  sawEnd = false;
  responseId: string | undefined;
  readonly outputText: string[] = [];
  charges: AnswerCharges = {};

  /** @param onEvent sees every parsed event (a translation to chat chunks builds on it). */
  constructor(private readonly onEvent?: (event: Record<string, unknown>) => void) {
    super();
  }

  get usage(): TokenUsage | undefined {
    return this.raw && readAnthropicUsage(this.raw);
  }

  brokenEvent(message: string): string {
    return anthropicErrorEvent(new ProxyError("upstream_stream_broken", message));
  }

  protected inspect(event: string): void {
    const data = eventData(event);
    if (data === undefined) return;
    let parsed: Record<string, any>;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (parsed === null || typeof parsed !== "object") return;
    if (parsed.type === "message_start") {
      if (typeof parsed.message?.id === "string") this.responseId = parsed.message.id;
      this.addUsage(parsed.message?.usage);
    } else if (parsed.type === "message_delta") this.addUsage(parsed.usage);
    else if (parsed.type === "message_stop") this.sawEnd = true;
    else if (parsed.type === "content_block_delta") {
      const delta = parsed.delta ?? {};
      const text = delta.text ?? delta.partial_json ?? delta.thinking;
      if (typeof text === "string") this.outputText.push(text);
    }
    this.onEvent?.(parsed);
  }

  /** Later counts replace earlier ones field by field: `message_delta`'s are cumulative. */
  private addUsage(usage: unknown): void {
    if (usage === null || typeof usage !== "object") return;
    const defined = Object.entries(usage as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined);
    this.raw = { ...this.raw, ...Object.fromEntries(defined) };
    const searches = serverToolSearches(this.raw);
    if (searches !== undefined) this.charges = { ...this.charges, webSearches: searches };
  }
}

/** A stream's `error` event, as the Anthropic SDKs raise it. */
export function anthropicErrorEvent(error: ProxyError): string {
  return `event: error\n${sseEvent(JSON.stringify(error.toAnthropicBody()))}`;
}
