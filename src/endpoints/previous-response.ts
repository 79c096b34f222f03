import type { Prepared } from "../plan/index.js";
import type { Services } from "../services.js";
import type { Outcome } from "../usage/account.js";

/** How long tollgate remembers where a response lives (the upstream keeps stored responses 30 days). */
const REMEMBER_MS = 30 * 24 * 3600 * 1000;

export interface StoredResponse {
  upstream: string;
  model: string;
  /** The context a follow-up carries: that response's input and output tokens. */
  tokens: number;
}

const key = (id: string) => `resp:${id}`;

/** Remembers, for every replica, which upstream served a response and how much context it holds. */
export async function rememberResponse(services: Services, id: string, prepared: Prepared, outcome: Outcome, _cost: number): Promise<void> {
  const tokens = outcome.usage ? outcome.usage.promptTokens + outcome.usage.completionTokens : prepared.inputTokens;
  const stored: StoredResponse = { upstream: prepared.config.upstream, model: prepared.model, tokens };
  await services.store.setValue(key(id), JSON.stringify(stored), REMEMBER_MS).catch(() => false);
}

/** Where a stored response lives, if this proxy served it. */
export async function previousResponse(services: Services, id: string): Promise<StoredResponse | undefined> {
  const value = await services.store.getValue(key(id)).catch(() => null);
  if (value === null) return undefined;
  try {
    return JSON.parse(value) as StoredResponse;
  } catch {
    return undefined;
  }
}
