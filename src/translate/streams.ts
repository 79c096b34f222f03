import { ProxyError } from "../errors.js";
import { AnthropicStreamReader, anthropicErrorEvent } from "../usage/anthropic-stream.js";
import { StreamAccountant, type StreamReader } from "../usage/stream.js";
import { anthropicUsageOf, finishReasonOf, stopReasonOf } from "./anthropic.js";
import { sseEvent } from "../upstream/sse.js";

/**
 * Streams from one API in the other's dialect, as they arrive. Each wraps the reader of the
 * upstream's own dialect, which does the accounting (usage, text, the end), and writes what the
 * client's SDK expects from what that reader saw. A stream that breaks ends with the client
 * dialect's error event (the relay asks `brokenEvent`).
 */

/**
 * What both translations share: the accounting is the inner reader's (usage, text, the end, the
 * charges), and what the client reads is what the translation wrote since the last call.
 */
abstract class Translation<Inner extends StreamReader> {
  protected abstract readonly inner: Inner;
  protected out = "";

  get usage() {
    return this.inner.usage;
  }
  get sawEnd() {
    return this.inner.sawEnd;
  }
  get outputText() {
    return this.inner.outputText;
  }
  get charges() {
    return this.inner.charges;
  }
  get responseId() {
    return this.inner.responseId;
  }

  /** What was written since the last call, taken. */
  protected take(): string {
    const out = this.out;
    this.out = "";
    return out;
  }
}

/** OpenAI chat chunks, written as Anthropic's named events for a Messages client. */
export class ChatAsAnthropicEvents extends Translation<StreamAccountant> implements StreamReader {
  protected readonly inner = new StreamAccountant(true, (chunk) => this.onChunk(chunk));
  private started = false;
  private finished = false;
  private index = -1;
  private open: { kind: "text" } | { kind: "tool"; call: number } | undefined;
  private stopReason: string | null = null;
  private usageSeen: Record<string, unknown> | undefined;

  transform(chunk: string): string {
    this.inner.transform(chunk);
    if (this.inner.sawEnd && !this.finished) this.finish();
    return this.take();
  }

  /** An unterminated tail is part of a cut stream: the error event follows instead. */
  flush(): string {
    this.inner.flush();
    return "";
  }

  brokenEvent(message: string): string {
    return anthropicErrorEvent(new ProxyError("upstream_stream_broken", message));
  }

  private emit(type: string, data: Record<string, unknown>): void {
    this.out += `event: ${type}\n${sseEvent(JSON.stringify({ type, ...data }))}`;
  }

  private onChunk(chunk: Record<string, any>): void {
    if (!this.started) {
      this.started = true;
      const message = { id: chunk.id, type: "message", role: "assistant", model: chunk.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } };
      this.emit("message_start", { message });
    }
    if (chunk.usage) this.usageSeen = chunk.usage;
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    const delta = choice?.delta ?? {};
    if (typeof delta.content === "string" && delta.content !== "") {
      if (this.open?.kind !== "text") this.startBlock({ kind: "text" }, { type: "text", text: "" });
      this.emit("content_block_delta", { index: this.index, delta: { type: "text_delta", text: delta.content } });
    }
    for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      const number = typeof call.index === "number" ? call.index : 0;
      if (this.open?.kind !== "tool" || this.open.call !== number) {
        this.startBlock({ kind: "tool", call: number }, { type: "tool_use", id: call.id, name: call.function?.name, input: {} });
      }
      const args = call.function?.arguments;
      if (typeof args === "string" && args !== "") this.emit("content_block_delta", { index: this.index, delta: { type: "input_json_delta", partial_json: args } });
    }
    if (choice?.finish_reason) this.stopReason = stopReasonOf(choice.finish_reason);
  }

  private startBlock(open: NonNullable<ChatAsAnthropicEvents["open"]>, block: Record<string, unknown>): void {
    this.closeBlock();
    this.open = open;
    this.emit("content_block_start", { index: ++this.index, content_block: block });
  }

  private closeBlock(): void {
    if (this.open) this.emit("content_block_stop", { index: this.index });
    this.open = undefined;
  }

  private finish(): void {
    this.finished = true;
    this.closeBlock();
    this.emit("message_delta", { delta: { stop_reason: this.stopReason ?? "end_turn", stop_sequence: null }, usage: anthropicUsageOf(this.usageSeen) });
    this.emit("message_stop", {});
  }
}

/** Anthropic's named events, written as OpenAI chat chunks for a chat client. */
export class AnthropicAsChatChunks extends Translation<AnthropicStreamReader> implements StreamReader {
  protected readonly inner = new AnthropicStreamReader((event) => this.onEvent(event));
  private id = "";
  private model = "";
  private readonly tools = new Map<number, number>();

  /**
   * @param created the chunks' `created` (seconds)
   * @param onChunk sees every chunk written (the response cache assembles the answer)
   */
  constructor(
    private readonly clientWantsUsage: boolean,
    private readonly created: number,
    private readonly onChunk?: (chunk: Record<string, unknown>) => void,
  ) {
    super();
  }

  transform(chunk: string): string {
    this.inner.transform(chunk);
    return this.take();
  }

  flush(): string {
    this.inner.flush();
    return "";
  }

  brokenEvent(message: string): string {
    return sseEvent(JSON.stringify(new ProxyError("upstream_stream_broken", message).toBody()));
  }

  private write(choices: unknown[], extra: Record<string, unknown> = {}): void {
    const chunk = { id: this.id, object: "chat.completion.chunk", created: this.created, model: this.model, choices, ...extra };
    this.onChunk?.(chunk);
    this.out += sseEvent(JSON.stringify(chunk));
  }

  private delta(delta: Record<string, unknown>, finish: string | null = null): void {
    this.write([{ index: 0, delta, logprobs: null, finish_reason: finish }]);
  }

  private onEvent(event: Record<string, any>): void {
    switch (event.type) {
      case "message_start":
        this.id = String(event.message?.id ?? "");
        this.model = String(event.message?.model ?? "");
        return this.delta({ role: "assistant", content: "" });
      case "content_block_start":
        if (event.content_block?.type !== "tool_use") return;
        this.tools.set(event.index, this.tools.size);
        return this.delta({ tool_calls: [{ index: this.tools.get(event.index), id: event.content_block.id, type: "function", function: { name: event.content_block.name, arguments: "" } }] });
      case "content_block_delta":
        if (event.delta?.type === "text_delta") return this.delta({ content: event.delta.text });
        if (event.delta?.type === "input_json_delta") return this.delta({ tool_calls: [{ index: this.tools.get(event.index) ?? 0, function: { arguments: event.delta.partial_json } }] });
        return;
      case "message_delta":
        return this.delta({}, finishReasonOf(event.delta?.stop_reason) ?? "stop");
      case "message_stop": {
        const usage = this.inner.usage;
        if (this.clientWantsUsage && usage) {
          const total = usage.promptTokens + usage.completionTokens;
          this.write([], { usage: { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: total, prompt_tokens_details: { cached_tokens: usage.cachedTokens } } });
        }
        this.out += "data: [DONE]\n\n";
        return;
      }
    }
  }
}
