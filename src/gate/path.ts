import { getPath } from "hono/utils/url";

/**
 * One canonical path per endpoint. Repeated and trailing slashes name the same path and are
 * collapsed before routing, so `/v1//chat/completions/` reaches the priced route; any other
 * spelling that decodes to a different path (percent-encoding, backslashes, dot segments) is
 * refused before routing, so it can reach neither a route nor the upstream.
 */

/** The routing path of a request (Hono's `getPath`), with repeated and trailing slashes collapsed. */
export function canonicalPath(request: Request): string {
  const path = getPath(request);
  return path.includes("//") || (path.length > 1 && path.endsWith("/")) ? collapseSlashes(path) : path;
}

export function collapseSlashes(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, "/");
  return collapsed.length > 1 && collapsed.endsWith("/") ? collapsed.slice(0, -1) : collapsed;
}

const SPELLING = /[A-Za-z0-9._~\-/\\%]/;
const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;
const MAY_BE_A_PROBLEM = /[\\%.]/;

/**
 * Why a request target's path cannot be taken as written, or undefined when it can. The target is
 * the raw one from the request line: the URL parser has already resolved dot segments in the
 * routing path, so only the raw text shows them.
 */
export function pathProblem(target: string): string | undefined {
  const query = target.indexOf("?");
  const path = query < 0 ? target : target.slice(0, query);
  // Every problem below needs one of these characters; most paths have none.
  if (!MAY_BE_A_PROBLEM.test(path)) return undefined;
  if (path.includes("\\")) return "a backslash";
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return "a stray %";
  for (const match of path.matchAll(/%(..)/g)) {
    // An encoded character that a route's own segments or separators use would spell a path the
    // routes do not see as the one the upstream decodes (`chat%2Fcompletions`, `%63hat`).
    const byte = Number.parseInt(match[1]!, 16);
    if (!Number.isInteger(byte) || byte < 0x20 || byte === 0x7f || SPELLING.test(String.fromCharCode(byte))) return `an encoded "${match[0]}"`;
  }
  if (DOT_SEGMENT.test(path)) return "a dot segment";
  return undefined;
}
