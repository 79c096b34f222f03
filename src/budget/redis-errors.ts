/**
 * What went wrong with Redis, said so an operator can act: ioredis answers a command sent while
 * it is not connected with "Stream isn't writeable" whatever the cause, so the cause is taken from
 * the connection's own last error, and the URL is shown with its password masked.
 */

/** `redis://user:secret@host` as `redis://user:***@host`; text that is not a URL is returned as it is. */
export function maskUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (parsed.password !== "") parsed.password = "***";
  return parsed.toString().replace(/\/$/, "");
}

/** Causes an operator can act on, by what Redis or the socket said. */
const REASONS: Array<[RegExp, string]> = [
  [/WRONGPASS|invalid password|invalid username-password/i, "wrong password (or user)"],
  [/NOAUTH/i, "Redis needs a password and none was given"],
  [/self[- ]signed|unable to verify|certificate|UNABLE_TO_GET_ISSUER|CERT_/i, "TLS certificate not trusted (store.tls.ca_file)"],
  [/ECONNREFUSED/, "connection refused"],
  [/ENOTFOUND|EAI_AGAIN/, "host name not found"],
  [/ETIMEDOUT|timed? ?out/i, "timed out"],
  [/ECONNRESET|EPIPE|socket hang up|Connection is closed/i, "connection closed by Redis"],
  [/MOVED|CLUSTERDOWN|ASK /, "a Redis Cluster node that does not own the budget keys: use store.redis_cluster"],
  [/READONLY/, "a read-only replica: point at the primary, or use store.redis_sentinel"],
  [/wrong protocol|ERR_SSL|EPROTO/i, "TLS mismatch (rediss:// against a plain port, or the reverse)"],
  [/All sentinels are unreachable|SENTINEL|master name/i, "no Sentinel knows the primary"],
];

/** A short reason for /ready and the 503's detail; the raw message when nothing known matches. */
export function shortReason(message: string): string {
  return REASONS.find(([pattern]) => pattern.test(message))?.[1] ?? message;
}

/** Messages ioredis gives a command that never left because the connection is down: the cause is elsewhere. */
export function saysNothing(message: string): boolean {
  return /Stream isn't writeable|Connection is closed|enableOfflineQueue|Reached the max retries/i.test(message);
}
