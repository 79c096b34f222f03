import type { Config } from "../config/schema.js";
import type { Caller } from "../caller.js";
import { ProxyError } from "../errors.js";
import type { RateStore, RateWindow } from "./interface.js";
import { scopesFor, type Scope } from "./scopes.js";

/**
 * Rate limits: requests and tokens per minute (`rpm`, `tpm`) of the global scope, a team or a key,
 * in one-minute windows every replica counts in the store. A request's tokens are counted when it
 * is admitted, at their worst case (its input and the output it is held for, as OpenAI counts its
 * own limits), and corrected to what it used when it settles. Over a limit: 429
 * `rate_limit_exceeded` with `retry-after` and OpenAI's `x-ratelimit-*` headers, which the SDKs
 * retry (unlike a budget's 429, which says `x-should-retry: false`).
 */

const MINUTE_MS = 60_000;
/** A window's counter outlives its minute, for the corrections of requests that end in the next. */
const WINDOW_TTL_MS = 3 * MINUTE_MS;

interface Limit {
  scope: Scope;
  kind: "requests" | "tokens";
  limit: number;
}

function limitsOf(config: Config, caller: Caller): Limit[] {
  const limits: Limit[] = [];
  for (const scope of scopesFor(config.budgets, caller.keyId, caller.team, caller)) {
    if (scope.limits.rpm !== undefined) limits.push({ scope, kind: "requests", limit: scope.limits.rpm });
    if (scope.limits.tpm !== undefined) limits.push({ scope, kind: "tokens", limit: scope.limits.tpm });
  }
  return limits;
}

const windowKey = (limit: Limit, minute: number) => `rl:${limit.kind === "requests" ? "r" : "t"}:${limit.scope.kind}:${encodeURIComponent(limit.scope.id)}:${minute}`;

/** What an admitted request counted, to correct its tokens when it settles. */
export interface RateTicket {
  /** Its token windows (empty when no scope limits tokens). */
  tokenKeys: string[];
  tokens: number;
}

/**
 * Counts a request against every rate limit of its caller's scopes; 429 when one is reached.
 * Undefined when no scope has a rate limit (nothing is asked of the store).
 */
export async function takeRate(store: RateStore, config: Config, caller: Caller, tokens: number, now: number): Promise<RateTicket | undefined> {
  const limits = limitsOf(config, caller);
  if (limits.length === 0) return undefined;
  const minute = Math.floor(now / MINUTE_MS);
  const windows: RateWindow[] = limits.map((l) => ({ key: windowKey(l, minute), amount: l.kind === "requests" ? 1 : tokens, limit: l.limit, ttlMs: WINDOW_TTL_MS }));
  const taken = await store.takeRate(windows);
  if (!taken.ok) throw limitReached(limits[taken.index]!, taken.count, now, minute);
  return { tokenKeys: windows.filter((_, i) => limits[i]!.kind === "tokens").map((w) => w.key), tokens };
}

/** A request's settle: its token windows get what it used instead of what it was counted for. */
export async function correctRate(store: RateStore, ticket: RateTicket | undefined, used: number): Promise<void> {
  if (!ticket || ticket.tokenKeys.length === 0 || used === ticket.tokens) return;
  await store.takeRate(ticket.tokenKeys.map((key) => ({ key, amount: used - ticket.tokens, ttlMs: WINDOW_TTL_MS })));
}

function limitReached(limit: Limit, count: number, now: number, minute: number): ProxyError {
  const resetMs = (minute + 1) * MINUTE_MS - now;
  const unit = limit.kind;
  const who = limit.scope.kind === "global" ? "this proxy" : `${limit.scope.kind} ${limit.scope.id}`;
  const headers: Record<string, string> = {
    "retry-after": String(Math.max(1, Math.ceil(resetMs / 1000))),
    "retry-after-ms": String(resetMs),
    [`x-ratelimit-limit-${unit}`]: String(limit.limit),
    [`x-ratelimit-remaining-${unit}`]: String(Math.max(0, limit.limit - count)),
    [`x-ratelimit-reset-${unit}`]: `${(resetMs / 1000).toFixed(3)}s`,
  };
  return new ProxyError("rate_limit_exceeded", `Rate limit reached for ${who}: ${limit.limit} ${unit} per minute (${unit === "requests" ? "rpm" : "tpm"}). Try again in ${(resetMs / 1000).toFixed(1)}s.`, null, headers);
}
