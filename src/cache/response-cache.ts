import type { KeyValueStore } from "../budget/interface.js";
import { ProxyError } from "../errors.js";
import type { ClientSignal } from "../upstream/client.js";

export type CacheHeader = "on" | "off" | undefined;

/** `x-tollgate-cache`: `on` caches a request that is not deterministic, `off` bypasses the cache. */
export function readCacheHeader(value: string | undefined): CacheHeader {
  if (value === undefined || value === "") return undefined;
  const mode = value.trim().toLowerCase();
  if (mode === "on" || mode === "off") return mode;
  throw new ProxyError("invalid_request", "header x-tollgate-cache must be 'on' or 'off'", "x-tollgate-cache");
}

/**
 * Only deterministic requests are cached (`temperature: 0`, or an endpoint whose answers always are,
 * like embeddings), unless the client says `on`; `off` bypasses the cache.
 */
export function cacheApplies(header: CacheHeader, body: Record<string, unknown>, alwaysDeterministic = false): boolean {
  if (header === "off") return false;
  return header === "on" || alwaysDeterministic || body.temperature === 0;
}

const POLL_MS = 25;

export interface CacheTicket {
  /** True for the one request that goes upstream; the others wait for it and look again. */
  leader: boolean;
  /** Ends the leader's turn (whether or not it stored an answer). */
  release(): void;
}

/**
 * Cached answers in the store (shared by every replica on Redis), with a time to live, and
 * single flight: concurrent identical misses send one request upstream. Within a process the
 * followers wait on a promise; across replicas the leader holds a short lock in the store that
 * the others poll, with the cached answer, until it is released or lapses.
 */
export class ResponseCache {
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly store: KeyValueStore,
    private readonly ttlMs: number,
    private readonly lockMs: number,
  ) {}

  async get(key: string): Promise<string | null> {
    return this.store.getValue(`cache:${key}`);
  }

  async put(key: string, answer: string): Promise<void> {
    await this.store.setValue(`cache:${key}`, answer, this.ttlMs);
  }

  async acquire(key: string, signal: ClientSignal): Promise<CacheTicket> {
    const local = this.inflight.get(key);
    if (local) {
      await Promise.race([local, new Promise((resolve) => signal.addEventListener("abort", () => resolve(undefined), { once: true }))]);
      return { leader: false, release() {} };
    }
    let done!: () => void;
    this.inflight.set(key, new Promise<void>((resolve) => (done = resolve)));
    const finish = () => {
      this.inflight.delete(key);
      done();
    };
    try {
      if (await this.store.setValue(`cachelock:${key}`, "1", this.lockMs, true)) {
        return {
          leader: true,
          release: () => {
            finish();
            // "done" for a moment only: the next miss may lead at once.
            void this.store.setValue(`cachelock:${key}`, "done", 1).catch(() => {});
          },
        };
      }
      // Another replica is asking the upstream: wait for its answer or for its lock to go.
      for (let waited = 0; waited < this.lockMs && !signal.aborted; waited += POLL_MS) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if ((await this.get(key)) !== null) break;
        const lock = await this.store.getValue(`cachelock:${key}`);
        if (lock === null || lock === "done") break;
      }
      finish();
      return { leader: false, release() {} };
    } catch (err) {
      finish();
      throw err;
    }
  }
}
