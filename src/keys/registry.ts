import type { Caller } from "../caller.js";
import type { Clock } from "../clock.js";
import type { BudgetLimits, Config } from "../config/schema.js";
import type { EntryStore } from "../budget/interface.js";
import type { Logger } from "../log.js";
import { GLOBAL_ENTRY, sha256Hex, type StoredGlobal, type StoredKey, type StoredTeam } from "./record.js";

/**
 * Every key the proxy accepts, from the configuration (read-only) and from the admin API (in the
 * store, shared by the replicas), and the budgets of keys, teams and the global scope they carry.
 *
 * Each replica holds all of them in memory and polls the store's version every `pollMs` (250 ms):
 * a key made, changed or revoked on one replica is in force on every other within a poll and a
 * read. A request authenticates once, at its start, so a revoked key's requests in flight finish.
 *
 * The budgets reach the scopes (budget/scopes.ts) through `config.budgets`: this is its one writer
 * after the start, and it swaps `keys`, `teams` and `global` whole, never edits them in place, so a
 * request that read them sees one consistent set.
 */

interface Secret {
  caller: Caller;
  /** Unset for the configuration's keys. */
  expiresAt?: number;
  /** A rotated secret's end of grace. */
  until?: number;
}

const POLL_MS = 250;

export class KeyRegistry {
  private secrets = new Map<string, Secret>();
  private stored = { keys: new Map<string, StoredKey>(), teams: new Map<string, StoredTeam>(), global: undefined as StoredGlobal | undefined };
  private version: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private failing = false;
  private stopped = false;
  /** The configuration's own budgets, which stored ones are laid over. */
  private readonly configured: Pick<Config["budgets"], "keys" | "teams" | "global">;
  readonly configKeyIds: ReadonlySet<string>;
  readonly configTeams: ReadonlySet<string>;

  constructor(
    private readonly config: Config,
    private readonly store: EntryStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly pollMs = POLL_MS,
  ) {
    const { keys, teams, global } = config.budgets;
    this.configured = { keys, teams, global };
    this.configKeyIds = new Set(config.keys.map((k) => k.id));
    this.configTeams = new Set([...Object.keys(teams), ...config.keys.flatMap((k) => (k.team ? [k.team] : []))]);
    this.rebuild();
  }

  /**
   * Reads the store and polls it from now on; the refusal to start when a stored key has an id
   * the configuration also has (two secrets would answer to one id and one budget). A store that
   * does not answer is logged and read again by the poll; the configuration's keys work meanwhile.
   */
  async start(): Promise<string | undefined> {
    this.timer = setInterval(() => void this.refresh().catch(() => {}), this.pollMs);
    this.timer.unref();
    try {
      await this.refresh(true);
    } catch {
      return undefined;
    }
    const clash = [...this.stored.keys.keys()].filter((id) => this.configKeyIds.has(id));
    if (clash.length === 0) return undefined;
    return `key id${clash.length > 1 ? "s" : ""} ${clash.map((id) => `"${id}"`).join(", ")} both in the configuration's keys and in the store (made through the admin API): remove one`;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /**
   * Reads the entries again when their version moved (or always, with `force`: after a write). A
   * forced read never stands on a read already under way, which may have started before the write:
   * it follows it, so what the write put is in force when it resolves.
   */
  refresh(force = false): Promise<void> {
    const previous = this.reading;
    if (previous && !force) return previous;
    const reading: Promise<void> = (previous ? previous.catch(() => {}).then(() => this.read(force)) : this.read(force)).finally(() => {
      if (this.reading === reading) this.reading = undefined;
    });
    this.reading = reading;
    return reading;
  }

  private async read(force: boolean): Promise<void> {
    try {
      if (!force && (await this.store.entriesVersion()) === this.version) return;
      const snapshot = await this.store.entries();
      const keys = new Map<string, StoredKey>();
      const teams = new Map<string, StoredTeam>();
      let global: StoredGlobal | undefined;
      for (const [id, value] of snapshot.entries) {
        if (id === GLOBAL_ENTRY) global = JSON.parse(value) as StoredGlobal;
        else if (id.startsWith("key:")) keys.set(id.slice(4), JSON.parse(value) as StoredKey);
        else if (id.startsWith("team:")) teams.set(id.slice(5), JSON.parse(value) as StoredTeam);
      }
      this.stored = { keys, teams, global };
      this.version = snapshot.version;
      this.rebuild();
      if (this.failing) this.logger.log("info", "keys_store_back", {});
      this.failing = false;
    } catch (err) {
      // Keys already read stay in force; one line per outage, not one per poll (none for a read the stop cut short).
      if (!this.failing && !this.stopped) this.logger.log("error", "keys_store_unavailable", { error: (err as Error).message });
      this.failing = true;
      throw err;
    }
  }

  private rebuild(): void {
    const secrets = new Map<string, Secret>();
    for (const k of this.config.keys) {
      const caller: Caller = { keyId: k.id, team: k.team ?? null, maxTier: k.max_tier };
      if (k.endpoints) caller.endpoints = k.endpoints;
      if (k.models) caller.models = new Set(k.models);
      secrets.set(sha256Hex(k.key), { caller });
    }
    const keyBudgets: Record<string, BudgetLimits> = { ...this.configured.keys };
    const teamBudgets: Record<string, BudgetLimits> = { ...this.configured.teams };
    for (const [id, k] of this.stored.keys) {
      // A key the configuration has keeps the configuration's (the start refused the clash).
      if (this.configKeyIds.has(id)) continue;
      const caller: Caller = { keyId: id, team: k.team };
      if (k.max_tier) caller.maxTier = k.max_tier;
      if (k.endpoints) caller.endpoints = k.endpoints;
      if (k.models) caller.models = new Set(k.models);
      const expiresAt = k.expires_at === null ? undefined : Date.parse(k.expires_at);
      secrets.set(k.secret_sha256, { caller, ...(expiresAt === undefined ? {} : { expiresAt }) });
      if (k.previous) secrets.set(k.previous.secret_sha256, { caller, until: Date.parse(k.previous.until), ...(expiresAt === undefined ? {} : { expiresAt }) });
      keyBudgets[id] = k.budgets;
      if (k.team !== null) teamBudgets[k.team] ??= {};
    }
    for (const [id, t] of this.stored.teams) if (!this.configTeams.has(id)) teamBudgets[id] = t.budgets;
    this.secrets = secrets;
    this.config.budgets.keys = keyBudgets;
    this.config.budgets.teams = teamBudgets;
    this.config.budgets.global = this.stored.global?.budgets ?? this.configured.global;
  }

  /** The caller a secret's SHA-256 (hex) belongs to, unless expired or past its grace. */
  find(digest: string): Caller | undefined {
    const secret = this.secrets.get(digest);
    if (!secret) return undefined;
    const now = this.clock.now();
    if (secret.expiresAt !== undefined && secret.expiresAt <= now) return undefined;
    if (secret.until !== undefined && secret.until <= now) return undefined;
    return secret.caller;
  }

  /** How many keys there are (none: the proxy runs open). */
  get size(): number {
    return this.secrets.size;
  }

  storedKeys(): ReadonlyMap<string, StoredKey> {
    return this.stored.keys;
  }

  storedTeams(): ReadonlyMap<string, StoredTeam> {
    return this.stored.teams;
  }

  storedGlobal(): StoredGlobal | undefined {
    return this.stored.global;
  }

  /** The configuration's own budgets (what a stored global scope replaces). */
  configuredBudgets(): Pick<Config["budgets"], "keys" | "teams" | "global"> {
    return this.configured;
  }
}
