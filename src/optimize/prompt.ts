import type { ChatMessage } from "../request/parse.js";

/**
 * The prompt optimizer (off by default): collapses whitespace, drops filler phrases and shortens
 * wordy ones, only in user text and never inside code (fenced blocks or inline code).
 */

/** Phrases that add no meaning to an instruction. */
const FILLER = [
  /\bI was wondering if you could\s+/gi,
  /\bI would like you to\s+/gi,
  /\bcould you please\s+/gi,
  /\bcan you please\s+/gi,
  /\bif you don't mind,?\s*/gi,
  /\bplease note that\s+/gi,
  /\bit is important to note that\s+/gi,
  /\bas a matter of fact,?\s*/gi,
  /\bneedless to say,?\s*/gi,
  /\bbasically,?\s+/gi,
  /\bessentially,?\s+/gi,
];

/** Wordy phrase → short equivalent. */
const WORDY: Array<[RegExp, string]> = [
  [/\bin order to\b/gi, "to"],
  [/\bdue to the fact that\b/gi, "because"],
  [/\bin spite of the fact that\b/gi, "although"],
  [/\bat this point in time\b/gi, "now"],
  [/\bin the event that\b/gi, "if"],
  [/\bfor the purpose of\b/gi, "for"],
  [/\bwith regard to\b/gi, "about"],
  [/\bwith respect to\b/gi, "about"],
  [/\ba large number of\b/gi, "many"],
  [/\bthe majority of\b/gi, "most"],
  [/\bis able to\b/gi, "can"],
  [/\bhas the ability to\b/gi, "can"],
  [/\bprior to\b/gi, "before"],
  [/\bsubsequent to\b/gi, "after"],
  [/\bin close proximity to\b/gi, "near"],
];

/** Fenced code blocks and inline code spans stay exactly as written. */
const CODE = /```[\s\S]*?(?:```|$)|`[^`\n]+`/g;

/** Marks where a filler phrase was removed, so a sentence it started can be capitalised again. */
const CUT = "\u0000";

function optimizeProse(text: string): string {
  if (text.includes(CUT)) return text;
  let out = text;
  for (const pattern of FILLER) out = out.replace(pattern, CUT);
  out = out.replace(/(^|[.!?\n]\s*)\u0000+([a-z])/g, (_m, before: string, letter: string) => before + letter.toUpperCase()).replaceAll(CUT, "");
  for (const [pattern, short] of WORDY) out = out.replace(pattern, (match) => (match[0] === match[0]!.toUpperCase() ? short[0]!.toUpperCase() + short.slice(1) : short));
  // Runs of spaces and tabs become one space; three or more newlines become two.
  return out.replace(/[ \t]+/g, " ").replace(/ *\n */g, "\n").replace(/\n{3,}/g, "\n\n");
}

export function optimizeText(text: string): string {
  let out = "";
  let last = 0;
  for (const match of text.matchAll(CODE)) {
    out += optimizeProse(text.slice(last, match.index));
    out += match[0];
    last = match.index + match[0].length;
  }
  out += optimizeProse(text.slice(last));
  if (out.trim() === "") return text;
  // Trim prose only: a code block left open runs to the end, and its trailing whitespace is code.
  out = out.replace(/^\s+/, "");
  return last === text.length ? out : out.replace(/\s+$/, "");
}

/** Returns new messages with user text optimized; other roles are untouched. */
export function optimizePrompt(messages: ChatMessage[]): { messages: ChatMessage[]; changed: number } {
  let changed = 0;
  const out = messages.map((message) => {
    if (message.role !== "user") return message;
    if (typeof message.content === "string") {
      const content = optimizeText(message.content);
      if (content === message.content) return message;
      changed++;
      return { ...message, content };
    }
    if (!Array.isArray(message.content)) return message;
    let touched = false;
    const parts = message.content.map((part: unknown) => {
      const p = part as { type?: unknown; text?: unknown };
      if (p?.type !== "text" || typeof p.text !== "string") return part;
      const text = optimizeText(p.text);
      if (text === p.text) return part;
      touched = true;
      return { ...p, text };
    });
    if (!touched) return message;
    changed++;
    return { ...message, content: parts };
  });
  return { messages: out, changed };
}
