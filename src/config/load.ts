import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { resolveModels, type ResolveOptions, type ResolvedModels } from "./resolve.js";
import { configInputSchema, type Config } from "./schema.js";
import { interpolateEnv, parseWithEnvTypes, serverOverrides } from "./env.js";
import { upstreamKeyWarnings } from "./warnings.js";

/** Thrown when the configuration cannot be used; `problems` lists each one by its path. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export { interpolateEnv } from "./env.js";

export interface LoadedConfig {
  config: Config;
  warnings: string[];
  /** Configured prices that differ from the catalogue's, and the catalogue entry of each model. */
  pricing: Pick<ResolvedModels, "differences" | "matches">;
}

/** Parses, interpolates and validates configuration text. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env, options: ResolveOptions = {}): LoadedConfig {
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(source, [`not valid YAML: ${(err as Error).message}`]);
  }
  const missing: string[] = [];
  const whole: string[][] = [];
  const interpolated = interpolateEnv(document ?? {}, env, [], missing, whole);
  if (interpolated !== null && typeof interpolated === "object" && !Array.isArray(interpolated)) missing.push(...serverOverrides(interpolated as Record<string, unknown>, env));
  if (missing.length > 0) throw new ConfigError(source, missing);

  const result = parseWithEnvTypes(configInputSchema, interpolated, whole);
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => {
      // zod reports unknown keys at their parent's path; name each key's own path instead.
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => `${[...issue.path, key].map(String).join(".")}: unknown key`);
      }
      const path = issue.path.map(String).join(".") || "(root)";
      return `${path}: ${issue.message}`;
    });
    throw new ConfigError(source, problems);
  }
  // The same resolution as configSchema's, kept here for what the start logs about prices.
  const pricing = resolveModels(result.data, options);
  if (pricing.problems.length > 0) throw new ConfigError(source, pricing.problems.map((p) => `${p.path.join(".")}: ${p.message}`));
  const config: Config = { ...result.data, models: pricing.models };
  const warnings: string[] = [...pricing.warnings, ...upstreamKeyWarnings(config)];
  // A key whose secret resolved to nothing is skipped, so the example runs with no environment set.
  config.keys = config.keys.filter((key) => {
    if (key.key !== "") return true;
    warnings.push(`key "${key.id}" has an empty secret and is disabled`);
    return false;
  });
  return { config, warnings, pricing: { differences: pricing.differences, matches: pricing.matches } };
}

/** Where the configuration lives: `--config PATH`, then TOLLGATE_CONFIG, then ./config.yaml. */
export function configPath(argv: string[], env: NodeJS.ProcessEnv): string {
  const flag = argv.indexOf("--config");
  if (flag >= 0 && argv[flag + 1]) return argv[flag + 1]!;
  const inline = argv.find((arg) => arg.startsWith("--config="));
  if (inline) return inline.slice("--config=".length);
  return env.TOLLGATE_CONFIG || "./config.yaml";
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env, options: ResolveOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, path, env, options);
}
