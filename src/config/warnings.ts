import type { Config } from "./schema.js";

/**
 * An upstream whose key resolved to nothing (`api_key: "${OPENAI_API_KEY:-}"` with the variable
 * unset) is named at start and by check-config: otherwise the first sign is a 502 on a request
 * that fell back to another upstream, long after the deploy.
 */
export function upstreamKeyWarnings(config: Pick<Config, "upstreams" | "models">): string[] {
  return Object.entries(config.upstreams).flatMap(([name, upstream]) => {
    if (upstream.api_key !== "") return [];
    const models = Object.entries(config.models).filter(([, m]) => m.upstream === name).map(([model]) => model);
    const used = models.length > 0 ? `its models (${models.join(", ")}) go` : "requests to it go";
    return [`upstream "${name}" has an empty api_key: ${used} without a key, and the provider refuses them unless it needs none`];
  });
}
