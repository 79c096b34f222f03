import type { ModelConfig } from "../config/schema.js";
import { tokensCost, type Nano } from "../money.js";

/**
 * What a realtime session's next response can cost at most, from the events that pass through it.
 * Every response reads the whole conversation as input: what the last `response.done` said it had
 * read and written, plus what the client added since (items, audio, instructions and tools). Text
 * is bounded by its UTF-8 bytes (a token is at least one byte), and audio at 20 tokens a second (OpenAI bills one per 50 ms of assistant audio, one per 100 ms of the
 * user's). The output is the response's limit, else the session's, else the model's.
 */

/** Audio tokens per second, at the dearer of the two rates OpenAI publishes. */
const AUDIO_TOKENS_PER_SECOND = 20;
/** pcm16 at 24 kHz, the realtime API's default input format: bytes per second of audio. */
const PCM16_BYTES_PER_SECOND = 48_000;

type Event = Record<string, unknown>;

const bytes = (value: unknown) => (value === undefined || value === null ? 0 : Buffer.byteLength(typeof value === "string" ? value : JSON.stringify(value)));
const outputLimit = (value: unknown) => (typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined);

export class RealtimeMeter {
  /** Input and output tokens of the conversation as of the last response. */
  private context = 0;
  /** Tokens added since (upper bounds). */
  private added = 0;
  private sessionOutputLimit: number | undefined;

  constructor(private readonly model: ModelConfig) {}

  /** Reads an event the client sends, for what it adds to the conversation. */
  fromClient(event: Event): void {
    switch (event.type) {
      case "session.update": {
        const session = (event.session ?? {}) as Event;
        this.added += bytes(session.instructions) + bytes(session.tools);
        const limit = session.max_response_output_tokens ?? (session.audio as Event | undefined)?.max_output_tokens ?? session.max_output_tokens;
        this.sessionOutputLimit = outputLimit(limit) ?? this.sessionOutputLimit;
        break;
      }
      case "conversation.item.create":
        this.added += bytes(event.item);
        break;
      case "input_audio_buffer.append": {
        // Base64: three bytes of audio for four characters.
        const audioBytes = (String(event.audio ?? "").length * 3) / 4;
        this.added += Math.ceil((audioBytes / PCM16_BYTES_PER_SECOND) * AUDIO_TOKENS_PER_SECOND);
        break;
      }
    }
  }

  /** The worst case of the response a `response.create` asks for. */
  worstCase(event: Event): Nano {
    const response = (event.response ?? {}) as Event;
    const input = this.context + this.added + bytes(response.instructions) + bytes(response.input);
    const output = outputLimit(response.max_output_tokens) ?? outputLimit(response.max_response_output_tokens) ?? this.sessionOutputLimit ?? this.model.max_output_tokens ?? 4096;
    const price = this.model.price;
    const inputRate = Math.max(price.input, price.input_audio ?? 0);
    const outputRate = Math.max(price.output, price.output_audio ?? 0);
    return tokensCost(input, inputRate) + tokensCost(output, outputRate);
  }

  /** A response is over: the conversation now holds what it read and wrote. */
  responseDone(usage: { input_tokens?: unknown; output_tokens?: unknown } | undefined): void {
    const read = typeof usage?.input_tokens === "number" ? usage.input_tokens : undefined;
    const written = typeof usage?.output_tokens === "number" ? usage.output_tokens : 0;
    if (read === undefined) return;
    this.context = read + written;
    this.added = 0;
  }
}
