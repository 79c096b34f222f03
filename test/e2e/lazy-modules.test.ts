import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

/**
 * A replica carries only what its configuration uses: the OpenTelemetry SDK loads with tracing,
 * PostgreSQL's driver with a ledger. A process of its own, so no other test's modules count.
 */
async function loadedWith(env: Record<string, string>, ledger: boolean): Promise<string[]> {
  const script = `
    import { createRequire } from "node:module";
    import { loadConfigFile } from "./src/config/load.ts";
    import { closeServices, createServices } from "./src/app.ts";
    const { config } = loadConfigFile("config.yaml", { ...process.env, REDIS_URL: "" });
    ${ledger ? 'config.ledger = { ...config.ledger, postgres_url: "postgres://127.0.0.1:1/none" };' : ""}
    const services = createServices(config, { env: ${JSON.stringify(env)} });
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const loaded = ["@opentelemetry/sdk-trace-base", "@opentelemetry/exporter-trace-otlp-http", "/pg/lib/"].filter((m) => cache.some((k) => k.includes(m)));
    console.log("loaded " + JSON.stringify(loaded));
    await closeServices(services).catch(() => {});
    process.exit(0);
  `;
  const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: process.cwd(), timeout: 60_000 });
  // The proxy's own log lines share stdout: the answer is the line that says it.
  const line = stdout.split("\n").find((l) => l.startsWith("loaded "));
  return JSON.parse(line!.slice("loaded ".length)) as string[];
}

describe("modules a replica loads", () => {
  it("leaves the tracing SDK and the PostgreSQL driver out when neither is configured", async () => {
    expect(await loadedWith({}, false)).toEqual([]);
  });

  it("loads the tracing SDK with an OTLP endpoint, and the driver with a ledger", async () => {
    expect(await loadedWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1" }, true)).toEqual(["@opentelemetry/sdk-trace-base", "@opentelemetry/exporter-trace-otlp-http", "/pg/lib/"]);
  });
});
