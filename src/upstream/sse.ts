/**
 * Splits a server-sent-events byte stream into events. Only the unfinished tail is kept
 * between reads, so each byte is scanned once.
 */
export class SseSplitter {
  private tail = "";
  private afterCr = false;

  /** Complete events in `chunk` (each without its blank-line terminator). */
  push(chunk: string): string[] {
    if (chunk.length === 0) return [];
    // A "\r\n" cut by the chunk boundary: its "\r" already ended the line.
    if (this.afterCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.afterCr = chunk.endsWith("\r");
    let text = this.tail + chunk;
    if (text.includes("\r")) text = text.replace(/\r\n?/g, "\n");
    // Blank lines where an event would begin dispatch nothing (extra ones between events, or the
    // rest of a run a read cut): drop them, so events never start or end with a line break.
    if (text.startsWith("\n")) text = text.replace(/^\n+/, "");
    let end = text.lastIndexOf("\n\n");
    if (end < 0) {
      this.tail = text;
      return [];
    }
    while (text[end - 1] === "\n") end--;
    this.tail = text.slice(end).replace(/^\n+/, "");
    return text.slice(0, end).split(/\n{2,}/);
  }

  /** Whatever was left unterminated when the stream ended. */
  rest(): string {
    return this.tail;
  }
}

/** The `data:` payload of an event; undefined for comments and events without data. */
export function eventData(event: string): string | undefined {
  if (event.startsWith("data: ") && !event.includes("\n")) return event.slice(6);
  let data: string | undefined;
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const value = line.slice(line[5] === " " ? 6 : 5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

export function sseEvent(data: string): string {
  return `data: ${data}\n\n`;
}
