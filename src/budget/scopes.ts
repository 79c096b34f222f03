import type { BudgetLimits, Config } from "../config/schema.js";
import { usdToNano, type Nano } from "../money.js";
import type { Counter } from "./interface.js";
import type { WindowName, Windows } from "./window.js";

/** A budget scope a request belongs to. */
export interface Scope {
  kind: "global" | "team" | "key" | "end_user" | "tag";
  /** Empty for global. */
  id: string;
  limits: BudgetLimits;
}

/** A counter with what it means, for messages and reports. */
export interface ScopeCounter extends Counter {
  scope: Scope;
  window: WindowName;
  windowId: string;
}

export function scopeLabel(scope: Scope): string {
  return scope.kind === "global" ? "global" : `${scope.kind} ${scope.id}`;
}

/** Every scope with a budget, and every configured key and team: what reports list. */
export function knownScopes(config: Config): Scope[] {
  const { budgets, keys } = config;
  const scopes: Scope[] = [{ kind: "global", id: "", limits: budgets.global }];
  const teams = new Set([...Object.keys(budgets.teams), ...keys.flatMap((k) => (k.team ? [k.team] : []))]);
  for (const team of teams) scopes.push({ kind: "team", id: team, limits: budgets.teams[team] ?? {} });
  const keyIds = new Set([...Object.keys(budgets.keys), ...keys.map((k) => k.id)]);
  for (const id of keyIds) scopes.push({ kind: "key", id, limits: budgets.keys[id] ?? {} });
  for (const [tag, limits] of Object.entries(budgets.tags)) scopes.push({ kind: "tag", id: tag, limits });
  return scopes;
}

/** Every scope a request is checked against: global, its team, its key. */
export function scopesFor(budgets: Config["budgets"], keyId: string | null, team: string | null, labels: Labels = {}): Scope[] {
  const scopes: Scope[] = [{ kind: "global", id: "", limits: budgets.global }];
  if (team !== null) scopes.push({ kind: "team", id: team, limits: budgets.teams[team] ?? {} });
  if (keyId !== null) scopes.push({ kind: "key", id: keyId, limits: budgets.keys[keyId] ?? {} });
  // An end user or a tag is a scope only when a budget names it: counters for every one of them
  // would grow without bound, and reports count them from the records.
  const endUser = labels.endUser;
  const endUserLimits = endUser === undefined || endUser === null ? undefined : ((keyId !== null ? budgets.end_users.keys[keyId] : undefined) ?? budgets.end_users.default);
  if (endUserLimits) scopes.push({ kind: "end_user", id: `${keyId ?? ""}/${endUser}`, limits: endUserLimits });
  for (const tag of labels.tags ?? []) {
    const limits = budgets.tags[tag];
    if (limits) scopes.push({ kind: "tag", id: tag, limits });
  }
  return scopes;
}

/** What labels a request's spend besides its key and team. */
export interface Labels {
  endUser?: string | null;
  tags?: readonly string[];
}

function counterId(scope: Scope, window: WindowName, windowId: string): string {
  return `c:${scope.kind}:${encodeURIComponent(scope.id)}:${window === "daily" ? "d" : "m"}:${windowId}`;
}

/** Scopes per kind whose current counter ids are kept (end users have no end). */
const IDS_KEPT = 10_000;
const currentIds = new Map<string, Map<string, Record<WindowName, { windowId: string; id: string } | undefined>>>();

/**
 * A counter's id, made once per scope and window: the requests of a day name the same string,
 * whose hash every map of the budget path then reuses.
 */
function currentId(scope: Scope, window: WindowName, windowId: string): string {
  let byId = currentIds.get(scope.kind);
  if (!byId) currentIds.set(scope.kind, (byId = new Map()));
  let ids = byId.get(scope.id);
  if (!ids) {
    if (byId.size >= IDS_KEPT) byId.clear();
    byId.set(scope.id, (ids = { daily: undefined, monthly: undefined }));
  }
  const kept = ids[window];
  if (kept && kept.windowId === windowId) return kept.id;
  const id = counterId(scope, window, windowId);
  ids[window] = { windowId, id };
  return id;
}

/**
 * The daily and monthly counters of each scope. Every scope counts its spend, with or without a
 * limit, so reports and alerts see it and a limit added later starts from the real figure.
 */
export function countersFor(scopes: Scope[], windows: Windows): ScopeCounter[] {
  const counters: ScopeCounter[] = [];
  for (const scope of scopes) {
    const daily = scope.limits.daily;
    const monthly = scope.limits.monthly;
    counters.push({
      id: currentId(scope, "daily", windows.day),
      limit: daily === undefined ? null : usdToNano(daily),
      windowEnd: windows.dayEnd,
      scope,
      window: "daily",
      windowId: windows.day,
    });
    counters.push({
      id: currentId(scope, "monthly", windows.month),
      limit: monthly === undefined ? null : usdToNano(monthly),
      windowEnd: windows.monthEnd,
      scope,
      window: "monthly",
      windowId: windows.month,
    });
  }
  return counters;
}

/** A key's scopes and counters as last made, and what they were made from. */
interface KeptScopes {
  keyId: string | null;
  team: string | null;
  budgets: Config["budgets"];
  keys: Config["budgets"]["keys"];
  teams: Config["budgets"]["teams"];
  global: Config["budgets"]["global"];
  windows: Windows;
  scopes: Scope[];
  counters: ScopeCounter[];
}

const keptScopes = new Map<string, KeptScopes>();

/**
 * A request's scopes and their counters, as `scopesFor` and `countersFor` make them. The requests
 * of a key share them while its budgets and the day stay the same: the key registry swaps
 * `keys`, `teams` and `global` whole when a budget changes, and the window cache keeps one
 * `Windows` per day, so the hot path makes them once per key and day instead of once per request.
 * A request with an end user or tags gets its own (their scopes depend on them). Both lists are
 * shared: read them, never change them.
 */
export function requestScopes(budgets: Config["budgets"], keyId: string | null, team: string | null, labels: Labels, windows: Windows): { scopes: Scope[]; counters: ScopeCounter[] } {
  if ((labels.endUser !== undefined && labels.endUser !== null) || (labels.tags !== undefined && labels.tags.length > 0)) {
    const scopes = scopesFor(budgets, keyId, team, labels);
    return { scopes, counters: countersFor(scopes, windows) };
  }
  const id = `${keyId ?? ""}\n${team ?? ""}`;
  const kept = keptScopes.get(id);
  // The ids are compared too: an id or a team with a line break in it must not pass for another.
  if (kept && kept.keyId === keyId && kept.team === team && kept.windows === windows && kept.budgets === budgets && kept.keys === budgets.keys && kept.teams === budgets.teams && kept.global === budgets.global) return kept;
  const scopes = scopesFor(budgets, keyId, team);
  if (keptScopes.size >= IDS_KEPT) keptScopes.clear();
  const made = { keyId, team, budgets, keys: budgets.keys, teams: budgets.teams, global: budgets.global, windows, scopes, counters: countersFor(scopes, windows) };
  keptScopes.set(id, made);
  return made;
}

/** The tightest per-request cap among the scopes, and whose it is. */
export function perRequestCap(scopes: Scope[]): { scope: Scope; limit: Nano } | undefined {
  let tightest: { scope: Scope; limit: Nano } | undefined;
  for (const scope of scopes) {
    const cap = scope.limits.per_request;
    if (cap !== undefined && (!tightest || usdToNano(cap) < tightest.limit)) tightest = { scope, limit: usdToNano(cap) };
  }
  return tightest;
}
