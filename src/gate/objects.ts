import type { KeyValueStore } from "../budget/interface.js";
import type { Caller } from "../caller.js";
import { ProxyError } from "../errors.js";

/**
 * Who owns each object created through tollgate (stored chat completions, responses, files,
 * batches, vector stores...), and where it lives, shared by every replica. A caller reaches only
 * its own objects: any other answers 404, as if it did not exist. Objects with no record (made
 * before tollgate, or directly upstream) are the admin key's only.
 */

export interface StoredObject {
  /** `key:<id>`, `team:<name>`, or `open` on a proxy without keys. */
  owner: string;
  /** The upstream that holds it: reads, changes and continuations go there. */
  upstream: string;
  /** A stored response: the model that served it and the context it holds, in tokens. */
  model?: string;
  tokens?: number;
  /** An unfinished background response: the id of its hold, settled when it finishes (usage/background.ts). */
  background?: string;
}

/** Records outlive the upstream's own retention of most objects; a file kept longer is the admin's. */
const OBJECT_MEMORY_MS = 400 * 24 * 3600 * 1000;

const key = (id: string) => `obj:${id}`;

export type OwnerMode = "key" | "team";


/** The owner a caller's new objects get: its key, or its key's team (`passthrough.owner: team`). */
function ownerOf(caller: Caller, mode: OwnerMode): string {
  if (caller.keyId === null) return "open";
  return mode === "team" && caller.team !== null ? `team:${caller.team}` : `key:${caller.keyId}`;
}

export class ObjectDirectory {
  constructor(
    private readonly store: KeyValueStore,
    private readonly mode: OwnerMode,
  ) {}

  owner(caller: Caller): string {
    return ownerOf(caller, this.mode);
  }

  /** Records a new object; an id already recorded keeps its first owner. */
  async remember(id: string, object: StoredObject): Promise<void> {
    await this.store.setValue(key(id), JSON.stringify(object), OBJECT_MEMORY_MS, true).catch(() => false);
  }

  /** Replaces what a record says of an object its caller reached (a conversation's size). */
  async update(id: string, object: StoredObject): Promise<void> {
    await this.store.setValue(key(id), JSON.stringify(object), OBJECT_MEMORY_MS).catch(() => false);
  }

  /** The object's record, if tollgate made it. */
  async find(id: string): Promise<StoredObject | undefined> {
    let value: string | null;
    try {
      value = await this.store.getValue(key(id));
    } catch {
      throw new ProxyError("budget_store_unavailable", "The store that records who owns each object is unreachable; retry shortly.", null, { "retry-after": "1" });
    }
    if (value === null) return undefined;
    try {
      return JSON.parse(value) as StoredObject;
    } catch {
      return undefined;
    }
  }

  /** The object if `caller` may reach it: its owner, or the admin (who also reaches unrecorded ones). */
  async reachable(caller: Caller, id: string): Promise<StoredObject | "unrecorded" | undefined> {
    const found = await this.find(id);
    if (caller.admin) return found ?? "unrecorded";
    return found && found.owner === this.owner(caller) ? found : undefined;
  }

  /** Which of `ids` the caller may see. */
  async visible(caller: Caller, ids: readonly string[]): Promise<Set<string>> {
    if (caller.admin) return new Set(ids);
    const owner = this.owner(caller);
    const found = await Promise.all(ids.map((id) => this.find(id)));
    return new Set(ids.filter((_, i) => found[i]?.owner === owner));
  }
}

/** The 404 of an object the caller may not reach, as the upstream words its own. */
export function objectNotFound(id: string, param: string | null = null): ProxyError {
  return new ProxyError("not_found", `No object with id '${id}' was found.`, param);
}
