/**
 * Calendar windows in the budget's time zone. The window id is part of every storage key,
 * so a new day or month starts from zero without any reset job.
 */

export interface Windows {
  day: string; // "2026-11-26"
  month: string; // "2026-11"
  dayEnd: number; // ms since epoch when this day ends in the zone
  monthEnd: number;
}

export type WindowName = "daily" | "monthly";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localTime(ms: number, timeZone: string): LocalTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** Offset of the zone from UTC at instant `ms`, in ms (positive east of Greenwich). */
function zoneOffset(ms: number, timeZone: string): number {
  const t = localTime(ms, timeZone);
  const asUtc = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant local midnight starts on the given local date (month may overflow; Date.UTC normalises). */
export function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const guess = Date.UTC(year, month - 1, day);
  let instant = guess - zoneOffset(guess, timeZone);
  // A second pass settles offsets that change between the guess and the answer (DST).
  instant = guess - zoneOffset(instant, timeZone);
  // Where clocks jump forward at midnight (America/Santiago, America/Havana) midnight never happens
  // and the answer lands before it; the day then starts at the jump.
  const short = guess - (instant + zoneOffset(instant, timeZone));
  return short > 0 ? instant + short : instant;
}

const pad = (n: number) => String(n).padStart(2, "0");

export function windowsAt(ms: number, timeZone: string): Windows {
  const t = localTime(ms, timeZone);
  return {
    day: `${t.year}-${pad(t.month)}-${pad(t.day)}`,
    month: `${t.year}-${pad(t.month)}`,
    dayEnd: localMidnight(t.year, t.month, t.day + 1, timeZone),
    monthEnd: localMidnight(t.year, t.month + 1, 1, timeZone),
  };
}

/** Memoises `windowsAt` until the current day ends: the hot path pays for Intl once a day. */
export class WindowCache {
  private current: (Windows & { dayStart: number }) | undefined;

  constructor(private readonly timeZone: string) {}

  at(ms: number): Windows {
    const c = this.current;
    if (c && ms >= c.dayStart && ms < c.dayEnd) return c;
    const w = windowsAt(ms, this.timeZone);
    const t = localTime(ms, this.timeZone);
    this.current = { ...w, dayStart: localMidnight(t.year, t.month, t.day, this.timeZone) };
    return this.current;
  }
}
