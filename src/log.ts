/**
 * Structured logs: one JSON object per line on stdout. Keys and message content never go in;
 * callers pass identifiers only.
 */
export type LogLevel = "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export const jsonLogger: Logger = {
  log(level, event, fields) {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  },
};

export const silentLogger: Logger = { log() {} };

/** Collects lines in memory, for tests. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; event: string } & Record<string, unknown>> = [];
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, event, ...fields });
  }
}
