import type { Config, Tier } from "../config/schema.js";

/**
 * The model names Anthropic's clients send (Claude Code, the SDK): dated snapshots such as
 * `claude-sonnet-4-5-20250929`, which a configuration cannot be expected to list one by one. A name
 * that is not configured is read, in order, as
 *   - the configured model it is a snapshot of: its `upstream_model`, or its name plus a date;
 *   - its family's tier: haiku economy, sonnet standard, opus premium, routed as a configured model
 *     of that tier would be (`routing.client_model`: a ceiling by default);
 * and otherwise stays unknown (404).
 *
 *   claudeModel(config, "claude-sonnet-4-5-20250929") // { model: "claude-sonnet-4-5" } when configured, else { model, familyTier: "standard" }
 */
const FAMILIES: Array<[RegExp, Tier]> = [
  [/haiku/, "economy"],
  [/sonnet/, "standard"],
  [/opus/, "premium"],
];

export function claudeModel(config: Config, name: string): { model: string; familyTier?: Tier } {
  if (Object.hasOwn(config.models, name) || !name.startsWith("claude-")) return { model: name };
  for (const [configured, model] of Object.entries(config.models)) {
    if (model.kind === "chat" && (model.upstream_model === name || new RegExp(`^${escape(configured)}-\\d{8}$`).test(name))) return { model: configured };
  }
  const family = FAMILIES.find(([pattern]) => pattern.test(name));
  return family ? { model: name, familyTier: family[1] } : { model: name };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
