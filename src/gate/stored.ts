import type { ScannedJson } from "../request/json-scan.js";

/**
 * What the bodies of pass-through calls say about stored objects: the ids a request refers to
 * (each must be the caller's), the ids an answer brings into being (each becomes the caller's), and
 * a list answer cut down to what the caller may see. Pure functions over parsed JSON.
 */

/** Fields that name a stored object, at any depth of a request body (tools, attachments, tool resources). */
const REFERENCE_FIELDS = new Set(["input_file_id", "file_id", "file_ids", "training_file", "validation_file", "assistant_id", "previous_response_id", "conversation", "vector_store_ids", "vector_store_id", "container", "thread_id"]);

/** Continuations of a response or conversation: a priced route checks them on its own, with what they say of the upstream and the context. */
export const CONTINUATION_FIELDS: ReadonlySet<string> = new Set(["previous_response_id", "conversation"]);

/** The other reference fields, which the scan of a priced body notices (request/json-scan.ts). */
export const REFERENCE_TEXTS: ReadonlySet<string> = new Set([...REFERENCE_FIELDS].filter((f) => !CONTINUATION_FIELDS.has(f)));

/**
 * A quick look at a priced request's body, from its scan with `REFERENCE_TEXTS`: only a body that
 * mentions a reference field (other than the continuations its route checks on its own) is walked.
 * A key written with `\u` escapes (`"file\u005fid"`) is only that field once parsed, so a body
 * with any `\u` is walked too.
 */
export function mayReference(scanned: ScannedJson): boolean {
  if (scanned.noticing !== REFERENCE_TEXTS) throw new Error("mayReference needs a scan that noticed REFERENCE_TEXTS");
  return scanned.noticed || scanned.unicodeEscape;
}

/**
 * The stored objects a request body names, wherever they are: a file in a message's attachments, a
 * vector store in a tool's resources, a container in a code interpreter tool. `skip` leaves out
 * fields the caller checks itself.
 */
export function referencedIds(body: unknown, skip: ReadonlySet<string> = new Set()): string[] {
  const ids: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const [key, v] of Object.entries(value)) {
      if (REFERENCE_FIELDS.has(key) && !skip.has(key)) {
        if (typeof v === "string") {
          ids.push(v);
        } else if (Array.isArray(v)) {
          for (const item of v) if (typeof item === "string") ids.push(item);
        } else if (typeof (v as { id?: unknown } | null)?.id === "string") {
          ids.push((v as { id: string }).id);
        }
      }
      if (v !== null && typeof v === "object") walk(v);
    }
  };
  walk(body);
  return ids;
}

/**
 * The objects an answer brings into being: the created object itself (on a route that creates),
 * and what an owned object of a known kind produces over time (a batch's output files, an upload's
 * file, a run's thread, a fine-tuning job's result files and model). Nothing else in an answer
 * (a file's contents, a field of another kind of object) makes anything anyone's.
 */
export function producedIds(answer: unknown, created: boolean): string[] {
  if (answer === null || typeof answer !== "object" || Array.isArray(answer)) return [];
  const a = answer as Record<string, unknown>;
  const ids: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === "string" && value !== "") ids.push(value);
  };
  if (created) add(a.id);
  switch (a.object) {
    case "batch":
      add(a.output_file_id);
      add(a.error_file_id);
      break;
    case "upload":
      add((a.file as { id?: unknown } | null | undefined)?.id);
      break;
    case "thread.run":
      add(a.thread_id);
      break;
    case "fine_tuning.job":
      add(a.fine_tuned_model);
      if (Array.isArray(a.result_files)) a.result_files.forEach(add);
      break;
  }
  return ids;
}

/** The ids of a list answer's items (`{object: "list", data: [{id}...]}`), or undefined when it is no list. */
export function listedIds(answer: unknown): string[] | undefined {
  const data = (answer as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return undefined;
  return data.flatMap((item) => (typeof (item as { id?: unknown } | null)?.id === "string" ? [(item as { id: string }).id] : []));
}

/**
 * A list answer with only the visible items. The upstream's cursors stay as they are, so a page can
 * hold fewer items than `limit` and the next page still follows on.
 */
export function filterList(answer: Record<string, unknown>, visible: ReadonlySet<string>): Record<string, unknown> {
  const data = (answer.data as unknown[]).filter((item) => visible.has((item as { id?: string } | null)?.id ?? ""));
  return { ...answer, data };
}
