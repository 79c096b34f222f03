import { checkOptionalNumber, describe, invalid, isChatObject, MAX_N, MAX_OUTPUT_TOKENS } from "../request/parse.js";
import type { RequestBody } from "./shape.js";

/** The checks every proxied body shares: an object, a model, a boolean stream. */
export function validateCommon(value: unknown): RequestBody {
  if (!isChatObject(value)) throw invalid(`the request body must be a JSON object, got ${describe(value)}`, null);
  if (value.model === undefined) throw invalid("'model' is required", "model");
  if (typeof value.model !== "string" || value.model.length === 0) throw invalid("'model' must be a non-empty string", "model");
  if (value.stream !== undefined && value.stream !== null && typeof value.stream !== "boolean") {
    throw invalid(`'stream' must be a boolean, got ${describe(value.stream)}`, "stream");
  }
  if (value.stream_options !== undefined && value.stream_options !== null && !isChatObject(value.stream_options)) {
    throw invalid("'stream_options' must be an object", "stream_options");
  }
  return value as RequestBody;
}

export function checkOutputLimit(body: Record<string, unknown>, field: string): void {
  checkOptionalNumber(body, field, 1, MAX_OUTPUT_TOKENS, true);
}

export function checkChoices(body: Record<string, unknown>): void {
  checkOptionalNumber(body, "n", 1, MAX_N, true);
}

/** The API's own range for `best_of` (legacy completions): 0 to 20. */
export function checkBestOf(body: Record<string, unknown>): void {
  checkOptionalNumber(body, "best_of", 0, 20, true);
}
