import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/config/schema.js";
import { parseConfig } from "../../src/config/load.js";

/** The client key the example configuration's `ci-bot` entry reads from its environment. */
export const EXAMPLE_KEY = "sk-tollgate-ci-bot";
/** When the example's catalogue prices are read: a fixed day, so no test depends on today's date. */
export const EXAMPLE_DAY = Date.UTC(2026, 5, 15, 12);

/**
 * The shipped config.yaml as a user runs it, with only its upstreams' base URLs pointed at the fake
 * upstream, its environment set (a tollgate key, upstream keys), and a free port.
 */
export function exampleConfig(upstreamUrl: string, env: Record<string, string> = {}): Config {
  const text = readFileSync(join(import.meta.dirname, "../../config.yaml"), "utf8").replaceAll(/base_url: "https:\/\/api\.[a-z]+\.com\/v1"/g, `base_url: "${upstreamUrl}"`);
  const environment = { TOLLGATE_KEY_CI_BOT: EXAMPLE_KEY, OPENAI_API_KEY: "sk-upstream-openai", ANTHROPIC_API_KEY: "sk-upstream-anthropic", ...env };
  const { config } = parseConfig(text, "config.yaml", environment, { at: new Date(EXAMPLE_DAY) });
  return { ...config, server: { ...config.server, port: 0 } };
}
