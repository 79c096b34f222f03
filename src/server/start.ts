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
  if (!ready) {
    const cause = services.store.unavailable;
    services.logger.log("error", "budget_store_unavailable", {
      store: services.store.where,
      reason: cause?.reason ?? "no answer within 5 s",
      ...(cause ? { error: cause.message } : {}),
      detail: "Redis did not answer at start; retrying in the background",
    });
  }
  if (ready && (await services.store.isLoneClusterNode())) {
    services.logger.log("error", "store_is_cluster_node", {
      store: services.store.where,
      detail: "store.redis_url names a node of a Redis Cluster: only the node owning the budget keys' slot answers them, and it then holds every key. Set store.redis_cluster: [nodes] instead",
    });
  }
  return persistenceRefusal(await checkPersistence(services.store.redis), config.store.require_persistence, services.logger);
}

/** Binds the server; a port in use or a host that is not this machine's is one line that says so. */
function listen(fetch: (request: Request) => Response | Promise<Response>, host: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const s = serve({ fetch, hostname: host, port }, () => {
      s.off("error", failed);
      resolve(s);
    });
    const failed = (err: NodeJS.ErrnoException) => {
      s.close();
      const where = `${host}:${port}`;
      if (err.code === "EADDRINUSE") reject(new Error(`port ${port} on ${host} is in use by another process: stop it, or set server.port (or PORT) to a free port`));
      else if (err.code === "EADDRNOTAVAIL") reject(new Error(`cannot listen on ${where}: ${host} is not an address of this machine (server.host or HOST)`));
      else if (err.code === "EACCES") reject(new Error(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`));
      else reject(new Error(`cannot listen on ${where}: ${err.message}`));
    };
    s.once("error", failed);
  });
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
  // What an earlier process could not settle (its journal) is applied once the store answers.
  services.settler.recover();
  services.leases.start();
  services.router.start();
  if (config.budgets.alert_on_forecast) services.forecast.start();
  const app = buildApp(services);
  let server: ServerType;
  try {
    server = await listen(app.fetch, config.server.host, config.server.port);
  } catch (err) {
    await closeServices(services);
    throw err;
  }
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
