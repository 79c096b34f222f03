import { createHash, timingSafeEqual } from "node:crypto";
import type { Caller } from "../caller.js";
import type { Config } from "../config/schema.js";
import { ProxyError } from "../errors.js";

export type { Caller } from "../caller.js";

export interface Authenticator {
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
 * Keys are compared by their SHA-256 digests with a constant-time check, against every
 * configured key, so neither the match nor its position leaks through timing.
 */
export function createAuthenticator(config: Config): Authenticator {
  const keys = config.keys.map((k) => {
    const caller: Caller = { keyId: k.id, team: k.team ?? null, maxTier: k.max_tier };
    if (k.endpoints) caller.endpoints = k.endpoints;
    if (k.models) caller.models = new Set(k.models);
    return { digest: digest(k.key), caller };
  });
  const adminDigest = config.admin_key ? digest(config.admin_key) : undefined;
  // An open proxy without an admin key has one tenant, who sees everything.
  const anonymous: Caller = keys.length === 0 && !adminDigest ? { keyId: null, team: null, admin: true } : { keyId: null, team: null };
  const admin: Caller = { keyId: null, team: null, admin: true };
  // Keys already matched, by their text: a request with a known key skips the digest. Only
  // configured keys ever enter, so it holds at most one entry per key; a wrong key is always digested.
  const accepted = new Map<string, Caller>();

  return {
    open: keys.length === 0,
    adminRequired: adminDigest !== undefined || keys.length > 0,
    authenticate(authorization) {
      if (keys.length === 0) return anonymous;
      const secret = bearer(authorization);
      if (secret === undefined) {
        throw new ProxyError("invalid_api_key", "Missing API key: send it as 'Authorization: Bearer <key>'.");
      }
      const known = accepted.get(secret);
      if (known) return known;
      const given = digest(secret);
      let found: Caller | undefined;
      for (const k of keys) if (timingSafeEqual(given, k.digest)) found = k.caller;
      if (!found) throw new ProxyError("invalid_api_key", "Incorrect API key provided.");
      accepted.set(secret, found);
      return found;
    },
    authenticateWithAdmin(authorization) {
      return this.isAdmin(authorization) ? (anonymous.admin ? anonymous : admin) : this.authenticate(authorization);
    },
    isAdmin(authorization) {
      // Without an admin key, reports are open only on an open proxy (no client keys, loopback).
      if (!adminDigest) return keys.length === 0;
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
