import type { Redis } from "ioredis";
import type { Logger } from "../log.js";

/**
 * Whether the Redis store outlives a restart of Redis. Without an append-only file
 * (`appendonly yes`) or snapshots (a `save` schedule), a restart empties it: every budget's spend
 * starts again from zero and the ledger records not yet in PostgreSQL are gone. Managed Redis often
 * disables or renames CONFIG; persistence is then "unknown" (such services usually keep their
 * own), and never a reason to refuse a start.
 */
export interface StorePersistence {
  persistent: boolean | "unknown";
  /** `appendonly` as Redis reports it ("yes" or "no"); null when unknown. */
  appendonly: string | null;
  /** The snapshot schedule (`save`, "" for none); null when unknown. */
  save: string | null;
  /** Why Redis would not say, when unknown. */
  error?: string;
}

export async function checkPersistence(redis: Pick<Redis, "config">): Promise<StorePersistence> {
  try {
    const [appendonly, save] = await Promise.all([configValue(redis, "appendonly"), configValue(redis, "save")]);
    if (appendonly === undefined || save === undefined) return unknown("CONFIG GET answered without the setting");
    return { persistent: appendonly === "yes" || save !== "", appendonly, save };
  } catch (err) {
    return unknown((err as Error).message);
  }
}

async function configValue(redis: Pick<Redis, "config">, name: string): Promise<string | undefined> {
  const reply = (await redis.config("GET", name)) as string[];
  return reply[1];
}

function unknown(error: string): StorePersistence {
  return { persistent: "unknown", appendonly: null, save: null, error };
}

const LOST_ON_RESTART =
  "Redis keeps nothing on disk: a restart of Redis resets every budget's spend to zero and drops the ledger records not yet written to PostgreSQL. Set `appendonly yes` (or a `save` schedule) in Redis";

/**
 * Logs what the check found, and answers why the start must stop when `store.require_persistence`
 * asks for persistence Redis lacks; undefined to go on.
 */
export function persistenceRefusal(found: StorePersistence, required: boolean, logger: Logger): string | undefined {
  if (found.persistent === "unknown") {
    logger.log("info", "store_persistence_unknown", { detail: "Redis did not answer CONFIG GET (disabled or renamed, as on managed Redis, or unreachable): persistence not checked", error: found.error });
    return undefined;
  }
  if (found.persistent) return undefined;
  if (required) return `store.require_persistence is true, but ${LOST_ON_RESTART}, or set store.require_persistence: false to start anyway.`;
  logger.log("warn", "store_not_persistent", { appendonly: found.appendonly, save: found.save, detail: `${LOST_ON_RESTART}; store.require_persistence: true refuses to start without it.` });
  return undefined;
}
