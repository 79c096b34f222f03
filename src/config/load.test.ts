import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, configPath, interpolateEnv, loadConfigFile, parseConfig } from "./load.js";

/** A small valid configuration; `patch` replaces top-level sections. */
function configText(patch: Record<string, unknown> = {}): string {
  return stringify({
    upstreams: { openai: { base_url: "https://api.example.test/v1", api_key: "sk-test" } },
    models: {
      "gpt-4o-mini": { upstream: "openai", tier: "economy", price: { input: 0.15, output: 0.6 } },
      "gpt-4o": { upstream: "openai", tier: "standard", price: { input: 2.5, output: 10 } },
    },
    tiers: { economy: ["gpt-4o-mini"], standard: ["gpt-4o"] },
    ...patch,
  });
}

/** The problems a configuration text produces; fails the test when it loads. */
function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, "test.yaml", env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("interpolateEnv", () => {
  it("replaces ${VAR} and ${VAR:-default} inside strings, nested anywhere", () => {
    const out = interpolateEnv(
      { a: "${HOST}:${PORT:-8787}", list: ["x-${HOST}", 3, true, null], deep: { d: "${MISSING:-fallback}" } },
      { HOST: "example.test", PORT: "9000" },
    );
    expect(out).toEqual({ a: "example.test:9000", list: ["x-example.test", 3, true, null], deep: { d: "fallback" } });
  });

  it("uses the default when the variable is set but empty, and allows an empty default", () => {
    expect(interpolateEnv("${A:-dflt}|${B:-}", { A: "" })).toBe("dflt|");
  });

  it("reports a ${VAR} without default that is not set, with its path", () => {
    const missing: string[] = [];
    interpolateEnv({ upstreams: { openai: { api_key: "${OPENAI_KEY}" } } }, {}, [], missing);
    expect(missing).toEqual(["upstreams.openai.api_key: environment variable OPENAI_KEY is not set"]);
  });

  it("leaves text that is not a reference alone", () => {
    expect(interpolateEnv("$HOME and ${ not-a-var } and $", { HOME: "/root" })).toBe("$HOME and ${ not-a-var } and $");
  });
});

