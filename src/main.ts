import { ConfigError, configPath, loadConfigFile } from "./config/load.js";
import { jsonLogger } from "./log.js";
import { startProxy } from "./server/start.js";

async function main(): Promise<void> {
  const path = configPath(process.argv.slice(2), process.env);
  const { config, warnings } = loadConfigFile(path);
  for (const warning of warnings) jsonLogger.log("warn", "config_warning", { detail: warning });
  const proxy = await startProxy(config);
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
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`tollgate failed to start: ${(err as Error).message}\n`);
  }
  process.exit(1);
});
