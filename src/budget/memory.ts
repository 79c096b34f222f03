import type { Clock } from "../clock.js";
import type { Nano } from "../money.js";
import type { UsageRecord } from "../usage/record.js";
import {
  COUNTER_GRACE_MS,
  SETTLED_MEMORY_MS,
  type BudgetStore,
  type EntrySnapshot,
  type CrossedThreshold,
  type ExpiredHold,
  type RateWindow,
  type ReserveRequest,
  type ReserveResult,
  type SettleRequest,
  type SettleResult,
} from "./interface.js";

/** Where the memory store also hands every record it appends (the in-process ledger queue). */
export interface RecordSink {
  push(record: UsageRecord): void;
}

interface Hold {
  amount: Nano;
  expiresAt: number;
  meta: string;
}

/**
 * The single-process store: the same semantics as the Redis store, for a proxy run alone.
 * Node runs one callback at a time, so each method is atomic without locks.
 */
export class MemoryBudgetStore implements BudgetStore {
  readonly kind = "memory";
  private readonly counters = new Map<string, { value: Nano; expiresAt: number }>();
  private readonly holds = new Map<string, Hold>();
  private readonly settled = new Map<string, number>();
  private readonly alerts = new Map<string, number>();
  private readonly days = new Map<string, Map<string, number>>();
  private readonly records: UsageRecord[] = [];
  private readonly values = new Map<string, { value: string; expiresAt: number }>();
  private readonly rates = new Map<string, { value: number; expiresAt: number }>();
  private readonly histogramsByKey = new Map<string, { counts: Map<number, number>; expiresAt: number }>();
  private readonly shared = new Map<string, string>();
  private sharedVersion = 0;

  constructor(
    private readonly clock: Clock,
    private readonly maxRecords = 100_000,
    /** The ledger's queue, when a ledger is configured. */
    readonly ledger?: RecordSink,
  ) {}

  private counter(id: string): Nano {
    const c = this.counters.get(id);
    if (!c) return 0;
    if (c.expiresAt <= this.clock.now()) {
      this.counters.delete(id);
      return 0;
    }
    return c.value;
  }

  private add(id: string, delta: Nano, windowEnd: number): Nano {
    const value = this.counter(id) + delta;
    this.counters.set(id, { value, expiresAt: windowEnd + COUNTER_GRACE_MS });
    return value;
  }

  /**
   * Settled ids are remembered for a fixed time, in insertion order: the walk stops at the first
   * one still remembered instead of scanning them all.
   */
  private forgetSettled(now: number): void {
    for (const [id, until] of this.settled) {
      if (until > now) break;
      this.settled.delete(id);
    }
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    this.forgetSettled(req.now);
    if (req.cooldownKey !== undefined && (await this.getValue(req.cooldownKey)) !== null) return { ok: false, cooling: true };
    let over = -1;
    let room = Infinity;
    for (let i = 0; i < req.counters.length; i++) {
      const c = req.counters[i]!;
      if (c.limit === null) continue;
      const spent = this.counter(c.id);
      room = Math.min(room, c.limit - spent);
      if (over < 0 && spent + req.amount > c.limit) over = i;
    }
    if (over >= 0) return { ok: false, counter: over, spent: this.counter(req.counters[over]!.id), room: Math.max(0, room) };
    for (const c of req.counters) this.add(c.id, req.amount, c.windowEnd);
    this.holds.set(req.requestId, { amount: req.amount, expiresAt: req.expiresAt, meta: req.meta });
    return { ok: true };
  }

  async keep(requestId: string, until: number): Promise<void> {
    await this.renew([requestId], until);
  }

  async renew(requestIds: string[], until: number): Promise<void> {
    for (const id of requestIds) {
      const hold = this.holds.get(id);
      if (hold) hold.expiresAt = until;
    }
  }

  async expiredHolds(now: number, limit: number): Promise<ExpiredHold[]> {
    const out: ExpiredHold[] = [];
    for (const [requestId, hold] of this.holds) {
      if (out.length >= limit) break;
      if (hold.expiresAt <= now) out.push({ requestId, amount: hold.amount, meta: hold.meta });
    }
    return out;
  }

