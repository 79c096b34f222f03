import { anthropicUsageOf, chatUsageOf, finishReasonOf, stopReasonOf, type AnthropicAnswer, type AnthropicBlock } from "./anthropic.js";

/**
 * Whole (non-streamed) answers from one API in the other's shape. The text is translated only
 * after the upstream's own answer was read for its usage, so the accounting never depends on it.
 */

/** An Anthropic message as an OpenAI chat completion, `created` in seconds. */
export function messageAsCompletion(text: string, created: number): string {
  const message = JSON.parse(text) as AnthropicAnswer;
  const content = message.content ?? [];
  const texts = content.filter((b) => b.type === "text").map((b) => String(b.text));
  const calls = content
    .filter((b) => b.type === "tool_use")
    .map((b) => ({ id: b.id, type: "function", function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }));
  const reply: Record<string, unknown> = { role: "assistant", content: texts.length > 0 ? texts.join("") : null, refusal: null };
  if (calls.length > 0) reply.tool_calls = calls;
  return JSON.stringify({
    id: message.id,
    object: "chat.completion",
    created,
    model: message.model,
    choices: [{ index: 0, message: reply, finish_reason: finishReasonOf(message.stop_reason), logprobs: null }],
    usage: chatUsageOf(message.usage),
  });
}

interface Completion {
  id?: unknown;
  model?: unknown;
  choices?: Array<{ message?: { content?: unknown; tool_calls?: Array<{ id?: unknown; function?: { name?: unknown; arguments?: unknown } }> }; finish_reason?: unknown }>;
  usage?: Record<string, unknown>;
}

/** An OpenAI chat completion as an Anthropic message. */
export function completionAsMessage(text: string): string {
  const completion = JSON.parse(text) as Completion;
  const choice = completion.choices?.[0];
  const content: AnthropicBlock[] = [];
  if (typeof choice?.message?.content === "string" && choice.message.content !== "") content.push({ type: "text", text: choice.message.content });
  for (const call of choice?.message?.tool_calls ?? []) content.push({ type: "tool_use", id: call.id, name: call.function?.name, input: parseInput(call.function?.arguments) });
  const answer: AnthropicAnswer = {
    id: String(completion.id ?? ""),
    type: "message",
    role: "assistant",
    model: String(completion.model ?? ""),
    content,
    stop_reason: stopReasonOf(choice?.finish_reason) ?? "end_turn",
    stop_sequence: null,
    usage: anthropicUsageOf(completion.usage),
  };
  return JSON.stringify(answer);
}

/** A tool call's arguments as a tool_use input; arguments a model left unparsable are kept as their text. */
export function parseInput(args: unknown): unknown {
  if (typeof args !== "string" || args === "") return {};
  try {
    return JSON.parse(args);
  } catch {
    return { arguments: args };
  }
}
