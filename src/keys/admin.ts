import type { Clock } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { EntryStore } from "../budget/interface.js";
import { ProxyError } from "../errors.js";
import { ENDPOINT_GRANTS } from "../gate/classes.js";
import type { z } from "zod";
import {
  GLOBAL_ENTRY,
  keyEntry,
  newKeyId,
  newSecret,
  sha256Hex,
  teamEntry,
  type keyCreateSchema,
  type KeyPatch,
  type StoredKey,
  type StoredTeam,
  type teamCreateSchema,
  type teamPatchSchema,
} from "./record.js";
import type { KeyRegistry } from "./registry.js";

/**
 * The admin API's operations on keys, teams and the global budgets. Each write goes to the store
 * and is read back at once, so the replica that made it answers with it, and the others read it
 * within a poll (registry.ts). The configuration's keys and teams are listed, read-only.
 */

/** A key as the API shows it: never its secret or the secret's hash. */
export type KeyView = Omit<StoredKey, "secret_sha256" | "previous" | "created_at" | "secret_hint"> & {
  /** Null for the configuration's keys (so are `secret_hint` and `created_at`). */
  source: "api" | "config";
  created_at: string | null;
  secret_hint: string | null;
  previous_secret_until: string | null;
};
export type TeamView = Omit<StoredTeam, "created_at"> & { created_at: string | null; source: "api" | "config" };

export class KeyAdmin {
  constructor(
    private readonly registry: KeyRegistry,
    private readonly store: EntryStore,
    private readonly config: Config,
    private readonly clock: Clock,
  ) {}

  listKeys(): KeyView[] {
    const configured = this.config.keys.map((k): KeyView => ({
      id: k.id, team: k.team ?? null, budgets: this.registry.configuredBudgets().keys[k.id] ?? {}, max_tier: k.max_tier ?? null,
      models: k.models ?? null, endpoints: k.endpoints ?? null, expires_at: null, metadata: {}, created_at: null, secret_hint: null, source: "config", previous_secret_until: null,
    }));
    return [...configured, ...[...this.registry.storedKeys().values()].filter((k) => !this.registry.configKeyIds.has(k.id)).map(keyView)];
  }

  getKey(id: string): KeyView {
    const key = this.listKeys().find((k) => k.id === id);
    if (!key) throw notFound("key", id);
    return key;
  }

  /** Makes a key; its secret is in this answer and nowhere else. */
  async createKey(body: z.infer<typeof keyCreateSchema>): Promise<KeyView & { key: string }> {
    this.checkKeyFields(body);
    const id = body.id ?? newKeyId();
    if (this.registry.configKeyIds.has(id)) throw new ProxyError("already_exists", `A key with the id "${id}" is in the configuration.`, "id");
    const secret = newSecret();
    const stored: StoredKey = {
      id, team: body.team ?? null, budgets: body.budgets ?? {}, max_tier: body.max_tier ?? null, models: body.models ?? null,
      endpoints: body.endpoints ?? null, expires_at: body.expires_at ?? null, metadata: body.metadata ?? {},
      created_at: new Date(this.clock.now()).toISOString(), secret_sha256: sha256Hex(secret), secret_hint: secret.slice(-4),
    };
    if (!(await this.store.putEntry(keyEntry(id), JSON.stringify(stored), true))) throw new ProxyError("already_exists", `A key with the id "${id}" exists.`, "id");
    await this.registry.refresh(true);
    return { ...keyView(stored), key: secret };
  }

  async updateKey(id: string, patch: KeyPatch): Promise<KeyView> {
    this.checkKeyFields(patch);
    const stored = await this.storedKey(id);
    const next: StoredKey = { ...stored };
    for (const [field, value] of Object.entries(patch)) if (value !== undefined) Object.assign(next, { [field]: value });
    await this.store.putEntry(keyEntry(id), JSON.stringify(next));
    await this.registry.refresh(true);
    return keyView(next);
  }

  /** A new secret; the old one keeps working for `graceSeconds` (0: not at all). */
  async rotateKey(id: string, graceSeconds: number): Promise<KeyView & { key: string }> {
    const stored = await this.storedKey(id);
    const secret = newSecret();
    const next: StoredKey = { ...stored, secret_sha256: sha256Hex(secret), secret_hint: secret.slice(-4) };
    delete next.previous;
    if (graceSeconds > 0) next.previous = { secret_sha256: stored.secret_sha256, until: new Date(this.clock.now() + graceSeconds * 1000).toISOString() };
    await this.store.putEntry(keyEntry(id), JSON.stringify(next));
    await this.registry.refresh(true);
    return { ...keyView(next), key: secret };
  }

  async deleteKey(id: string): Promise<{ id: string; deleted: true }> {
    await this.storedKey(id);
    await this.store.removeEntry(keyEntry(id));
    await this.registry.refresh(true);
    return { id, deleted: true };
  }

