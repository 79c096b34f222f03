import { createHash } from "node:crypto";
import type { Config, ModelConfig } from "../config/schema.js";
import type { KeyValueStore } from "../budget/interface.js";
import type { Logger } from "../log.js";
import { inputCost } from "../pricing/cost.js";
import { requestCost } from "../pricing/estimate.js";
import type { ChatBody, ChatMessage } from "../request/parse.js";
import { countMessagesTokens } from "../tokens/messages.js";
import { sum } from "../tokens/request.js";

/**
 * Context compression by summary (the article's ContextCompressor, as a gateway feature). The
 * older turns of a long conversation, all but the last `keep_turns`, are replaced by one summary
 * written by the economy tier's model. The summary is kept in the store under the conversation and
 * the exact prefix it replaced, so every replica reuses it on the next turns; a new one (a summary
 * of the summary and what came after) is made only once the unsummarized middle has grown past
 * half the trigger. Whether to compress is decided by cost: the input saved over the next turns
 * must beat the summary call. Any failure leaves the request as it was (context fit then drops
 * the oldest messages as before): the client never sees an error from compression.
 */

export type CompressMode = "on" | "off" | undefined;

export interface CompressDeps {
  config: Config;
  store: KeyValueStore;
  logger: Logger;
  /** Sends the summary request through the proxy's own pipeline (budget, record) as the caller. */
  summarize(body: ChatBody): Promise<string | undefined>;
  economyModel: ModelConfig | undefined;
}

export interface Compressed {
  body: ChatBody;
  /** Prompt tokens before and after (o200k, messages only). */
  before: number;
  after: number;
  /** True when this request paid for a new summary. */
  newSummary: boolean;
}

interface StoredSummary {
  /** Messages of the conversation the summary replaces, from the first. */
  prefixLen: number;
  prefixHash: string;
  summary: string;
  /** How many summaries of summaries led to it. */
  depth: number;
}

/** Turns after this one are expected to resend the conversation: the saving is counted over them. */
const EXPECTED_TURNS = 3;
const MAX_DEPTH = 4;
const SUMMARY_TTL_MS = 24 * 3600 * 1000;
/** What a summary should come to, as a share of what it replaces. */
const TARGET_RATIO = 0.2;
export const SUMMARY_PREFIX = "Summary of the earlier conversation:\n";

export function readCompressHeader(value: string | undefined): CompressMode {
  if (value === undefined || value === "") return undefined;
  const mode = value.trim().toLowerCase();
  return mode === "on" || mode === "off" ? mode : undefined;
}

const hashOf = (messages: readonly ChatMessage[]) => createHash("sha256").update(JSON.stringify(messages)).digest("base64url");

/** The conversation's identity: its system prompts and first user message. */
function conversationKey(messages: readonly ChatMessage[]): string {
  const firstUser = messages.findIndex((m) => m.role === "user");
  return `compress:${hashOf(messages.slice(0, firstUser + 1))}`;
}

/** Where the kept tail starts: the last `keep` messages, moved back so no tool result is parted from its call. */
function tailStart(messages: readonly ChatMessage[], keep: number): number {
  let start = Math.max(0, messages.length - keep);
  while (start > 0 && (messages[start]!.role === "tool" || messages[start]!.role === "function")) start--;
  return start;
}

function transcript(messages: readonly ChatMessage[]): string {
  return messages
    .map((m) => {
      const content = typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? "");
      const calls = m.tool_calls ? ` [tool calls: ${JSON.stringify(m.tool_calls)}]` : "";
      return `${m.role}: ${content}${calls}`;
    })
    .join("\n\n");
}

export function summaryRequest(model: string, text: string, targetTokens: number): ChatBody {
  return {
    model,
    temperature: 0,
    max_tokens: targetTokens,
    messages: [
      {
        role: "system",
        content: `You compress conversations. Rewrite the conversation below as a concise summary of about ${Math.round(TARGET_RATIO * 100)}% of its length. Preserve all key facts: names, numbers, dates, decisions, constraints, open questions and instructions. Write plain notes, in the order things happened.`,
      },
      { role: "user", content: text },
    ],
  };
}

/** The compressed request, or undefined when compression does not apply, does not pay, or failed. */
export async function compressConversation(deps: CompressDeps, body: ChatBody, routed: ModelConfig, mode: CompressMode): Promise<Compressed | undefined> {
  const window = routed.context_window - Math.min(routed.max_output_tokens ?? 4096, 4096);
  const settings = deps.config.optimize.compress;
  if (mode === "off" || (!settings.enabled && mode !== "on") || !deps.economyModel) return undefined;
  const messages = body.messages;
  const counts = await countMessagesTokens(messages, "o200k_base");
  const before = sum(counts);
  if (before <= Math.min(settings.trigger_tokens, window)) return undefined;

  let head = 0;
  while (head < messages.length && (messages[head]!.role === "system" || messages[head]!.role === "developer")) head++;
  const tail = tailStart(messages, settings.keep_turns);
  if (tail <= head) return undefined;

  const key = conversationKey(messages);
  let stored: StoredSummary | undefined;
  try {
    const value = await deps.store.getValue(key);
    if (value !== null) stored = JSON.parse(value) as StoredSummary;
  } catch {
    stored = undefined;
  }
  if (stored && (stored.prefixLen > tail || stored.prefixLen <= head || hashOf(messages.slice(0, stored.prefixLen)) !== stored.prefixHash)) stored = undefined;

  const from = stored ? stored.prefixLen : head;
  const middleTokens = sum(counts.slice(from, tail));
  let summary = stored?.summary;
  let newSummary = false;
  if (!stored || middleTokens > settings.trigger_tokens / 2) {
    const fresh = !stored || stored.depth >= MAX_DEPTH;
    const replaced = fresh ? messages.slice(head, tail) : messages.slice(from, tail);
    const replacedTokens = fresh ? sum(counts.slice(head, tail)) : middleTokens;
    const targetTokens = Math.max(64, Math.min(1500, Math.ceil(replacedTokens * TARGET_RATIO)));
    // Worth it only when the input saved over the next turns beats what the summary costs.
    const economy = deps.economyModel;
    const summaryCost = requestCost(economy, replacedTokens, targetTokens, 1);
    const saving = EXPECTED_TURNS * inputCost(routed, Math.max(0, sum(counts.slice(head, tail)) - targetTokens), sum(counts));
    if (saving <= summaryCost) return undefined;
    const text = (fresh || !stored ? "" : `${SUMMARY_PREFIX}${stored.summary}\n\n`) + transcript(replaced);
    summary = await deps.summarize(summaryRequest("", text, targetTokens)).catch((err: unknown) => {
      deps.logger.log("warn", "compress_failed", { error: (err as Error).message });
      return undefined;
    });
    if (!summary) return undefined;
    const next: StoredSummary = { prefixLen: tail, prefixHash: hashOf(messages.slice(0, tail)), summary, depth: fresh ? 1 : stored!.depth + 1 };
    await deps.store.setValue(key, JSON.stringify(next), SUMMARY_TTL_MS).catch(() => false);
    newSummary = true;
  }
  const kept = newSummary ? messages.slice(tail) : messages.slice(from);
  const compressedMessages: ChatMessage[] = [...messages.slice(0, head), { role: "system", content: `${SUMMARY_PREFIX}${summary}` }, ...kept];
  const after = sum(await countMessagesTokens(compressedMessages, "o200k_base"));
  if (after >= before) return undefined;
  return { body: { ...body, messages: compressedMessages }, before, after, newSummary };
}
