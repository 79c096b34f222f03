import { sseEvent } from "../upstream/sse.js";

/**
 * Replays a cached chat completion as a stream, chunk for chunk in the shape a live answer has:
 * a role chunk, the content, a finish chunk, the usage chunk when the client asked, `[DONE]`.
 */

interface CachedChoice {
  index: number;
  message: { role?: string; content?: string | null; refusal?: string | null; tool_calls?: unknown[] | null };
  finish_reason: string | null;
  logprobs?: unknown;
}

export interface CachedCompletion {
  id: string;
  created: number;
  model: string;
  system_fingerprint?: string | null;
  choices: CachedChoice[];
  usage?: unknown;
}

export function replayAsSse(completion: CachedCompletion, includeUsage: boolean): string {
  const base = { id: completion.id, object: "chat.completion.chunk", created: completion.created, model: completion.model, system_fingerprint: completion.system_fingerprint ?? null };
  const usageField = includeUsage ? { usage: null } : {};
  const events: unknown[] = [];
  for (const choice of completion.choices) {
    events.push({ ...base, choices: [{ index: choice.index, delta: { role: choice.message.role ?? "assistant", content: "" }, logprobs: null, finish_reason: null }], ...usageField });
    if (choice.message.content) {
      events.push({ ...base, choices: [{ index: choice.index, delta: { content: choice.message.content }, logprobs: null, finish_reason: null }], ...usageField });
    }
    if (choice.message.refusal) {
      events.push({ ...base, choices: [{ index: choice.index, delta: { refusal: choice.message.refusal }, logprobs: null, finish_reason: null }], ...usageField });
    }
    if (Array.isArray(choice.message.tool_calls) && choice.message.tool_calls.length > 0) {
      // A non-streamed answer's calls, in the streamed shape: each delta call carries its index.
      const toolCalls = choice.message.tool_calls.map((call, i) => ({ index: i, ...(call as object) }));
      events.push({ ...base, choices: [{ index: choice.index, delta: { tool_calls: toolCalls }, logprobs: null, finish_reason: null }], ...usageField });
    }
    events.push({ ...base, choices: [{ index: choice.index, delta: {}, logprobs: null, finish_reason: choice.finish_reason }], ...usageField });
  }
  if (includeUsage) events.push({ ...base, choices: [], usage: completion.usage ?? null });
  return events.map((e) => sseEvent(JSON.stringify(e))).join("") + sseEvent("[DONE]");
}
