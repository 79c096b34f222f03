import type { Counter, ReserveRequest, ReserveResult } from "./interface.js";
import type { Nano } from "../money.js";

/**
 * Budget leases: Redis off the request path. A replica takes a slice of what a list of counters
 * (one caller's scopes and windows) has left, in one atomic script (LEASE_SCRIPT), and reserves its
 * requests against the slice in memory. Settles still go to Redis, batched and off the path, and
 * move each request's cost out of its slice there (SETTLE_SCRIPT). In Redis a slice is a hold like
 * any other, so for every counter, settled spend plus holds plus slices never exceeds its limit.
 *
 * - A slice is about a second of the list's recent spend (at least four times the request that
 *   asked for it), never more than LEASE_FRACTION of what the tightest counter has left; when that
 *   is less than two such requests, the replica reserves each request in Redis, so the last dollars
 *   are exact.
 * - A slice too small for the next request is replaced by a new one; the old one goes back once its
 *   last request has settled. A slice nobody used for IDLE_MS goes back (a replica that idles, a
 *   window that ended), and every slice goes back when the store closes.
 * - A slice lives under a lease renewed like any hold. A replica that dies leaves its slices to
 *   expire; whoever finds them charges them whole (what the replica may have used), never releases
 *   them. So a crash over-charges a scope by at most the replica's slices: each at most
 *   LEASE_FRACTION of what was left when it was taken.
 */

/** The most of what is left one slice takes. */
export const LEASE_FRACTION = 0.1;
/** A slice unused this long goes back. */
export const IDLE_MS = 2000;
/** How much spend a slice is sized for. */
const SLICE_SPAN_MS = 1000;

interface Slice {
  id: string;
  /** The list's key: its counters and their limits. */
  list: string;
  counters: Counter[];
  /** What the slice holds in Redis (its amount less the costs settled out of it). */
  amount: Nano;
  /** Reserved by requests in flight. */
  held: Nano;
  lastUsed: number;
  /** Replaced by a newer slice: goes back once nothing is held on it. */
  retired: boolean;
}

export interface LeaseRequest {
  id: string;
  now: number;
  counters: Counter[];
  wanted: Nano;
  least: Nano;
  expiresAt: number;
}

/** What the slices need of the store: take a lease, give one back (a settle of 0 under its id). */
export interface SliceStore {
  lease(request: LeaseRequest): Promise<Nano | undefined>;
  giveBack(slice: { id: string; counters: Counter[] }): void;
}

/** Spend per list, in one-second buckets: the last full one and the current one. */
class SpendRate {
  private bucket = 0;
  private current = 0;
  private previous = 0;

  add(amount: Nano, now: number): void {
    const bucket = Math.floor(now / SLICE_SPAN_MS);
    if (bucket !== this.bucket) {
      this.previous = bucket === this.bucket + 1 ? this.current : 0;
      this.current = 0;
      this.bucket = bucket;
    }
    this.current += amount;
  }

  get perSpan(): Nano {
    return Math.max(this.previous, this.current);
  }
}

const listKeys = new WeakMap<Counter[], string>();

/** The key of a list of counters; once per list, as the requests of a key share theirs (scopes.ts). */
function listKey(counters: Counter[]): string {
  let key = listKeys.get(counters);
  if (key === undefined) listKeys.set(counters, (key = counters.map((c) => `${c.id}=${c.limit ?? "-"}`).join(",")));
  return key;
}

export class LeaseSlices {
  private readonly live = new Map<string, Slice>();
  private readonly holds = new Map<string, { slice: Slice; amount: Nano; meta: string; heldAt: number }>();
  private readonly taking = new Map<string, Promise<Slice | undefined>>();
  private readonly rates = new Map<string, SpendRate>();
  /** Models this replica saw cooling down, until when (a slice has no cool-down check of its own). */
  private readonly cooling = new Map<string, number>();
  private generation = 0;

  constructor(
    private readonly store: SliceStore,
    private readonly replica: string,
  ) {}

  /** Every lease this replica holds in Redis, for their renewal. */
  get leaseIds(): string[] {
    const ids = new Set<string>();
    for (const slice of this.live.values()) ids.add(slice.id);
    for (const { slice } of this.holds.values()) ids.add(slice.id);
    return [...ids];
  }

  noteCooling(key: string, until: number): void {
    this.cooling.set(key, until);
  }

