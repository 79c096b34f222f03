import type { Prepared, ProxiedRequest } from "../plan/index.js";
import type { ClientSignal } from "../upstream/client.js";
import type { CacheScope } from "./key.js";
import type { ResponseCache } from "./response-cache.js";
import { cacheKey, cacheScope } from "./key.js";
import { cacheApplies, readCacheHeader } from "./response-cache.js";

/** What a request lends the cache: its abort signal, and a place to release its ticket when it ends. */
export interface RequestScope {
  readonly signal: ClientSignal;
  defer(close: () => Promise<void> | void): void;
}

/** The cache's part in one request: a hit, or where to store the answer once it is in. */
export type CacheLookup =
  | { kind: "off" }
  | { kind: "hit"; text: string }
  /**
   * `store` files a whole answer under the request as it was sent (model and body) to the attempt
   * that produced it, when it can be replayed: it carries usage, and a stream rebuilt from it would
   * carry everything (`replayable`), unless the endpoint's answers are all alike (embeddings).
   */
  | { kind: "miss"; store(answered: Prepared, answer: string, shown: { usage: boolean; replayable: boolean }): Promise<void> };

/**
 * Looks for the answer of an identical request (same scope, routed model, messages and
 * output-affecting parameters). A miss that leads (single flight) holds a ticket the exchange
 * releases when the request ends, so followers wait for its answer instead of asking upstream too.
 */
export async function lookInCache(
  cache: ResponseCache | undefined,
  scope: CacheScope,
  ex: RequestScope,
  request: ProxiedRequest,
  prepared: Prepared,
  header: string | undefined,
  /** The endpoint's shape's `cache`: `never` is never looked up, `always` always is. */
  served: "deterministic" | "always" | "never",
): Promise<CacheLookup> {
  if (served === "never") return { kind: "off" };
  const mode = readCacheHeader(header);
  const always = served === "always";
  if (!cache || !cacheApplies(mode, prepared.body, always)) return { kind: "off" };
  const scopeId = cacheScope(scope, request.caller);
  const key = cacheKey(scopeId, prepared.model, prepared.body);
  let text = await cache.get(key);
  if (text === null) {
    const ticket = await cache.acquire(key, ex.signal);
    ex.defer(() => ticket.release());
    if (!ticket.leader) text = await cache.get(key);
  }
  if (text !== null) return { kind: "hit", text };
  // A downgrade, a fallback or an output cap answers another request than the one looked up: its
  // answer is that request's, never the routed one's.
  return {
    kind: "miss",
    store: async (answered, answer, shown) => {
      if (!shown.usage || !(shown.replayable || always)) return;
      await cache.put(cacheKey(scopeId, answered.model, answered.body), answer).catch(() => {});
    },
  };
}
