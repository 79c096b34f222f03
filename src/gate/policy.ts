import type { PassthroughConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { Caller } from "../caller.js";
import { classifyPath, grantAllows, policyOf, type Classified, type EndpointClassName } from "./classes.js";

/** What the gate lets a pass-through call do. */
export interface GateDecision {
  /** The class's name, the only label a report shows (never the raw path). */
  label: string;
  /** Undefined for an unknown path let through (`passthrough.unknown: allow`). */
  endpoint: Classified | undefined;
  /** A call that spends in a metered class is held at this many USD; anything else is free. */
  holdUsd: number | undefined;
}

/** What the gate knows of a caller. */
export type GateCaller = Pick<Caller, "endpoints" | "admin">;

/** The key's `endpoints` allow-list, for every class, priced ones included: a 403 when it leaves `name` out. */
export function requireGrant(caller: GateCaller, name: EndpointClassName): void {
  if (!grantAllows(caller.endpoints, name)) throw new ProxyError("endpoint_not_allowed", `This key may not call the ${name} endpoints.`);
}

/**
 * Decides a pass-through call from its method and canonical path under /v1: its class and what it
 * may spend, or the error that refuses it (unknown 404, miscased 400, off or not granted 403).
 */
export function gateCall(settings: PassthroughConfig, caller: GateCaller, method: string, path: string): GateDecision {
  const found = classifyPath(method, path);
  if (!found.known) {
    if (found.miscased) throw new ProxyError("invalid_path", `The path /v1${path} is spelt differently from the endpoint it names; use the API's own spelling.`);
    if (settings.unknown === "allow") return { label: "unknown", endpoint: undefined, holdUsd: undefined };
    throw new ProxyError("not_found", `Unknown endpoint: ${method} /v1${path}`);
  }
  const endpoint = found.endpoint;
  const policy = policyOf(endpoint.class, settings.endpoints);
  // A priced path only reaches the pass-through with a method its own route does not take.
  if (policy === "priced") throw new ProxyError("not_found", `Unknown endpoint: ${method} /v1${path}`);
  if (policy === "off") {
    throw new ProxyError("endpoint_not_allowed", `The ${endpoint.class} endpoints are turned off on this gateway (passthrough.endpoints.${endpoint.class}).`);
  }
  requireGrant(caller, endpoint.class);
  const holdUsd = endpoint.spends && policy !== "free" ? policy.hold : undefined;
  if (holdUsd !== undefined && caller.admin) {
    throw new ProxyError("endpoint_not_allowed", "The admin key reads and deletes stored objects; calls that spend need a client key.");
  }
  return { label: endpoint.class, endpoint, holdUsd };
}
