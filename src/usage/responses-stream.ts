import { ForwardingReader } from "./forwarding-reader.js";
import { ProxyError } from "../errors.js";
import { readUsage, type TokenUsage } from "../pricing/cost.js";
import { eventData, sseEvent } from "../upstream/sse.js";
import type { StreamReader } from "./stream.js";
import { answerCharges, type AnswerCharges } from "./charges.js";

/**
 * Reads a Responses API stream as it passes through: named events (`event: response.output_text.delta`),
 * usage in the final `response.completed` (or `response.incomplete` / `response.failed`) event, and
 * the response's id for a later `previous_response_id`. Everything is forwarded as it came.
 */
export class ResponsesStreamReader extends ForwardingReader implements StreamReader {
  usage: TokenUsage | undefined;
  sawEnd = false;
  responseId: string | undefined;
  readonly outputText: string[] = [];
  charges: AnswerCharges = {};
  private sequence = 0;

  brokenEvent(message: string): string {
    const error = new ProxyError("upstream_stream_broken", message).toBody().error;
    // The Responses `error` event, with the OpenAI `error` object too, so every SDK raises it.
    return `event: error\n${sseEvent(JSON.stringify({ type: "error", code: error.code, message, param: null, sequence_number: this.sequence + 1, error }))}`;
  }

  protected inspect(event: string): void {
    const data = eventData(event);
    if (data === undefined) return;
    let parsed: { type?: unknown; delta?: unknown; sequence_number?: unknown; response?: { id?: unknown; usage?: unknown } };
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (parsed === null || typeof parsed !== "object") return;
    if (typeof parsed.sequence_number === "number") this.sequence = parsed.sequence_number;
    if (typeof parsed.response?.id === "string") this.responseId = parsed.response.id;
    // Searches are counted as they finish, so a stream cut before its end still bills them.
    if (parsed.type === "response.output_item.done" && (parsed as { item?: { type?: unknown } }).item?.type === "web_search_call") {
      this.charges = { ...this.charges, webSearches: (this.charges.webSearches ?? 0) + 1 };
    }
    if ((parsed.type === "response.output_text.delta" || parsed.type === "response.function_call_arguments.delta") && typeof parsed.delta === "string") {
      this.outputText.push(parsed.delta);
    }
    if (parsed.type === "response.completed" || parsed.type === "response.incomplete" || parsed.type === "response.failed") {
      this.sawEnd = true;
      const usage = readUsage(parsed.response?.usage);
      if (usage) this.usage = usage;
      this.charges = answerCharges(parsed.response);
    }
  }
}
