import { upstreamProtocol, type Config } from "../config/schema.js";
import type { EndpointShape, RequestBody } from "../endpoints/shape.js";
import { wireFor } from "../endpoints/wire.js";
import { ProxyError } from "../errors.js";
import type { RouteDecision } from "../routing/route.js";

/**
 * Keeps the candidates whose upstream can serve the request in its client's API: natively, or
 * translated when every field of the body has a counterpart there. A routed Messages request tries
 * the models of Anthropic upstreams first within each tier, since a translation loses what only that
 * API has (prompt caching, thinking, server tools). A model the client named is never replaced: the
 * request then gets its 400 naming the field, as it does when no candidate is left.
 */
export function keepServable<B extends RequestBody>(config: Config, decision: RouteDecision, shape: EndpointShape<B>, body: B): RouteDecision {
  const problems = new Map<string, Error | undefined>();
  const protocolOf = (model: string) => upstreamProtocol(config.upstreams[config.models[model]!.upstream]!);
  const problemOf = (model: string): Error | undefined => {
    const protocol = protocolOf(model);
    if (!problems.has(protocol)) problems.set(protocol, checkWire(shape, body, protocol));
    return problems.get(protocol);
  };
  // A model the client named serves the request as it is, or refuses it.
  if (decision.route === "client-model" && problemOf(decision.model)) throw problemOf(decision.model)!;
  let kept = decision.candidates.filter((m) => problemOf(m) === undefined);
  if (kept.length === 0) throw problemOf(decision.model)!;
  if (shape.protocol === "anthropic" && decision.route !== "client-model") {
    const tierOf = (m: string) => config.models[m]!.tier;
    const native = (m: string) => (protocolOf(m) === "anthropic" ? 0 : 1);
    kept = kept.map((m, i) => ({ m, i })).sort((a, b) => (tierOf(a.m) === tierOf(b.m) ? native(a.m) - native(b.m) || a.i - b.i : a.i - b.i)).map((x) => x.m);
  }
  if (kept[0] === decision.model && kept.length === decision.candidates.length) return decision;
  return { ...decision, model: kept[0]!, candidates: kept, route: kept[0] === decision.model ? decision.route : "protocol" };
}

function checkWire<B extends RequestBody>(shape: EndpointShape<B>, body: B, protocol: "openai" | "anthropic"): Error | undefined {
  const wire = wireFor(shape, protocol);
  if (!wire) return new ProxyError("model_not_found", `The ${shape.name} endpoint has no counterpart in the ${protocol} API of the routed model; name a model of another upstream.`, "model");
  try {
    wire.check(body);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}
