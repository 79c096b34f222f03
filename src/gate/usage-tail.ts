/** How much of an answer's end is kept: usage comes last, after images and transcripts. */
const TAIL_CHARS = 256 * 1024;

/**
 * Finds the `usage` object of a metered answer as it streams through, JSON or SSE, without holding
 * the answer: only its tail is kept, and the last `"usage": {...}` in it is read at the end.
 */
export class UsageTail {
  private tail = "";

  push(text: string): void {
    this.tail = this.tail.length + text.length <= TAIL_CHARS ? this.tail + text : (this.tail + text).slice(-TAIL_CHARS);
  }

  /** The last complete `usage` object seen, parsed; undefined when there is none. */
  usage(): unknown {
    for (let at = this.tail.lastIndexOf('"usage"'); at >= 0; at = this.tail.lastIndexOf('"usage"', at - 1)) {
      const found = objectAfter(this.tail, at + 7);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}

/** The JSON object after `"usage"` at `from` (`: {...}`), when it is whole and parses. */
function objectAfter(text: string, from: number): unknown {
  const start = /^\s*:\s*\{/.exec(text.slice(from, from + 64));
  if (!start) return undefined;
  const open = from + start[0].length - 1;
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) {
      try {
        return JSON.parse(text.slice(open, i + 1));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
