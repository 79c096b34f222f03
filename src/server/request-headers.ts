import { ProxyError } from "../errors.js";

const REQUEST_TYPE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/**
 * `x-tollgate-request-type` (default `chat`). Any well-formed name is accepted: a type with an
 * output limit in `optimize.output_limits` gets it, other types are counted under their name.
 */
export function readRequestType(header: string | undefined): string {
  if (header === undefined || header === "") return "chat";
  const type = header.trim().toLowerCase();
  if (!REQUEST_TYPE.test(type)) {
    throw new ProxyError(
      "invalid_request",
      "header x-tollgate-request-type must be 1-64 characters of a-z, 0-9, '_', '.', '-'",
      "x-tollgate-request-type",
    );
  }
  return type;
}

/** The client's headers an Anthropic upstream gets: the API version it was written for and the beta features it asks. */
export function anthropicHeaders(header: (name: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["anthropic-version", "anthropic-beta"]) {
    const value = header(name);
    if (value) out[name] = value;
  }
  return out;
}

const TAG = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/;
/** Tags one request may carry. */
export const MAX_TAGS = 10;

/** `x-tollgate-tags: a,b`: at most MAX_TAGS tags of 1-64 characters each; undefined when absent. */
export function readTags(header: string | undefined): string[] | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const tags = [...new Set(header.split(",").map((t) => t.trim()).filter((t) => t.length > 0))];
  if (tags.length > MAX_TAGS || !tags.every((t) => TAG.test(t))) {
    throw new ProxyError(
      "invalid_request",
      `header x-tollgate-tags must be at most ${MAX_TAGS} comma-separated tags of 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':', '/', '-'`,
      "x-tollgate-tags",
    );
  }
  return tags;
}

const MAX_END_USER = 256;

/**
 * The end user a request is for, within its key: `x-tollgate-user`, else the body's `user` (chat,
 * Responses) or `safety_identifier`. Undefined when none names one.
 */
export function readEndUser(header: string | undefined, body: Record<string, unknown>): string | undefined {
  const named = header ?? (typeof body.user === "string" ? body.user : typeof body.safety_identifier === "string" ? body.safety_identifier : undefined);
  if (named === undefined || named === "") return undefined;
  if (named.length > MAX_END_USER) {
    throw new ProxyError("invalid_request", `the end user's name must be at most ${MAX_END_USER} characters`, header !== undefined ? "x-tollgate-user" : "user");
  }
  return named;
}
