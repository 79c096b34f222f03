import type { Clock } from "./clock.js";
import type { Config, Tier } from "./config/schema.js";
import type { BudgetStore } from "./budget/interface.js";
import type { ResponseCache } from "./cache/response-cache.js";
import type { MicroBatcher } from "./batch/micro.js";
import type { Leases } from "./budget/leases.js";
import type { KeyAdmin } from "./keys/admin.js";
import type { KeyRegistry } from "./keys/registry.js";
import type { Ledger } from "./ledger/index.js";
import type { Settler } from "./budget/settle.js";
import type { ForecastWatch } from "./budget/forecast-watch.js";
import type { WindowCache } from "./budget/window.js";
import type { ObjectDirectory } from "./gate/objects.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import type { Router } from "./routing/route.js";
import type { Authenticator } from "./server/auth.js";
import type { EncodingName } from "./tokens/count.js";
import type { UpstreamClient } from "./upstream/client.js";
import type { BackgroundResponses } from "./usage/background.js";
import type { Tracing } from "./telemetry/tracing.js";

/** Everything a request handler needs, built once at start (see `createServices`). */
export interface Services {
  config: Config;
  clock: Clock;
  store: BudgetStore;
  logger: Logger;
  metrics: Metrics;
  router: Router;
  tierModels: Record<Tier, string[]>;
  auth: Authenticator;
  /** Every key, from the configuration and the admin API, with the budgets they carry. */
  keys: KeyRegistry;
  keyAdmin: KeyAdmin;
  upstream: UpstreamClient;
  settler: Settler;
  /** Alerts on forecasts (`budgets.alert_on_forecast`); started only then. */
  forecast: ForecastWatch;
  leases: Leases;
  windows: WindowCache;
  encodingOf(model: string): EncodingName;
  /** The response cache, when `cache.enabled`. */
  cache: ResponseCache | undefined;
  /** OpenTelemetry traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (src/telemetry). */
  tracing: Tracing | undefined;
  /** The PostgreSQL ledger, when `ledger.postgres_url` is set. */
  ledger: Ledger | undefined;
  lifecycle: Lifecycle;
  /** Who owns each object created through tollgate, and where it lives. */
  objects: ObjectDirectory;
  /**
   * Sends a request through this proxy's own HTTP surface (set by buildApp): the proxy's requests on
   * a caller's behalf (compression summaries) then go through the same pipeline, budget and record.
   */
  dispatch(request: Request): Promise<Response>;
  /** Marks such requests (`x-tollgate-internal`); random per process, never sent upstream. */
  readonly internalToken: string;
  /** Micro-batches of this process (`x-tollgate-batch`). */
  readonly batcher: MicroBatcher | undefined;
  /** Background responses whose holds outlive their requests. */
  readonly background: BackgroundResponses;
}

/** Requests in flight, so a shutdown can wait for them. `enter` hands back the one way out. */
export class Lifecycle {
  draining = false;
  private active = 0;
  private waiters: Array<() => void> = [];

  enter(): () => void {
    this.active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.active--;
      if (this.active === 0) for (const w of this.waiters.splice(0)) w();
    };
  }

  get inFlight(): number {
    return this.active;
  }

  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
