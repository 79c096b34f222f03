import { createHash, timingSafeEqual } from "node:crypto";
import type { Caller } from "../caller.js";
import type { Config } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { KeyRegistry } from "../keys/registry.js";

export type { Caller } from "../caller.js";

export interface Authenticator {
  /** No key, from the configuration or the admin API: anyone may call. */
  readonly open: boolean;
  authenticate(authorization: string | undefined): Caller;
  /** As `authenticate`, and the admin key as an admin caller (the pass-through's reads of stored objects). */
  authenticateWithAdmin(authorization: string | undefined): Caller;
  isAdmin(authorization: string | undefined): boolean;
  /** Throws 401 `admin_key_required` unless `isAdmin`. */
  requireAdmin(authorization: string | undefined): void;
  /** Reports need a credential: an admin key is set, or client keys are (and then reports stay closed without an admin key). */
  readonly adminRequired: boolean;
}

const digest = (secret: string) => createHash("sha256").update(secret).digest();

/** How many found keys' digests are kept by their secret (all of them are dropped past it). */
const DIGESTS_KEPT = 10_000;

/**
 * The credential of a request on the Messages API, as an Authorization header: Anthropic's clients
 * send their key as `x-api-key` (Claude Code with ANTHROPIC_API_KEY, the SDK) or as a bearer token
 * (ANTHROPIC_AUTH_TOKEN).
 */
export function anthropicCredential(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  if (authorization || !apiKey) return authorization;
  return `Bearer ${apiKey}`;
}

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : undefined;
}

/**
 * A key is found by the SHA-256 of the secret given (registry.ts), in a map: what a lookup's
 * timing could reveal is where a digest falls, which says nothing of any secret. The admin key is
 * compared by digest with a constant-time check. Keys come and go at run time (the admin API),
 * so whether the proxy is open is asked on every request.
 */
export function createAuthenticator(config: Config, keys: Pick<KeyRegistry, "find" | "size">): Authenticator {
  const adminDigest = config.admin_key ? digest(config.admin_key) : undefined;
  // An open proxy without an admin key has one tenant, who sees everything.
  const openTenant: Caller = { keyId: null, team: null, admin: true };
  const anonymous: Caller = { keyId: null, team: null };
  const admin: Caller = { keyId: null, team: null, admin: true };
  const digests = new Map<string, string>();

  return {
    get open() {
      return keys.size === 0;
    },
    get adminRequired() {
      return adminDigest !== undefined || keys.size > 0;
    },
    authenticate(authorization) {
      if (keys.size === 0) return adminDigest ? anonymous : openTenant;
      const secret = bearer(authorization);
      if (secret === undefined) {
        throw new ProxyError("invalid_api_key", "Missing API key: send it as 'Authorization: Bearer <key>'.");
      }
      // A secret's digest never changes: a key's is kept once it was found (the registry is still
      // asked every time, so a revoked key fails at once); a wrong secret is always digested.
      const known = digests.get(secret);
      const hex = known ?? digest(secret).toString("hex");
      const found = keys.find(hex);
      if (!found) throw new ProxyError("invalid_api_key", "Incorrect API key provided.");
      if (known === undefined) {
        if (digests.size >= DIGESTS_KEPT) digests.clear();
        digests.set(secret, hex);
      }
      return found;
    },
    authenticateWithAdmin(authorization) {
      return this.isAdmin(authorization) ? (keys.size === 0 && !adminDigest ? openTenant : admin) : this.authenticate(authorization);
    },
    isAdmin(authorization) {
      // Without an admin key, reports are open only on an open proxy (no client keys, loopback).
      if (!adminDigest) return keys.size === 0;
      const secret = bearer(authorization);
      return secret !== undefined && timingSafeEqual(digest(secret), adminDigest);
    },
    requireAdmin(authorization) {
      if (this.isAdmin(authorization)) return;
      throw new ProxyError(
        "admin_key_required",
        adminDigest
          ? "This endpoint needs the admin key: 'Authorization: Bearer <admin_key>'."
          : "Reports are closed: client keys are configured but admin_key is not. Set admin_key to read them.",
      );
    },
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|\[::1\])$/;

/** Open mode (no keys) is only allowed on a loopback host unless `server.allow_open` says otherwise. */
export function checkOpenBinding(config: Config, auth: Authenticator): string | undefined {
  if (!auth.open || config.server.allow_open || LOOPBACK.test(config.server.host)) return undefined;
  return `no keys are configured, so the proxy is open to anyone: refusing to listen on ${config.server.host}. Configure keys, bind a loopback host, or set server.allow_open: true.`;
}
