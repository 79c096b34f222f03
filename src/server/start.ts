import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { buildApp, closeServices, createServices, type ServiceOptions } from "../app.js";
import type { Config } from "../config/schema.js";
import { checkPersistence, persistenceRefusal } from "../budget/persistence.js";
import { RedisBudgetStore } from "../budget/redis.js";
import type { Services } from "../services.js";
import { checkOpenBinding } from "./auth.js";
import { answerClientError } from "./client-error.js";
import { realtimeRelay } from "./realtime.js";

export interface RunningProxy {
  url: string;
  port: number;
  services: Services;
  /** Stops accepting, lets requests in flight finish and settle, then closes everything. */
  shutdown(): Promise<void>;
}

/**
 * Waits for Redis (up to 5 s, then serves anyway and reconnects in the background) and checks that it
 * keeps its data on disk; the refusal when `store.require_persistence` is not met.
 */
async function checkStore(config: Config, services: Services): Promise<string | undefined> {
  if (!(services.store instanceof RedisBudgetStore)) return undefined;
  const ready = await services.store.waitUntilReady(5000);
  if (!ready) services.logger.log("error", "budget_store_unavailable", { detail: "Redis did not answer at start; retrying in the background" });
  return persistenceRefusal(await checkPersistence(services.store.redis), config.store.require_persistence, services.logger);
}

/** Starts the proxy on the configured host and port (port 0 picks a free one). */
export async function startProxy(config: Config, options: ServiceOptions = {}): Promise<RunningProxy> {
  const services = createServices(config, options);
  let refusal = await checkStore(config, services);
  if (!refusal) {
    await services.ledger?.start();
    // The keys made through the admin API count too: with one, the proxy is not open.
    refusal = (await services.keys.start()) ?? checkOpenBinding(config, services.auth);
  }
  if (refusal) {
    await closeServices(services);
    throw new Error(refusal);
  }
  services.leases.start();
  if (config.budgets.alert_on_forecast) services.forecast.start();
  const app = buildApp(services);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, () => resolve(s));
  });
  server.on("clientError", answerClientError);
  const realtime = realtimeRelay(services);
  server.on("upgrade", realtime.upgrade);
  const { port } = server.address() as AddressInfo;
  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      services.lifecycle.draining = true;
      realtime.closeAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections that sit idle would hold close() open.
      (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.server.shutdown_grace_ms).unref());
      await Promise.race([services.lifecycle.idle(), grace]);
      await services.settler.drain(Math.min(5000, config.server.shutdown_grace_ms));
      await services.ledger?.stop(Math.min(10_000, config.server.shutdown_grace_ms));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      await closeServices(services);
    })());

  return { url: `http://${host}:${port}`, port, services, shutdown };
}
