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
