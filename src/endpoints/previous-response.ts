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

export async function rememberAnswer(objects: ObjectDirectory, caller: Caller, id: string, prepared: Prepared, outcome: Outcome): Promise<void> {
  const tokens = outcome.usage ? outcome.usage.promptTokens + outcome.usage.completionTokens : prepared.inputTokens;
  await objects.remember(id, { owner: objects.owner(caller), upstream: prepared.config.upstream, model: prepared.model, tokens });
}
