import { ProxyError } from "../errors.js";
import { eventData, SseSplitter, sseEvent } from "../upstream/sse.js";
import { readUsage, type TokenUsage } from "../pricing/cost.js";
import type { AnswerCharges } from "./charges.js";

/** What the relay needs of a stream's dialect: what to forward, what was used, whether it ended whole. */
export interface StreamReader {
  /** What of `chunk` goes to the client, possibly nothing yet. */
  transform(chunk: string): string;
  /** The unterminated tail at the end of the stream. */
  flush(): string;
  usage: TokenUsage | undefined;
  /** The stream said it was complete (`[DONE]`, `response.completed`). */
  readonly sawEnd: boolean;
  readonly outputText: readonly string[];
  /** The id of the answer (a Responses API response), when the stream names one. */
  readonly responseId?: string;
  /** What the stream said the answer was billed for besides its usage. */
  readonly charges: AnswerCharges;
  /** The event that tells the client the stream broke, in the dialect its SDK raises. */
  brokenEvent(message: string): string;
}

/**
 * Reads an OpenAI chat completion stream as it passes through: captures the usage chunk,
 * keeps the streamed text for a local count when usage never comes, notes `[DONE]`, and removes
 * the usage traces the proxy asked for on the client's behalf (SPEC 6).
 */
export class StreamAccountant implements StreamReader {
  private readonly splitter = new SseSplitter();
  usage: TokenUsage | undefined;
  sawDone = false;
  /** The upstream's model name, from the first chunk. */
  model: string | undefined;
  /** The completion's id, from the first chunk (a stored completion is found by it). */
  responseId: string | undefined;
  /** Streamed text (content, tool-call arguments, refusals) for counting when usage is missing. */
  readonly outputText: string[] = [];
  readonly charges: AnswerCharges = {};

  constructor(
    private readonly clientWantsUsage: boolean,
    /** Sees every parsed chunk before it is forwarded (the response cache assembles the answer). */
    private readonly onChunk?: (chunk: Record<string, unknown>) => void,
  ) {}

  /** What of `chunk` goes to the client, possibly nothing yet. */
  transform(chunk: string): string {
    const events = this.splitter.push(chunk);
    let out = "";
    for (const event of events) {
      const kept = this.inspect(event);
      if (kept !== null) out += `${kept}\n\n`;
    }
    return out;
  }

  /** The unterminated tail at the end of the stream, forwarded as is. */
  flush(): string {
    return this.splitter.rest();
  }

  get sawEnd(): boolean {
    return this.sawDone;
  }

  brokenEvent(message: string): string {
    return sseEvent(JSON.stringify(new ProxyError("upstream_stream_broken", message).toBody()));
  }

  private inspect(event: string): string | null {
    const data = eventData(event);
    if (data === undefined) return event;
    if (data === "[DONE]") {
      this.sawDone = true;
      return event;
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return event;
    }
    if (parsed === null || typeof parsed !== "object") return event;
    if (this.model === undefined && typeof parsed.model === "string") this.model = parsed.model;
    if (this.responseId === undefined && typeof parsed.id === "string") this.responseId = parsed.id;
    if (typeof parsed.service_tier === "string") this.charges.serviceTier = parsed.service_tier;
    this.onChunk?.(parsed);
    this.collectText(parsed.choices);
    if (!("usage" in parsed)) return event;
    const usage = readUsage(parsed.usage);
    if (usage) this.usage = usage;
    if (this.clientWantsUsage) return event;
    if (Array.isArray(parsed.choices) && parsed.choices.length === 0) return null;
    delete parsed.usage;
    return `data: ${JSON.stringify(parsed)}`;
  }

  private collectText(choices: unknown): void {
    if (!Array.isArray(choices)) return;
    for (const choice of choices) {
      // Legacy completions stream their text as `choices[].text`.
      const text = (choice as { text?: unknown } | null)?.text;
      if (typeof text === "string") this.outputText.push(text);
      const delta = (choice as { delta?: Record<string, unknown> } | null)?.delta;
      if (!delta) continue;
      if (typeof delta.content === "string") this.outputText.push(delta.content);
      if (typeof delta.refusal === "string") this.outputText.push(delta.refusal);
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls as Array<{ function?: { name?: unknown; arguments?: unknown } }>) {
          if (typeof call?.function?.name === "string") this.outputText.push(call.function.name);
          if (typeof call?.function?.arguments === "string") this.outputText.push(call.function.arguments);
        }
      }
    }
  }
}
