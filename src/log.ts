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

export const jsonLogger: Logger = {
  log(level, event, fields) {
    pending += `${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`;
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
