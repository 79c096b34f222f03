import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError, parseConfig } from "./load.js";

/** What the environment gives the configuration: typed whole references, PORT and HOST, and what check-config warns about. */

function configText(patch: Record<string, unknown> = {}, upstreams: Record<string, unknown> = { openai: { base_url: "https://api.example.test/v1", api_key: "sk-test" } }): string {
  return stringify({
    upstreams,
    models: { "gpt-4o-mini": { upstream: "openai", tier: "economy", price: { input: 0.15, output: 0.6 } } },
    ...patch,
  });
}

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, "test.yaml", env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("${VAR} where the schema wants a number or a boolean", () => {
  it("gives numbers and booleans from whole references, defaults included", () => {
    const text = configText({ server: { port: "${APP_PORT}", allow_open: "${OPEN:-false}", body_limit_mb: "${LIMIT:-2.5}" }, store: { budget_leases: "${LEASES}" } });
    const { config } = parseConfig(text, "test.yaml", { APP_PORT: "9090", LEASES: "FALSE" });
    expect(config.server).toMatchObject({ port: 9090, allow_open: false, body_limit_mb: 2.5 });
    expect(config.store.budget_leases).toBe(false);
  });

  it("gives a number or a boolean where a union allows one", () => {
    const text = configText({ budgets: { output_estimate: "${OUT}" }, routing: { fallback: "${FALLBACK}" } });
    const { config } = parseConfig(text, "test.yaml", { OUT: "256", FALLBACK: "false" });
    expect(config.budgets.output_estimate).toBe(256);
    expect(config.routing.fallback).toBe(false);
    expect(parseConfig(text, "test.yaml", { OUT: "half_input", FALLBACK: "true" }).config.budgets.output_estimate).toBe("half_input");
  });

  it("keeps a string where a string is wanted, digits or not", () => {
    const text = configText({}, { openai: { base_url: "https://api.example.test/v1", api_key: "${KEY}" } });
    expect(parseConfig(text, "test.yaml", { KEY: "12345" }).config.upstreams.openai!.api_key).toBe("12345");
  });

  it("names the place when the variable's text is not the type wanted, and never retypes a literal", () => {
    expect(problemsOf(configText({ server: { port: "${APP_PORT}" } }), { APP_PORT: "eighty" })).toEqual(["server.port: Invalid input: expected number, received string"]);
    expect(problemsOf(configText({ server: { port: "8080" } }))).toEqual(["server.port: Invalid input: expected number, received string"]);
    expect(problemsOf(configText({ server: { port: "${A}${B}" } }), { A: "80", B: "80" })).toEqual(["server.port: Invalid input: expected number, received string"]);
  });
});

describe("PORT and HOST", () => {
  it("override server.port and server.host", () => {
    const { config } = parseConfig(configText({ server: { host: "127.0.0.1", port: 8787 } }), "test.yaml", { PORT: "3000", HOST: "0.0.0.0" });
    expect(config.server).toMatchObject({ host: "0.0.0.0", port: 3000 });
    expect(parseConfig(configText(), "test.yaml", { PORT: "" }).config.server.port).toBe(8787);
  });

  it("rejects a PORT that is not a port number, naming it", () => {
    expect(problemsOf(configText(), { PORT: "http" })).toEqual(['PORT: "http" is not a port number (0-65535)']);
    expect(problemsOf(configText(), { PORT: "70000" })).toEqual(['PORT: "70000" is not a port number (0-65535)']);
  });
});

describe("ledger.postgres_url", () => {
  it("must be a postgres URL with a host", () => {
    for (const url of ["notaurl", "http://db:5432/x", "postgres://"]) {
      expect(problemsOf(configText({ ledger: { postgres_url: url } }))[0]).toMatch(/^ledger\.postgres_url: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    }
    for (const url of ["", "postgres://tollgate@db:5432/tollgate", "postgresql://u:p@127.0.0.1/test", "postgres:///test?host=/var/run/postgresql"]) {
      expect(parseConfig(configText({ ledger: { postgres_url: url } }), "test.yaml", {}).config.ledger.postgres_url).toBe(url);
    }
  });
});

describe("empty upstream keys", () => {
  it("are warned about with the models they leave without a key", () => {
    const upstreams = { openai: { base_url: "https://api.example.test/v1", api_key: "${OPENAI_API_KEY:-}" }, spare: { base_url: "https://spare.example.test/v1" } };
    const { warnings } = parseConfig(configText({}, upstreams), "test.yaml", {});
    expect(warnings).toEqual([
      'upstream "openai" has an empty api_key: its models (gpt-4o-mini) go without a key, and the provider refuses them unless it needs none',
      'upstream "spare" has an empty api_key: requests to it go without a key, and the provider refuses them unless it needs none',
    ]);
    expect(parseConfig(configText({}, upstreams), "test.yaml", { OPENAI_API_KEY: "sk" }).warnings).toHaveLength(1);
  });
});
