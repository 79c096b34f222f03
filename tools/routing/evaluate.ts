/**
 * RouteLLM's router metric, exact. A router ranks prompts; sending the top share `s` of them to the
 * strong model gives a quality between the weak model's and the strong one's:
 *
 *   PGR(s) = (quality of the routed mix - weak quality) / (strong quality - weak quality)
 *   APGR   = area under PGR(s) for s in [0, 1]
 *
 * Prompts with equal scores (a whole tier, say) are taken in random order: PGR is the expected value
 * over every tie-breaking, so within a group of ties the gained quality grows linearly. A share that
 * falls inside one prompt takes that fraction of it (the same linear interpolation), which makes
 * PGR(s) piecewise linear and its area exact: a random router has PGR(s) = s and APGR 0.5.
 *
 * ```ts
 * const curve = gainCurve(scores, rows); // rows: { weak, strong } per prompt
 * pgrAt(curve, 0.3); apgr(curve);
 * ```
 */

export interface Outcome {
  /** Quality of the weak and the strong model's answer: correctness (0/1) or any score. */
  weak: number;
  strong: number;
}

/** The cumulative gain of routing up, at each boundary between groups of tied scores. */
export interface GainCurve {
  /** Prompts routed up at each boundary, from 0 to n. */
  counts: Float64Array;
  /** Sum of (strong - weak) over those prompts, from 0 to the total gain. */
  gains: Float64Array;
  n: number;
  /** Sum of (strong - weak) over every prompt: what routing everything up gains. */
  totalGain: number;
}

/** Deltas (strong - weak) ordered by score, highest first, and the sizes of their tie groups. */
function orderedGroups(scores: ArrayLike<number>, deltas: ArrayLike<number>): { sorted: Float64Array; groups: number[] } {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const sorted = new Float64Array(n);
  const groups: number[] = [];
  let run = 0;
  order.forEach((index, i) => {
    sorted[i] = deltas[index]!;
    run++;
    if (i === n - 1 || scores[order[i + 1]!] !== scores[index]) {
      groups.push(run);
      run = 0;
    }
  });
  return { sorted, groups };
}

function curveFrom(sorted: ArrayLike<number>, groups: readonly number[]): GainCurve {
  const n = sorted.length;
  const counts = new Float64Array(groups.length + 1);
  const gains = new Float64Array(groups.length + 1);
  let at = 0;
  let gained = 0;
  groups.forEach((size, g) => {
    for (let i = at; i < at + size; i++) gained += sorted[i]!;
    at += size;
    counts[g + 1] = at;
    gains[g + 1] = gained;
  });
  return { counts, gains, n, totalGain: gained };
}

export function gainCurve(scores: ArrayLike<number>, outcomes: readonly Outcome[]): GainCurve {
  if (scores.length !== outcomes.length) throw new Error("one score per outcome");
  const { sorted, groups } = orderedGroups(scores, outcomes.map((o) => o.strong - o.weak));
  return curveFrom(sorted, groups);
}

function requireGain(curve: GainCurve): void {
  if (!(curve.totalGain > 0)) throw new Error("the strong model is not better than the weak one on this data: PGR is undefined");
}

/** PGR at share `s` (0..1) of prompts sent to the strong model. */
export function pgrAt(curve: GainCurve, share: number): number {
  requireGain(curve);
  const k = Math.min(1, Math.max(0, share)) * curve.n;
  const { counts, gains } = curve;
  let g = 1;
  while (g < counts.length - 1 && counts[g]! < k) g++;
  const from = counts[g - 1]!;
  const width = counts[g]! - from;
  const gained = width === 0 ? gains[g]! : gains[g - 1]! + ((gains[g]! - gains[g - 1]!) * (k - from)) / width;
  return gained / curve.totalGain;
}

/** The area under PGR(s) over [0, 1]: trapezoids between tie-group boundaries are exact. */
export function apgr(curve: GainCurve): number {
  requireGain(curve);
  const { counts, gains } = curve;
  let area = 0;
  for (let g = 1; g < counts.length; g++) area += ((counts[g]! - counts[g - 1]!) * (gains[g]! + gains[g - 1]!)) / 2;
  return area / (curve.n * curve.totalGain);
}

/** A small seeded generator (mulberry32), so every permutation band is reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PermutationBand {
  /** The 2.5 % and 97.5 % quantiles of APGR when the scores are shuffled across prompts. */
  low: number;
  high: number;
  rounds: number;
}

/**
 * What chance alone gives a router with the same scores (same tie groups): the router's scores
 * are dealt to the prompts at random `rounds` times. An APGR above `high` beats random at the 2.5 % level.
 */
export function permutationBand(scores: ArrayLike<number>, outcomes: readonly Outcome[], rounds = 1000, seed = 1): PermutationBand {
  const { sorted, groups } = orderedGroups(scores, outcomes.map((o) => o.strong - o.weak));
  const random = seededRandom(seed);
  const shuffled = Float64Array.from(sorted);
  const values: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = shuffled[i]!;
      shuffled[i] = shuffled[j]!;
      shuffled[j] = t;
    }
    values.push(apgr(curveFrom(shuffled, groups)));
  }
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))]!;
  return { low: at(0.025), high: at(0.975), rounds };
}

export interface RouterReport {
  name: string;
  pgr: Record<string, number>;
  apgr: number;
}

export const REPORT_SHARES = [0.2, 0.3, 0.5] as const;

export function reportFor(name: string, scores: ArrayLike<number>, outcomes: readonly Outcome[]): RouterReport {
  const curve = gainCurve(scores, outcomes);
  return {
    name,
    pgr: Object.fromEntries(REPORT_SHARES.map((s) => [`${Math.round(s * 100)}%`, pgrAt(curve, s)])),
    apgr: apgr(curve),
  };
}
