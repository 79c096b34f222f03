import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { ChatBody, ChatMessage } from "../../src/request/parse.js";
import type { RequestFeatures } from "../../src/routing/classify.js";
import { extractFeatures, messageText } from "../../src/routing/features.js";

/**
 * Labelled routing data: one JSON object a line, `{prompt, weak, strong}` where `weak` and `strong`
 * are the quality of each model's answer (booleans for correct or not, or numbers such as judge
 * scores). `messages` (a chat conversation) may stand instead of `prompt`; any other field (a
 * `subject`, say) is kept as `group` when it is a string. `.gz` files are read compressed.
 */

export interface LabelledPrompt {
  body: ChatBody;
  weak: number;
  strong: number;
  group?: string;
}

function quality(value: unknown, field: string, line: number, source: string): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new Error(`${source}:${line}: '${field}' must be a boolean or a number`);
}

export function parseDataset(text: string, source: string, groupField = "subject"): LabelledPrompt[] {
  const rows: LabelledPrompt[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    let messages: ChatMessage[];
    if (typeof value.prompt === "string") messages = [{ role: "user", content: value.prompt }];
    else if (Array.isArray(value.messages)) messages = value.messages as ChatMessage[];
    else throw new Error(`${source}:${i + 1}: needs 'prompt' (a string) or 'messages'`);
    const group = value[groupField];
    rows.push({
      body: { model: "auto", messages },
      weak: quality(value.weak, "weak", i + 1, source),
      strong: quality(value.strong, "strong", i + 1, source),
      ...(typeof group === "string" ? { group } : {}),
    });
  });
  return rows;
}

export function readDataset(path: string, groupField?: string): LabelledPrompt[] {
  const bytes = readFileSync(path);
  const text = path.endsWith(".gz") ? gunzipSync(bytes).toString("utf8") : bytes.toString("utf8");
  return parseDataset(text, path, groupField);
}

/** Characters of the prompt's text, every message: the length baseline's score. */
export function promptChars(row: LabelledPrompt): number {
  let chars = 0;
  for (const m of row.body.messages) chars += messageText(m).length;
  return chars;
}

/**
 * The features routing sees for a labelled prompt. Prompt tokens (only YAML rules read them) are
 * approximated as characters / 4 here, so evaluating 10,000 prompts needs no tokenizer pass.
 */
export function promptFeatures(row: LabelledPrompt): RequestFeatures {
  return extractFeatures(row.body, Math.ceil(promptChars(row) / 4), "chat");
}
