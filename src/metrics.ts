import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one replica (`GET /metrics`). */
export class Metrics {
  readonly registry = new Registry();

  constructor() {
    // Process CPU, memory and event-loop delay percentiles (nodejs_eventloop_lag_p99_seconds).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1 });
  }

  readonly requests = new Counter({
    name: "tollgate_requests_total",
    help: "Chat completion requests by tier, model and status",
    labelNames: ["tier", "model", "status"] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: "tollgate_rejected_total",
    help: "Requests the proxy answered itself with an error, by code",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "tollgate_tokens_total",
    help: "Tokens by direction (input, cached, output) and model",
    labelNames: ["direction", "model"] as const,
    registers: [this.registry],
  });
  readonly cost = new Counter({
    name: "tollgate_cost_usd_total",
    help: "Real cost in USD by model",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly budgetRemaining = new Gauge({
    name: "tollgate_budget_remaining_usd",
    help: "Budget left in the current window of each scope with a limit, read from the store at scrape time",
    labelNames: ["scope", "id", "window"] as const,
    registers: [this.registry],
  });
  readonly draining = new Gauge({
    name: "tollgate_upstream_draining",
    help: "Upstream answers whose client left, read on for their usage (accounting.drain_seconds)",
    registers: [this.registry],
  });
  readonly upstreamLatency = new Histogram({
    name: "tollgate_upstream_latency_seconds",
    help: "Time from sending upstream to the end of the answer",
    labelNames: ["model"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly overhead = new Histogram({
    name: "tollgate_proxy_overhead_seconds",
    help: "Time the proxy spends before the request goes upstream",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [this.registry],
  });
}
