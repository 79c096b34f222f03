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
    const end = text.lastIndexOf("\n\n");
    if (end < 0) {
      this.tail = text;
      return [];
    }
    this.tail = text.slice(end + 2);
    return text.slice(0, end).split("\n\n");
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