  /**
   * Reserves the request on a slice of its list, taking one first when needed; undefined when the
   * request must be reserved in Redis (no slice can be had, or it outlives the replica's leases).
   */
  async reserve(request: ReserveRequest): Promise<ReserveResult | undefined> {
    const coolingUntil = request.cooldownKey !== undefined ? this.cooling.get(request.cooldownKey) : undefined;
    if (coolingUntil !== undefined && coolingUntil > request.now) return { ok: false, cooling: true };
    const list = listKey(request.counters);
    let rate = this.rates.get(list);
    if (!rate) this.rates.set(list, (rate = new SpendRate()));
    rate.add(request.amount, request.now);
    let slice = this.live.get(list);
    if (!slice || slice.amount - slice.held < request.amount) slice = await this.take(list, request, rate);
    if (!slice || slice.amount - slice.held < request.amount) return undefined;
    slice.held += request.amount;
    slice.lastUsed = request.now;
    this.holds.set(request.requestId, { slice, amount: request.amount, meta: request.meta, heldAt: request.now });
    return { ok: true };
  }

  /** A new slice for `list`, one at a time per list; the one it replaces goes back when empty. */
  private take(list: string, request: ReserveRequest, rate: SpendRate): Promise<Slice | undefined> {
    let pending = this.taking.get(list);
    if (!pending) {
      pending = this.lease(list, request, rate).finally(() => this.taking.delete(list));
      this.taking.set(list, pending);
    }
    return pending;
  }

  private async lease(list: string, request: ReserveRequest, rate: SpendRate): Promise<Slice | undefined> {
    const id = `lease:${this.replica}:${++this.generation}`;
    const amount = await this.store.lease({ id, now: request.now, counters: request.counters, wanted: Math.max(4 * request.amount, rate.perSpan), least: 2 * request.amount, expiresAt: request.expiresAt });
    const previous = this.live.get(list);
    // Too little left to slice: what this replica's slice has not used goes back as soon as its
    // requests settle, so the last dollars are reserved request by request, by every replica alike.
    if (previous) this.retire(previous);
    if (amount === undefined) return undefined;
    const slice: Slice = { id, list, counters: request.counters, amount, held: 0, lastUsed: request.now, retired: false };
    this.live.set(list, slice);
    return slice;
  }

  private retire(slice: Slice): void {
    slice.retired = true;
    if (this.live.get(slice.list) === slice) this.live.delete(slice.list);
    if (slice.held === 0) this.store.giveBack(slice);
  }

  /**
   * The request's settle: its hold leaves the slice and its cost moves out of it (as the settle
   * script does in Redis). Returns the lease to name in the settle, and a slice to give back after
   * it, if this emptied a retired one, and when the request was held.
   */
  release(requestId: string, actual: Nano): { lease: string; heldAt: number; emptied?: Slice } | undefined {
    const left = this.leave(requestId, () => actual);
    return left && { lease: left.lease, heldAt: left.heldAt, ...(left.emptied ? { emptied: left.emptied } : {}) };
  }

  /** A request kept past its replica's lease (a background response): it leaves its slice for a hold of its own. */
  detach(requestId: string): { lease: string; amount: Nano; meta: string; emptied?: Slice } | undefined {
    return this.leave(requestId, (held) => held);
  }

  /** A request's hold leaves its slice, and `moved(held)` of the slice's amount goes with it. */
  private leave(requestId: string, moved: (held: Nano) => Nano): { lease: string; amount: Nano; meta: string; heldAt: number; emptied?: Slice } | undefined {
    const hold = this.holds.get(requestId);
    if (!hold) return undefined;
    this.holds.delete(requestId);
    const { slice } = hold;
    slice.held -= hold.amount;
    slice.amount -= Math.min(moved(hold.amount), slice.amount);
    return { lease: slice.id, amount: hold.amount, meta: hold.meta, heldAt: hold.heldAt, ...(slice.retired && slice.held === 0 ? { emptied: slice } : {}) };
  }

  /** Gives back the slices nobody used for IDLE_MS (all of them with `all`, when the store closes). */
  returnIdle(now: number, all = false): void {
    for (const slice of [...this.live.values()]) {
      if (all || (slice.held === 0 && now - slice.lastUsed >= IDLE_MS)) this.retire(slice);
    }
  }
}