describe("parseConfig", () => {
  it("reads interpolated values into the typed configuration", () => {
    const text = configText({
      upstreams: { openai: { base_url: "${BASE:-https://default.test/v1}", api_key: "${KEY}" } },
    });
    const { config } = parseConfig(text, "test.yaml", { KEY: "sk-from-env" });
    expect(config.upstreams.openai!.base_url).toBe("https://default.test/v1");
    expect(config.upstreams.openai!.api_key).toBe("sk-from-env");
  });

  it("stops when a variable without default is missing", () => {
    const text = configText({ admin_key: "${TOLLGATE_ADMIN}" });
    expect(problemsOf(text)).toEqual(["admin_key: environment variable TOLLGATE_ADMIN is not set"]);
  });

  it("fills defaults for omitted sections", () => {
    const { config } = parseConfig(configText(), "test.yaml", {});
    expect(config.server).toMatchObject({ host: "127.0.0.1", port: 8787, body_limit_mb: 10, allow_open: false });
    // Since issue 14 the routing score decides after the rules; the keyword heuristics are opt-in.
    expect(config.routing).toMatchObject({ auto_models: ["auto"], client_model: "ceiling", default_tier: "economy", heuristics: false, scored: true, model_file: "" });
    expect(config.budgets).toMatchObject({ timezone: "UTC", output_estimate: "half_input", downgrade: true, alert_thresholds: [0.8, 1.0] });
    expect(config.models["gpt-4o"]).toMatchObject({ context_window: 128000, reasoning: false, drop_params: [] });
  });

  it("rejects text that is not YAML", () => {
    const problems = problemsOf("models: [unclosed");
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^not valid YAML/);
  });

  it("rejects duplicate YAML keys", () => {
    expect(problemsOf(`${configText()}\nadmin_key: a\nadmin_key: b\n`)[0]).toMatch(/^not valid YAML/);
  });

  it("names endpoint classes and models it does not know, by path", () => {
    const problems = problemsOf(
      configText({
        passthrough: { endpoints: { imagez: "off", embeddings: "free", images: { hold: 1 } } },
        keys: [{ id: "a", key: "k", endpoints: ["files", "chat"], models: ["gpt-4o", "gpt-5"] }],
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^keys\.0\.endpoints\.1: unknown endpoint class "chat" \(known: chat\.completions, /),
      'keys.0.models.1: unknown model "gpt-5"',
      expect.stringMatching(/^passthrough\.endpoints\.imagez: not a pass-through endpoint class \(known: images, /),
      expect.stringMatching(/^passthrough\.endpoints\.embeddings: not a pass-through endpoint class/),
    ]);
  });

  it("rejects an unknown key and names its full path", () => {
    const problems = problemsOf(configText({ server: { port: 8787, bogus: true } }));
    expect(problems).toHaveLength(1);
    expect(problems).toEqual(["server.bogus: unknown key"]);
  });

  it("rejects an unknown top-level key and unknown keys deep inside models", () => {
    const text = configText({
      extra: 1,
      models: { "gpt-4o": { upstream: "openai", tier: "standard", price: { input: 1, output: 1, discount: 0.5 } } },
      tiers: {},
    });
    const problems = problemsOf(text);
    expect(problems.some((p) => p.startsWith("extra: "))).toBe(true);
    expect(problems.some((p) => p.startsWith("models.gpt-4o.price.discount: "))).toBe(true);
  });

  it("names the path and the expected type of a wrong value", () => {
    const text = configText({
      models: { "gpt-4o": { upstream: "openai", tier: "standard", price: { input: "cheap", output: 10 } } },
      tiers: {},
    });
    const problems = problemsOf(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^models\.gpt-4o\.price\.input: .*expected number/);
  });

  it("lists every problem at once", () => {
    const text = configText({
      server: { port: "eighty" },
      models: { "gpt-4o": { upstream: "openai", tier: "ultra", price: { input: -1, output: 10 } } },
      tiers: {},
    });
    const paths = problemsOf(text).map((p) => p.slice(0, p.indexOf(":")));
    expect(paths).toEqual(expect.arrayContaining(["server.port", "models.gpt-4o.tier", "models.gpt-4o.price.input"]));
    expect(paths).toHaveLength(3);
  });

  it("lists every cross-reference problem at once", () => {
    const text = configText({
      models: { lost: { upstream: "azure", tier: "economy", price: { input: 1, output: 1 } } },
      tiers: { economy: ["lost", "ghost"] },
      routing: { rules: [{ name: "broken", when: { regex: "(unclosed" }, tier: "premium" }] },
      budgets: { timezone: "Mars/Olympus_Mons" },
    });
    const problems = problemsOf(text);
    expect(problems).toEqual([
      'models.lost.upstream: unknown upstream "azure" (configured: openai)',
      'tiers.economy.1: unknown model "ghost"',
      expect.stringMatching(/^routing\.rules\.0\.when\.regex: /),
      'budgets.timezone: unknown time zone "Mars/Olympus_Mons"',
    ]);
  });

  it("rejects a budget under a key id or team no key has, naming it", () => {
    const problems = problemsOf(configText({ keys: [{ id: "alice", key: "sk-a", team: "research" }], budgets: { keys: { alcie: { daily: 1 } }, teams: { reserch: { daily: 5 } } } }));
    expect(problems).toEqual([
      'budgets.keys.alcie: no key has the id "alcie" (keys: alice)',
      'budgets.teams.reserch: no key is in the team "reserch" (teams: research)',
    ]);
  });

  it("rejects a tier listing a model declared with another tier", () => {
    const problems = problemsOf(configText({ tiers: { premium: ["gpt-4o"] } }));
    expect(problems).toEqual(['tiers.premium.0: model "gpt-4o" is declared with tier standard']);
  });

  it("rejects a default embedding model that is not a configured embedding model", () => {
    expect(problemsOf(configText({ routing: { default_embedding_model: "gpt-4o" } }))).toEqual(['routing.default_embedding_model: "gpt-4o" is not a configured embedding model']);
    expect(problemsOf(configText({ routing: { unknown_models: "sometimes" } }))).toEqual([expect.stringMatching(/^routing.unknown_models: /)]);
  });

  it("accepts a valid regex and a real non-UTC time zone", () => {
    const text = configText({
      routing: { rules: [{ name: "code", when: { regex: "\\bfunction\\s+\\w+\\(" }, tier: "standard" }] },
      budgets: { timezone: "America/Los_Angeles" },
    });
    const { config } = parseConfig(text, "test.yaml", {});
    expect(config.budgets.timezone).toBe("America/Los_Angeles");
    expect(config.routing.rules[0]!.when.keywords_mode).toBe("any");
  });

  it("rejects duplicate key ids", () => {
    const problems = problemsOf(configText({ keys: [{ id: "a", key: "k1" }, { id: "a", key: "k2" }] }));
    expect(problems).toEqual(['keys.1.id: duplicate key id "a"']);
  });

  it("skips a key whose secret is empty, with a warning, and keeps the others", () => {
    const text = configText({
      keys: [
        { id: "ci-bot", key: "${CI_KEY:-}", team: "research" },
        { id: "app", key: "${APP_KEY:-}", max_tier: "standard" },
      ],
    });
    const { config, warnings } = parseConfig(text, "test.yaml", { APP_KEY: "tg-app" });
    expect(config.keys).toEqual([{ id: "app", key: "tg-app", max_tier: "standard" }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"ci-bot"');
    expect(warnings[0]).not.toContain("tg-app");
  });
});

describe("the repository's config.yaml", () => {
  it("loads with an empty environment: memory store, no keys, a warning for each empty key", () => {
    const { config, warnings } = loadConfigFile("config.yaml", {});
    expect(config.store.redis_url).toBe("");
    expect(config.keys).toEqual([]);
    expect(config.admin_key).toBe("");
    expect(warnings).toEqual([expect.stringMatching(/^upstream "openai" has an empty api_key/), expect.stringMatching(/^upstream "anthropic" has an empty api_key/), expect.stringContaining("ci-bot")]);
    expect(Object.keys(config.models)).toEqual(["gpt-5-mini", "claude-haiku-4-5", "gpt-5.1", "claude-sonnet-4-5", "gpt-5.2", "claude-opus-4-5", "text-embedding-3-small", "gpt-realtime"]);
    expect(config.models["gpt-realtime"]).toMatchObject({ kind: "realtime", price: { input_audio: expect.any(Number), output_audio: expect.any(Number) } });
    expect(config.models["text-embedding-3-small"]).toMatchObject({ kind: "embedding", price_source: expect.stringMatching(/^catalogue:/) });
    expect(config.routing).toMatchObject({ unknown_models: "auto", default_embedding_model: "text-embedding-3-small" });
    expect(config.tiers.premium).toEqual(["gpt-5.2", "claude-opus-4-5"]);
    expect(config.models["gpt-5.2"]!.reasoning).toBe(true);
    // Every model is priced by the catalogue, and declares the output limit the catalogue lacks.
    for (const model of Object.values(config.models).filter((m) => m.kind === "chat")) {
      expect(model.price_source).toMatch(/^catalogue:genai-prices@/);
      expect(model.max_output_tokens).toBeGreaterThan(0);
    }
    expect(config.routing.rules).toEqual([{ name: "long-context", when: { min_message_tokens: 8000, keywords_mode: "any" }, tier: "standard" }]);
  });

  it("takes secrets from the environment", () => {
    const { config, warnings } = loadConfigFile("config.yaml", { TOLLGATE_KEY_CI_BOT: "tg-ci", REDIS_URL: "redis://r:6379", OPENAI_API_KEY: "sk-o", ANTHROPIC_API_KEY: "sk-a" });
    expect(warnings).toEqual([]);
    expect(config.keys).toEqual([{ id: "ci-bot", key: "tg-ci", team: "research", max_tier: "standard" }]);
    expect(config.store.redis_url).toBe("redis://r:6379");
  });

  it("reports a file that cannot be read", () => {
    expect(() => loadConfigFile("does-not-exist.yaml", {})).toThrow(/cannot read the file/);
  });
});

describe("configPath", () => {
  const env = { TOLLGATE_CONFIG: "/etc/tollgate.yaml" };

  it("prefers --config PATH", () => {
    expect(configPath(["--config", "a.yaml"], env)).toBe("a.yaml");
    expect(configPath(["--verbose", "--config", "a.yaml", "--config=b.yaml"], env)).toBe("a.yaml");
  });

  it("reads --config=PATH", () => {
    expect(configPath(["--config=b.yaml"], env)).toBe("b.yaml");
  });

  it("falls back to TOLLGATE_CONFIG, then ./config.yaml", () => {
    expect(configPath([], env)).toBe("/etc/tollgate.yaml");
    expect(configPath(["--config"], env)).toBe("/etc/tollgate.yaml");
    expect(configPath([], {})).toBe("./config.yaml");
    expect(configPath([], { TOLLGATE_CONFIG: "" })).toBe("./config.yaml");
  });
});
