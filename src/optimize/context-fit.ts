import { ProxyError } from "../errors.js";
import type { ChatMessage } from "../request/parse.js";

export interface ContextFit {
  messages: ChatMessage[];
  dropped: number;
  /** Prompt tokens after fitting. */
  promptTokens: number;
}

/**
 * Groups that must be dropped together: an assistant message that calls tools and the tool
 * results answering it form one group; every other message is a group of its own.
 */
function groupsOf(messages: ChatMessage[]): number[][] {
  const groups: number[][] = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    const last = groups.at(-1);
    const answersCall = (message.role === "tool" || message.role === "function") && last && last.length > 0 && (messages[last[0]!]!.tool_calls != null || messages[last[0]!]!.function_call != null);
    if (answersCall) last.push(i);
    else groups.push([i]);
  }
  return groups;
}

/**
 * Fits a prompt into `limit` tokens (SPEC 8): drops the oldest messages first, never a system or
 * developer message, never the last user message, and never a tool call without its results.
 * `tokensOf(i)` is message i's token count (cached by the counter); `fixed` covers the reply
 * primer and tools. Throws 400 `context_length_exceeded` when even that is not enough.
 */
export function fitContext(messages: ChatMessage[], tokensOf: number[], fixed: number, limit: number): ContextFit {
  let total = fixed + tokensOf.reduce((a, b) => a + b, 0);
  if (total <= limit) return { messages, dropped: 0, promptTokens: total };
  let lastUser = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === "user") {
      lastUser = i;
      break;
    }
  }
  const keep = new Array<boolean>(messages.length).fill(true);
  let dropped = 0;
  for (const group of groupsOf(messages)) {
    if (total <= limit) break;
    const protectedGroup = group.some((i) => i === lastUser || messages[i]!.role === "system" || messages[i]!.role === "developer");
    if (protectedGroup || group.includes(messages.length - 1)) continue;
    for (const i of group) {
      keep[i] = false;
      total -= tokensOf[i]!;
      dropped++;
    }
  }
  if (total > limit) {
    throw new ProxyError(
      "context_length_exceeded",
      `This request needs ${total} prompt tokens after dropping ${dropped} older messages, more than the ${limit} the model's context window leaves after reserving room for the answer. Shorten the system prompt or the last message.`,
      "messages",
    );
  }
  return { messages: messages.filter((_, i) => keep[i]), dropped, promptTokens: total };
}
