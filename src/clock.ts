/** The one clock: injectable so budget windows and roll-overs are testable. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  constructor(private ms: number) {}
  now(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** The second last formatted by `isoTime`, and its text up to the seconds ("2026-01-31T12:00:00"). */
let secondMs = Number.NaN;
let secondText = "";

/**
 * `new Date(ms).toISOString()` for the times of records and log lines: the text up to the second is
 * kept from the previous call, since a busy proxy formats many times within each second.
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms)) return new Date(ms).toISOString();
  const second = ms - (((ms % 1000) + 1000) % 1000);
  if (second !== secondMs) {
    const text = new Date(ms).toISOString();
    // Years beyond 9999 or before 0 take another layout: those are never cached.
    if (text.length !== 24) return text;
    secondMs = second;
    secondText = text.slice(0, 19);
  }
  const millis = ms - second;
  return `${secondText}.${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}
