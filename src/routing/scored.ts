import type { HistogramStore } from "../budget/interface.js";
import { systemClock, type Clock } from "../clock.js";
import type { Config } from "../config/schema.js";
import { ShareTracker, type TargetShare, type Thresholds } from "./share.js";

/**
 * Where the routing score's thresholds come from: fixed in the configuration, or following
 * `routing.target_share` through a ShareTracker (the store shares it between replicas).
 */
export interface ScoreTiers {
  thresholds(): Thresholds;
  /** Counts a score that decided a tier (only a target share needs them). */
  observe(score: number): void;
  /** The target shares, when the thresholds follow traffic. */
  readonly target: TargetShare | undefined;
  /** Scores in the shared window at the last sync (target share only). */
  windowCount(): number | undefined;
  /** Starts the target share's background sync (after the store connected: a first sync before it would only fail). */
  start(): void;
  close(): void;
}

/**
 * Used when the configuration sets neither thresholds nor a target share. The shipped model's
 * score is the probability that the strong model is needed; on its MMLU training prompts about
 * a fifth score at or above 0.23 and half at or above 0.155 (see the README's Routing section).
 */
export const DEFAULT_THRESHOLDS: Thresholds = { premium: 0.23, standard: 0.155 };

export interface ScoringOptions {
  /** Shares the target share's window with the other replicas; without one it stays in this process. */
  store?: HistogramStore;
  clock?: Clock;
  onError?: (err: unknown) => void;
}

/** Histograms in this process only, for a target share without a shared store. */
class LocalHistograms implements HistogramStore {
  private readonly byKey = new Map<string, { counts: Map<number, number>; expiresAt: number }>();
  constructor(private readonly clock: Clock) {}

  async addToHistogram(key: string, counts: ReadonlyMap<number, number>, ttlMs: number): Promise<void> {
    const now = this.clock.now();
    for (const [k, v] of this.byKey) if (v.expiresAt <= now) this.byKey.delete(k);
    let h = this.byKey.get(key);
    if (!h) this.byKey.set(key, (h = { counts: new Map(), expiresAt: 0 }));
    for (const [b, n] of counts) h.counts.set(b, (h.counts.get(b) ?? 0) + n);
    h.expiresAt = now + ttlMs;
  }

  async histograms(keys: string[]): Promise<Array<Map<number, number>>> {
    const now = this.clock.now();
    return keys.map((key) => {
      const h = this.byKey.get(key);
      return h && h.expiresAt > now ? new Map(h.counts) : new Map();
    });
  }
}

export function createScoreTiers(routing: Config["routing"], quantiles: readonly number[], options: ScoringOptions = {}): ScoreTiers {
  const target = routing.target_share;
  if (!target) {
    const fixed = routing.thresholds ?? DEFAULT_THRESHOLDS;
    return { thresholds: () => fixed, observe: () => {}, target: undefined, windowCount: () => undefined, start: () => {}, close: () => {} };
  }
  const clock = options.clock ?? systemClock;
  const window = routing.share_window;
  const tracker = new ShareTracker(
    options.store ?? new LocalHistograms(clock),
    clock,
    target,
    quantiles,
    { windowMs: window.seconds * 1000, slots: 10, syncMs: window.sync_ms, minSamples: window.min_samples },
    options.onError,
  );
  return {
    thresholds: () => tracker.thresholds(),
    observe: (score) => tracker.observe(score),
    target,
    windowCount: () => tracker.windowCount,
    start: () => tracker.start(),
    close: () => tracker.stop(),
  };
}
