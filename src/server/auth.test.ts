import { describe, expect, it } from "vitest";
import type { Config } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { testConfig } from "../../test/support/proxy.js";
import { MemoryBudgetStore } from "../budget/memory.js";
import { systemClock } from "../clock.js";
import { KeyRegistry } from "../keys/registry.js";
import { MemoryLogger } from "../log.js";
import { checkOpenBinding, createAuthenticator as authenticatorFor, type Authenticator } from "./auth.js";

const KEYS = [
  { id: "ci-bot", key: "tg-ci-secret", team: "research", max_tier: "standard" },
  { id: "app", key: "tg-app-secret" },
];

function config(overrides: Record<string, unknown> = {}): Config {
  return testConfig("http://upstream.test/v1", overrides);
}

/** The configuration's keys only (the registry's store stays empty). */
function createAuthenticator(c: Config): Authenticator {
  return authenticatorFor(c, new KeyRegistry(c, new MemoryBudgetStore(systemClock), systemClock, new MemoryLogger()));
}

function rejection(auth: Authenticator, header: string | undefined): ProxyError {
  try {
    auth.authenticate(header);
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error(`expected ${header} to be refused`);
}

describe("open mode (no keys)", () => {
  const auth = createAuthenticator(config());

  it("lets anyone in as an anonymous caller, who as the one tenant reaches every stored object", () => {
    expect(auth.open).toBe(true);
    expect(auth.authenticate(undefined)).toEqual({ keyId: null, team: null, admin: true });
    expect(auth.authenticate("Bearer anything")).toEqual({ keyId: null, team: null, admin: true });
    expect(auth.authenticateWithAdmin(undefined)).toEqual({ keyId: null, team: null, admin: true });
  });

  it("keeps anonymous callers apart from the admin when an admin key is set", () => {
    const withAdmin = createAuthenticator(config({ admin_key: "the-admin" }));
    expect(withAdmin.authenticateWithAdmin(undefined)).toEqual({ keyId: null, team: null });
    expect(withAdmin.authenticateWithAdmin("Bearer the-admin")).toEqual({ keyId: null, team: null, admin: true });
  });
});

describe("the pass-through's callers", () => {
  const auth = createAuthenticator(config({ keys: [...KEYS, { id: "narrow", key: "tg-narrow", endpoints: ["files"], models: ["gpt-4o-mini"] }], admin_key: "the-admin" }));

  it("takes the admin key as an admin caller, and client keys with their limits", () => {
    expect(auth.authenticateWithAdmin("Bearer the-admin")).toEqual({ keyId: null, team: null, admin: true });
    expect(auth.authenticateWithAdmin("Bearer tg-narrow")).toEqual({ keyId: "narrow", team: null, maxTier: undefined, endpoints: ["files"], models: new Set(["gpt-4o-mini"]) });
    expect(() => auth.authenticateWithAdmin("Bearer nope")).toThrow(ProxyError);
    // The priced routes never take the admin key.
    expect(rejection(auth, "Bearer the-admin").code).toBe("invalid_api_key");
  });
});

describe("with keys", () => {
  const auth = createAuthenticator(config({ keys: KEYS }));

  it("is not open", () => {
    expect(auth.open).toBe(false);
  });

  it("identifies the caller with its team and max_tier", () => {
    expect(auth.authenticate("Bearer tg-ci-secret")).toEqual({ keyId: "ci-bot", team: "research", maxTier: "standard" });
    expect(auth.authenticate("Bearer tg-app-secret")).toEqual({ keyId: "app", team: null, maxTier: undefined });
  });

  it("accepts any case of the scheme and surrounding spaces", () => {
    expect(auth.authenticate("bearer   tg-app-secret  ").keyId).toBe("app");
    expect(auth.authenticate("  BEARER tg-ci-secret").keyId).toBe("ci-bot");
  });

  it("refuses a missing key with invalid_api_key", () => {
    for (const header of [undefined, "", "Bearer", "Bearer   ", "Basic dGc6c2VjcmV0", "tg-app-secret"]) {
      const err = rejection(auth, header);
      expect([header, err.code, err.status]).toEqual([header, "invalid_api_key", 401]);
    }
  });

  it("refuses a wrong key with invalid_api_key, without echoing it", () => {
    for (const wrong of ["tg-app-secre", "tg-app-secret2", "TG-APP-SECRET", "tg-ci-secret tg-app-secret"]) {
      const err = rejection(auth, `Bearer ${wrong}`);
      expect(err.code).toBe("invalid_api_key");
      expect(err.status).toBe(401);
      expect(err.message).not.toContain(wrong);
    }
  });

  it("answers a key seen before as the first time, and still refuses keys near it", () => {
    const fresh = createAuthenticator(config({ keys: KEYS }));
    const first = fresh.authenticate("Bearer tg-app-secret");
    expect(fresh.authenticate("Bearer tg-app-secret")).toBe(first);
    expect(fresh.authenticate("bearer  tg-app-secret ")).toBe(first);
    for (const wrong of ["tg-app-secre", "tg-app-secret2", "TG-APP-SECRET"]) expect(rejection(fresh, `Bearer ${wrong}`).code).toBe("invalid_api_key");
    expect(fresh.authenticate("Bearer tg-ci-secret").keyId).toBe("ci-bot");
  });

  it("does not let the admin key stand in for a client key", () => {
    const withAdmin = createAuthenticator(config({ keys: KEYS, admin_key: "tg-admin" }));
    expect(rejection(withAdmin, "Bearer tg-admin").code).toBe("invalid_api_key");
  });
});

describe("admin check", () => {
  it("needs the admin key when one is configured", () => {
    const auth = createAuthenticator(config({ keys: KEYS, admin_key: "tg-admin" }));
    expect(auth.adminRequired).toBe(true);
    expect(auth.isAdmin("Bearer tg-admin")).toBe(true);
    expect(auth.isAdmin("bearer  tg-admin ")).toBe(true);
    expect(auth.isAdmin("Bearer tg-app-secret")).toBe(false);
    expect(auth.isAdmin("Bearer tg-admin-")).toBe(false);
    expect(auth.isAdmin(undefined)).toBe(false);
    expect(auth.isAdmin("tg-admin")).toBe(false);
  });

  it("lets everyone in on an open proxy with no admin key", () => {
    const auth = createAuthenticator(config());
    expect(auth.adminRequired).toBe(false);
    expect(auth.isAdmin(undefined)).toBe(true);
  });

  it("keeps reports closed when client keys exist but no admin key is set", () => {
    const auth = createAuthenticator(config({ keys: KEYS }));
    expect(auth.adminRequired).toBe(true);
    expect(auth.isAdmin(undefined)).toBe(false);
    expect(auth.isAdmin("Bearer tg-app-secret")).toBe(false);
  });
});

describe("checkOpenBinding", () => {
  const check = (overrides: Record<string, unknown>) => {
    const c = config(overrides);
    return checkOpenBinding(c, createAuthenticator(c));
  };

  it("allows an open proxy on loopback hosts", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]) {
      expect([host, check({ server: { host } })]).toEqual([host, undefined]);
    }
  });

  it("refuses an open proxy on any other host, naming it and the way out", () => {
    for (const host of ["0.0.0.0", "::", "10.0.0.5", "example.com", "127.0.0.1.example.com"]) {
      const refusal = check({ server: { host } });
      expect(refusal).toContain(host);
      expect(refusal).toContain("allow_open");
    }
  });

  it("allows a non-loopback host with allow_open, or when keys are configured", () => {
    expect(check({ server: { host: "0.0.0.0", allow_open: true } })).toBeUndefined();
    expect(check({ server: { host: "0.0.0.0" }, keys: KEYS })).toBeUndefined();
  });
});
