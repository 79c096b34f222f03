import type { HistogramStore } from "../budget/interface.js";
import type { Clock } from "../clock.js";
import type { Tier } from "../config/schema.js";

/**
 * Tiers from the routing score, and the thresholds behind them: fixed (`routing.thresholds`), or
 * following a target share of traffic per tier (`routing.target_share`).
 *
 * With a target share the thresholds are quantiles of recent scores, shared by every replica:
 * - each replica counts the scores it routes in a local histogram of BUCKETS buckets (one array
 *   increment on the request path);
 * - every `sync_ms` (5 s by default), off the request path, it adds those counts to the store's
 *   histogram of the current time slot (HINCRBY in Redis, atomic across replicas), reads the slots
 *   of the window back and recomputes both thresholds from their sum;
 * - the window is `window_seconds` (600 by default) cut into 10 slots, so the quantile covers the
 *   last 9 to 10 minutes of traffic of every replica; a change in traffic moves the thresholds
 *   within a sync, fully after one window (half after about half of it);
 * - until the window holds `min_samples` scores, the shipped model's own score distribution fills
 *   in the rest, so a fresh deployment starts near the target instead of at random.
 *
 * ```ts
 * const tracker = new ShareTracker(store, clock, { premium: 0.2, standard: 0.3 }, scorer.quantiles, window);
 * tracker.start(); tierForScore(score, tracker.thresholds()); tracker.observe(score);
 * ```
 */

export interface Thresholds {
  /** A score at or above it is premium. */
  premium: number;
  /** A score at or above it (and below premium's) is standard; below it, economy. */
  standard: number;
}

export interface TargetShare {
  premium: number;
  standard: number;
}

export interface ShareWindow {
  windowMs: number;
  /** Slots per window: the window moves one slot at a time. */
  slots: number;
  syncMs: number;
  /** Scores the window needs before it stands alone (the model's own distribution fills in). */
  minSamples: number;
}

export const BUCKETS = 10_000;

export function tierForScore(score: number, thresholds: Thresholds): Tier {
  if (score >= thresholds.premium) return "premium";
  if (score >= thresholds.standard) return "standard";
  return "economy";
}

export function bucketOf(score: number): number {
  return Math.min(BUCKETS - 1, Math.max(0, Math.floor(score * BUCKETS)));
}

/**
 * The score above which `share` of the histogram's mass lies, reading each bucket's scores as
 * spread evenly over it. A share of 0 gives Infinity (nothing reaches it), a share of 1 gives 0.
 */
export function scoreAtTopShare(histogram: ArrayLike<number>, share: number): number {
  if (share <= 0) return Infinity;
  let total = 0;
  for (let b = 0; b < histogram.length; b++) total += histogram[b]!;
  if (share >= 1 || total <= 0) return 0;
  const wanted = share * total;
  let above = 0;
  for (let b = histogram.length - 1; b >= 0; b--) {
    const here = histogram[b]!;
    if (here > 0 && above + here >= wanted) return (b + 1 - (wanted - above) / here) / histogram.length;
    above += here;
  }
  return 0;
}

export function thresholdsFor(histogram: ArrayLike<number>, target: TargetShare): Thresholds {
  return {
    premium: scoreAtTopShare(histogram, target.premium),
    standard: scoreAtTopShare(histogram, target.premium + target.standard),
  };
}

/**
 * `weight` scores spread as the model's training scores were: its 101 quantiles hold 1 % of the
 * scores between each two, spread evenly over the buckets in between.
 */
export function priorHistogram(quantiles: readonly number[], weight: number): Float64Array {
  const histogram = new Float64Array(BUCKETS);
  const step = weight / (quantiles.length - 1);
  for (let i = 0; i + 1 < quantiles.length; i++) {
    const from = bucketOf(quantiles[i]!);
    const to = Math.max(from, bucketOf(quantiles[i + 1]!) - 1);
    for (let b = from; b <= to; b++) histogram[b] = histogram[b]! + step / (to - from + 1);
  }
  return histogram;
}

export class ShareTracker {
  /** Scores routed since the last sync, by bucket. */
  private pending = new Map<number, number>();
  private current: Thresholds;
  private timer: ReturnType<typeof setInterval> | undefined;
  private syncing: Promise<void> | undefined;
  /** Whether the last sync failed: an outage is reported once, not every sync. */
  private failing = false;
  /** Scores the last sync saw in the shared window. */
  windowCount = 0;

  constructor(
    private readonly store: HistogramStore,
    private readonly clock: Clock,
    readonly target: TargetShare,
    private readonly quantiles: readonly number[],
    readonly window: ShareWindow,
    /** Called when syncs start failing (once per outage); the thresholds stay as they were meanwhile. */
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.current = thresholdsFor(priorHistogram(quantiles, 1), target);
  }

  /** Counts a score the target share routed (the request path: one map update). */
  observe(score: number): void {
    const b = bucketOf(score);
    this.pending.set(b, (this.pending.get(b) ?? 0) + 1);
  }

  thresholds(): Thresholds {
    return this.current;
  }

  private get slotMs(): number {
    return Math.max(1, Math.floor(this.window.windowMs / this.window.slots));
  }

  private slotKey(slot: number): string {
    return `routing:scores:${this.slotMs}:${slot}`;
  }

  /** Adds the local counts to the shared slot, reads the window back, recomputes the thresholds. */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const slot = Math.floor(this.clock.now() / this.slotMs);
    const counts = this.pending;
    this.pending = new Map();
    try {
      if (counts.size > 0) await this.store.addToHistogram(this.slotKey(slot), counts, this.window.windowMs + 2 * this.slotMs);
    } catch (err) {
      // Kept for the next sync: a store outage delays the counts, it does not lose them.
      for (const [b, n] of counts) this.pending.set(b, (this.pending.get(b) ?? 0) + n);
      this.failed(err);
      return;
    }
    try {
      const keys = Array.from({ length: this.window.slots }, (_, i) => this.slotKey(slot - i));
      const histogram = new Float64Array(BUCKETS);
      let total = 0;
      for (const h of await this.store.histograms(keys)) {
        for (const [b, n] of h) {
          if (b < 0 || b >= BUCKETS) continue;
          histogram[b] = histogram[b]! + n;
          total += n;
        }
      }
      this.windowCount = total;
      const missing = this.window.minSamples - total;
      if (missing > 0) {
        const prior = priorHistogram(this.quantiles, missing);
        for (let b = 0; b < BUCKETS; b++) histogram[b] = histogram[b]! + prior[b]!;
      }
      // An empty window (no traffic, no prior) says nothing: the thresholds stay where they were.
      if (total > 0 || missing > 0) this.current = thresholdsFor(histogram, this.target);
      this.failing = false;
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    if (!this.failing) this.onError(err);
    this.failing = true;
  }

  /** Syncs now, then every `syncMs`; the timer never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    void this.sync();
    this.timer = setInterval(() => void this.sync(), this.window.syncMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
