import { readFileSync } from "node:fs";
import { ConfigError, configPath, loadConfigFile, type LoadedConfig } from "./config/load.js";
import { runBatchCommand } from "./batch/cli.js";
import { runDemo } from "./demo/index.js";
import { jsonLogger } from "./log.js";
import { describeModels } from "./pricing/table.js";
import { startProxy } from "./server/start.js";

/**
 * The `tollgate` command (bin/tollgate.js runs the compiled dist/main.js, which calls this):
 *
 *   tollgate --config config.yaml
 *   tollgate check-config config.yaml
 */

const HELP = `tollgate: an OpenAI-compatible LLM cost proxy (tier routing, shared budgets, cost accounting)

usage:
  tollgate [--config FILE]        run the proxy; FILE is --config, else $TOLLGATE_CONFIG, else ./config.yaml
  tollgate check-config [FILE]    validate FILE and print the resolved models, tiers and prices (with their source)
  tollgate demo [--port N]        the proxy with a built-in demo upstream on loopback: no API key, no internet
  tollgate batch submit FILE.jsonl [--key ID]   send chat requests through the provider's Batch API at batch prices
  tollgate batch status | fetch --out FILE      poll the batches; download results and settle their real cost
  tollgate --version              print the version
  tollgate --help                 print this help

Prices a model's configuration leaves out come from the bundled @pydantic/genai-prices catalogue;
a price in the configuration always wins.`;

export function packageVersion(): string {
  // src/cli.ts and dist/cli.js both sit one level below package.json.
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** What the start logs about a loaded configuration: its warnings, and each configured price the catalogue disagrees with. */
function logLoaded(loaded: LoadedConfig): void {
  for (const warning of loaded.warnings) jsonLogger.log("warn", "config_warning", { detail: warning });
  for (const diff of loaded.pricing.differences) {
    jsonLogger.log("warn", "price_differs_from_catalogue", { model: diff.model, catalogue_model: diff.catalogueModel, detail: diff.detail });
  }
  const sources = Object.fromEntries(Object.entries(loaded.config.models).map(([name, m]) => [name, m.price_source]));
  jsonLogger.log("info", "prices", { sources });
}

async function serve(argv: string[]): Promise<undefined> {
  const path = configPath(argv, process.env);
  const loaded = loadConfigFile(path);
  logLoaded(loaded);
  const proxy = await startProxy(loaded.config);
  jsonLogger.log("info", "listening", { url: proxy.url, config: path, store: proxy.services.store.kind, open: proxy.services.auth.open });

  const stop = (signal: string) => {
    jsonLogger.log("info", "shutting_down", { signal, in_flight: proxy.services.lifecycle.inFlight });
    proxy.shutdown().then(
      () => process.exit(0),
      (err) => {
        jsonLogger.log("error", "shutdown_failed", { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  return undefined;
}

function checkConfig(args: string[]): number {
  const positional = args.find((arg) => !arg.startsWith("-"));
  const path = positional ?? configPath(args, process.env);
  const loaded = loadConfigFile(path);
  const lines = [`${path}: valid`, "", describeModels(loaded.config, loaded.pricing.matches)];
  const notes = [
    ...loaded.warnings,
    ...loaded.pricing.differences.map((d) => `model "${d.model}": the configured price is used; it differs from the catalogue's (${d.catalogueModel}): ${d.detail}`),
  ];
  if (notes.length > 0) lines.push("", "warnings", ...notes.map((note) => `  - ${note}`));
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

/**
 * Runs one command. Resolves to the exit code, or undefined while a server keeps the process up.
 * A configuration error is printed with every problem by path, and exits 1.
 */
export async function runCli(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  try {
    if (command === "--help" || command === "-h" || command === "help") {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (command === "--version" || command === "-v" || command === "version") {
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    if (command === "check-config") return checkConfig(rest);
    if (command === "demo") return await runDemo(rest);
    if (command === "batch") return await runBatchCommand(rest);
    if (command !== undefined && !command.startsWith("-")) {
      process.stderr.write(`tollgate: unknown command "${command}"\n\n${HELP}\n`);
      return 2;
    }
    return await serve(argv);
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`tollgate failed to start: ${(err as Error).message}\n`);
    return 1;
  }
}
