import { isoTime } from "./clock.js";

/**
 * Structured logs: one JSON object per line on stdout. Keys and message content never go in;
 * callers pass identifiers only.
 */
export type LogLevel = "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

/**
 * Lines logged in one turn of the event loop leave in one write: stdout to a file or a pipe is
 * written synchronously, one system call per write, and a busy proxy logs a line per request.
 * Whatever is still pending when the process exits is written then.
 */
let pending = "";
let scheduled = false;
const MAX_PENDING = 64 * 1024;

function flushLines(): void {
  scheduled = false;
  if (pending === "") return;
  const lines = pending;
  pending = "";
  process.stdout.write(lines);
}

process.on("exit", flushLines);

/**
 * One line: time, level and event first, then the fields, as `JSON.stringify` of them spread into
 * one object would write it; built as text, without the spread object.
 */
function line(level: LogLevel, event: string, fields: Record<string, unknown> | undefined): string {
  const time = isoTime(Date.now());
  if (fields !== undefined && ("time" in fields || "level" in fields || "event" in fields)) return JSON.stringify({ time, level, event, ...fields });
  const head = `{"time":"${time}","level":"${level}","event":${JSON.stringify(event)}`;
  const rest = fields === undefined ? "{}" : JSON.stringify(fields);
  return rest === "{}" ? `${head}}` : `${head},${rest.slice(1)}`;
}

export const jsonLogger: Logger = {
  log(level, event, fields) {
    pending += `${line(level, event, fields)}\n`;
    if (pending.length >= MAX_PENDING) flushLines();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flushLines);
    }
  },
};


/** Collects lines in memory, for tests. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; event: string } & Record<string, unknown>> = [];
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, event, ...fields });
  }
}
