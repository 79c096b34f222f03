import type { CachedCompletion } from "./replay.js";

interface ChoiceState {
  role: string;
  content: string;
  refusal: string;
  finish: string | null;
}

/**
 * Rebuilds a chat completion from the chunks of a live stream, so a streamed answer can be
 * cached and later served to either kind of client. Answers with tool calls or log probabilities
 * are not rebuilt (they are not cached).
 */
export class CompletionAssembler {
  private readonly choices = new Map<number, ChoiceState>();
  private head: { id: string; created: number; model: string; system_fingerprint: string | null } | undefined;
  private usage: unknown;
  private unsupported = false;

  add(chunk: Record<string, unknown>): void {
    if (!this.head && typeof chunk.id === "string") {
      this.head = {
        id: chunk.id,
        created: typeof chunk.created === "number" ? chunk.created : 0,
        model: typeof chunk.model === "string" ? chunk.model : "",
        system_fingerprint: typeof chunk.system_fingerprint === "string" ? chunk.system_fingerprint : null,
      };
    }
    if (chunk.usage) this.usage = chunk.usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const raw of chunk.choices as Array<Record<string, any>>) {
      const index = typeof raw?.index === "number" ? raw.index : 0;
      let state = this.choices.get(index);
      if (!state) this.choices.set(index, (state = { role: "assistant", content: "", refusal: "", finish: null }));
      const delta = raw?.delta ?? {};
      if (delta.tool_calls || delta.function_call || raw?.logprobs) this.unsupported = true;
      if (typeof delta.role === "string") state.role = delta.role;
      if (typeof delta.content === "string") state.content += delta.content;
      if (typeof delta.refusal === "string") state.refusal += delta.refusal;
      if (typeof raw?.finish_reason === "string") state.finish = raw.finish_reason;
    }
  }

  /** The whole answer, or undefined when it cannot be cached. */
  result(): CachedCompletion | undefined {
    if (this.unsupported || !this.head || this.choices.size === 0 || !this.usage) return undefined;
    return {
      ...this.head,
      choices: [...this.choices.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, s]) => ({ index, message: { role: s.role, content: s.content, refusal: s.refusal || null }, finish_reason: s.finish, logprobs: null })),
      usage: this.usage,
    };
  }

  /** As a non-streamed chat.completion body. */
  json(): string | undefined {
    const completion = this.result();
    return completion && JSON.stringify({ ...completion, object: "chat.completion" });
  }
}
