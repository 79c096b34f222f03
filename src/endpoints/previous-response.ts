import type { ObjectDirectory } from "../gate/objects.js";
import type { Caller } from "../caller.js";
import type { Prepared } from "../plan/index.js";
import type { Outcome } from "../usage/account.js";
import type { RequestBody } from "./shape.js";

/**
 * Answers the upstream keeps (a response, unless `store: false`; a chat completion with
 * `store: true`) become their caller's objects. A response's record also says which upstream
 * holds it and how much context a follow-up (`previous_response_id`) carries.
 */
export function isStoredAnswer(endpoint: string, body: RequestBody): boolean {
  if (endpoint === "responses") return body.store !== false;
  return endpoint === "chat.completions" && body.store === true;
}

/**
 * A conversation's size after a turn answered in it: the turn's input was the whole conversation
 * and its output is now part of it. Unknown (held as the window) when the answer gave no usage.
 */
export async function rememberConversationTurn(objects: ObjectDirectory, body: RequestBody, outcome: Outcome): Promise<void> {
  const conversation = body.conversation;
  const id = typeof conversation === "string" ? conversation : (conversation as { id?: unknown } | null | undefined)?.id;
  if (typeof id !== "string") return;
  const found = await objects.find(id);
  if (!found) return;
  const { tokens: _known, ...rest } = found;
  const tokens = outcome.usage ? outcome.usage.promptTokens + outcome.usage.completionTokens : undefined;
  await objects.update(id, tokens === undefined ? rest : { ...rest, tokens });
}

export async function rememberAnswer(objects: ObjectDirectory, caller: Caller, id: string, prepared: Prepared, outcome: Outcome, background?: string): Promise<void> {
  // An unfinished background response's context is at most what it was held for.
  const tokens = outcome.usage ? outcome.usage.promptTokens + outcome.usage.completionTokens : prepared.inputTokens + (background ? prepared.worstOutput : 0);
  await objects.remember(id, { owner: objects.owner(caller), upstream: prepared.config.upstream, model: prepared.model, tokens, ...(background ? { background } : {}) });
}