  listTeams(): TeamView[] {
    const configured = [...this.registry.configTeams].map((id): TeamView => ({ id, budgets: this.registry.configuredBudgets().teams[id] ?? {}, metadata: {}, created_at: null, source: "config" }));
    return [...configured, ...[...this.registry.storedTeams().values()].filter((t) => !this.registry.configTeams.has(t.id)).map((t): TeamView => ({ ...t, source: "api" }))];
  }

  getTeam(id: string): TeamView {
    const team = this.listTeams().find((t) => t.id === id);
    if (!team) throw notFound("team", id);
    return team;
  }

  async createTeam(body: z.infer<typeof teamCreateSchema>): Promise<TeamView> {
    if (this.registry.configTeams.has(body.id)) throw new ProxyError("already_exists", `The team "${body.id}" is in the configuration.`, "id");
    const stored: StoredTeam = { id: body.id, budgets: body.budgets ?? {}, metadata: body.metadata ?? {}, created_at: new Date(this.clock.now()).toISOString() };
    if (!(await this.store.putEntry(teamEntry(body.id), JSON.stringify(stored), true))) throw new ProxyError("already_exists", `A team with the id "${body.id}" exists.`, "id");
    await this.registry.refresh(true);
    return { ...stored, source: "api" };
  }

  async updateTeam(id: string, patch: z.infer<typeof teamPatchSchema>): Promise<TeamView> {
    const stored = await this.storedTeam(id);
    const next: StoredTeam = { ...stored, ...(patch.budgets ? { budgets: patch.budgets } : {}), ...(patch.metadata ? { metadata: patch.metadata } : {}) };
    await this.store.putEntry(teamEntry(id), JSON.stringify(next));
    await this.registry.refresh(true);
    return { ...next, source: "api" };
  }

  /** A team whose keys remain cannot go: they would keep its name and lose its budget. */
  async deleteTeam(id: string): Promise<{ id: string; deleted: true }> {
    await this.storedTeam(id);
    const members = [...this.registry.storedKeys().values()].filter((k) => k.team === id).map((k) => k.id);
    if (members.length > 0) throw new ProxyError("conflict", `The team "${id}" still has keys: ${members.join(", ")}. Move or delete them first.`);
    await this.store.removeEntry(teamEntry(id));
    await this.registry.refresh(true);
    return { id, deleted: true };
  }

  globalBudgets(): { budgets: Config["budgets"]["global"]; source: "api" | "config" } {
    const stored = this.registry.storedGlobal();
    return stored ? { budgets: stored.budgets, source: "api" } : { budgets: this.registry.configuredBudgets().global, source: "config" };
  }

  /** The global scope's budgets, in place of the configuration's until deleted. */
  async setGlobalBudgets(budgets: Config["budgets"]["global"]): Promise<{ budgets: Config["budgets"]["global"]; source: "api" }> {
    await this.store.putEntry(GLOBAL_ENTRY, JSON.stringify({ budgets }));
    await this.registry.refresh(true);
    return { budgets, source: "api" };
  }

  async resetGlobalBudgets(): Promise<{ budgets: Config["budgets"]["global"]; source: "config" }> {
    await this.store.removeEntry(GLOBAL_ENTRY);
    await this.registry.refresh(true);
    return { budgets: this.registry.configuredBudgets().global, source: "config" };
  }

  private async storedKey(id: string): Promise<StoredKey> {
    if (this.registry.configKeyIds.has(id)) throw readOnly("key", id);
    await this.registry.refresh(true);
    const stored = this.registry.storedKeys().get(id);
    if (!stored) throw notFound("key", id);
    return stored;
  }

  private async storedTeam(id: string): Promise<StoredTeam> {
    if (this.registry.configTeams.has(id)) throw readOnly("team", id);
    await this.registry.refresh(true);
    const stored = this.registry.storedTeams().get(id);
    if (!stored) throw notFound("team", id);
    return stored;
  }

  /** Names a key may carry must mean something here: a model or endpoint class that does not exist would lock it out silently. */
  private checkKeyFields(fields: KeyPatch): void {
    fields.models?.forEach((name, i) => {
      if (!Object.hasOwn(this.config.models, name)) throw new ProxyError("invalid_request", `Unknown model "${name}" (configured: ${Object.keys(this.config.models).join(", ")}).`, `models[${i}]`);
    });
    fields.endpoints?.forEach((name, i) => {
      if (!ENDPOINT_GRANTS.includes(name)) throw new ProxyError("invalid_request", `Unknown endpoint class "${name}" (known: ${ENDPOINT_GRANTS.join(", ")}).`, `endpoints[${i}]`);
    });
  }
}

function keyView(k: StoredKey): KeyView {
  const { secret_sha256: _hash, previous, ...rest } = k;
  return { ...rest, source: "api", previous_secret_until: previous?.until ?? null };
}

const notFound = (kind: string, id: string) => new ProxyError("not_found", `No ${kind} has the id "${id}".`);
const readOnly = (kind: string, id: string) => new ProxyError("read_only", `The ${kind} "${id}" is in the configuration file: change it there.`);