  async settle(req: SettleRequest): Promise<SettleResult> {
    if (this.settled.has(req.requestId)) return { applied: false, crossed: [] };
    const hold = this.holds.get(req.requestId);
    this.holds.delete(req.requestId);
    const delta = req.actual - (hold?.amount ?? 0);
    const crossed: CrossedThreshold[] = [];
    req.counters.forEach((c, i) => {
      const spent = this.add(c.id, delta, c.windowEnd);
      if (c.limit === null || c.limit <= 0) return;
      for (const threshold of req.thresholds) {
        if (spent < threshold * c.limit) continue;
        const alertId = `${c.id}:${threshold}`;
        if (this.alerts.has(alertId)) continue;
        this.alerts.set(alertId, c.windowEnd);
        crossed.push({ counter: i, threshold, spent });
      }
    });
    this.settled.set(req.requestId, req.now + SETTLED_MEMORY_MS);
    if (req.record) {
      this.records.push(req.record);
      this.ledger?.push(req.record);
      // Trimmed a quarter past the limit, not at every record: each trim moves the whole array.
      if (this.records.length > this.maxRecords + Math.ceil(this.maxRecords / 4)) this.records.splice(0, this.records.length - this.maxRecords);
    }
    let day = this.days.get(req.day);
    if (!day) this.days.set(req.day, (day = new Map()));
    for (const [field, delta] of req.aggregates) day.set(field, (day.get(field) ?? 0) + delta);
    return { applied: true, crossed };
  }

  async spent(counterIds: string[]): Promise<Nano[]> {
    return counterIds.map((id) => this.counter(id));
  }

  async aggregates(days: string[]): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const d of days) out[d] = Object.fromEntries(this.days.get(d) ?? []);
    return out;
  }

  async usageRecords(limit: number): Promise<UsageRecord[]> {
    const n = Math.min(limit, this.maxRecords);
    return n > 0 ? this.records.slice(-n).reverse() : [];
  }

  async ping(): Promise<void> {}

  async takeRate(windows: RateWindow[]): Promise<{ ok: true; counts: number[] } | { ok: false; index: number; count: number }> {
    const now = this.clock.now();
    const current = windows.map((w) => {
      const entry = this.rates.get(w.key);
      return entry && entry.expiresAt > now ? entry.value : 0;
    });
    const over = windows.findIndex((w, i) => w.limit !== undefined && w.amount > 0 && current[i]! + w.amount > w.limit);
    if (over >= 0) return { ok: false, index: over, count: current[over]! };
    if (this.rates.size > 10_000) for (const [key, entry] of this.rates) if (entry.expiresAt <= now) this.rates.delete(key);
    windows.forEach((w, i) => this.rates.set(w.key, { value: current[i]! + w.amount, expiresAt: now + w.ttlMs }));
    return { ok: true, counts: windows.map((w, i) => current[i]! + w.amount) };
  }

  async getValue(key: string): Promise<string | null> {
    const v = this.values.get(key);
    if (!v) return null;
    if (v.expiresAt <= this.clock.now()) {
      this.values.delete(key);
      return null;
    }
    return v.value;
  }

  async deleteValue(key: string): Promise<void> {
    this.values.delete(key);
  }

  async setValue(key: string, value: string, ttlMs: number, onlyIfAbsent = false): Promise<boolean> {
    if (onlyIfAbsent && (await this.getValue(key)) !== null) return false;
    this.values.set(key, { value, expiresAt: this.clock.now() + ttlMs });
    if (this.values.size > 100_000) {
      const now = this.clock.now();
      for (const [k, v] of this.values) if (v.expiresAt <= now) this.values.delete(k);
      for (const k of this.values.keys()) {
        if (this.values.size <= 100_000) break;
        this.values.delete(k);
      }
    }
    return true;
  }

  async addToHistogram(key: string, counts: ReadonlyMap<number, number>, ttlMs: number): Promise<void> {
    let h = this.histogramsByKey.get(key);
    if (!h || h.expiresAt <= this.clock.now()) this.histogramsByKey.set(key, (h = { counts: new Map(), expiresAt: 0 }));
    for (const [bucket, n] of counts) h.counts.set(bucket, (h.counts.get(bucket) ?? 0) + n);
    h.expiresAt = this.clock.now() + ttlMs;
    for (const [k, v] of this.histogramsByKey) if (v.expiresAt <= this.clock.now()) this.histogramsByKey.delete(k);
  }

  async histograms(keys: string[]): Promise<Array<Map<number, number>>> {
    const now = this.clock.now();
    return keys.map((key) => {
      const h = this.histogramsByKey.get(key);
      return h && h.expiresAt > now ? new Map(h.counts) : new Map();
    });
  }

  async close(): Promise<void> {}

  async entriesVersion(): Promise<number> {
    return this.sharedVersion;
  }

  async entries(): Promise<EntrySnapshot> {
    return { version: this.sharedVersion, entries: new Map(this.shared) };
  }

  async putEntry(id: string, value: string, onlyIfAbsent = false): Promise<boolean> {
    if (onlyIfAbsent && this.shared.has(id)) return false;
    this.shared.set(id, value);
    this.sharedVersion++;
    return true;
  }

  async removeEntry(id: string): Promise<boolean> {
    if (!this.shared.delete(id)) return false;
    this.sharedVersion++;
    return true;
  }
}
