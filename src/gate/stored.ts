/**
 * What the bodies of pass-through calls say about stored objects: the ids a request refers to
 * (each must be the caller's), the ids an answer brings into being (each becomes the caller's), and
 * a list answer cut down to what the caller may see. Pure functions over parsed JSON.
 */

/** Top-level request fields that name a stored object. */
const REFERENCE_FIELDS = ["input_file_id", "file_id", "file_ids", "training_file", "validation_file", "assistant_id", "previous_response_id", "conversation", "vector_store_ids"];

/** The stored objects a request body names. */
export function referencedIds(body: unknown): string[] {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return [];
  const record = body as Record<string, unknown>;
  const ids: string[] = [];
  for (const field of REFERENCE_FIELDS) {
    const value = record[field];
    if (typeof value === "string") {
      ids.push(value);
    } else if (Array.isArray(value)) {
      for (const v of value) if (typeof v === "string") ids.push(v);
    } else if (typeof (value as { id?: unknown } | null | undefined)?.id === "string") {
      ids.push((value as { id: string }).id);
    }
  }
  return ids;
}

/**
 * The objects an answer brings into being: the created object itself (`created`), and what an
 * owned object produces over time (a batch's output files, an upload's file, a run's thread, a
 * fine-tuning job's result files and model).
 */
export function producedIds(answer: unknown, created: boolean): string[] {
  if (answer === null || typeof answer !== "object" || Array.isArray(answer)) return [];
  const a = answer as Record<string, unknown>;
  const ids: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === "string" && value !== "") ids.push(value);
  };
  if (created) add(a.id);
  add(a.output_file_id);
  add(a.error_file_id);
  add(a.thread_id);
  add(a.fine_tuned_model);
  add((a.file as { id?: unknown } | null | undefined)?.id);
  if (Array.isArray(a.result_files)) a.result_files.forEach(add);
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
