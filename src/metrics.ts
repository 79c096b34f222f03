import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

type Labels = Record<string, string>;

/**
 * Counts of a labelled counter added up in a map by a key the caller builds, and handed to
 * prom-client when the counter is read (a scrape, `get()`): prom-client validates and hashes the
 * labels of every `inc`, and a request adds to five of them.
 */
class Tally {
  private readonly counts = new Map<string, { labels: Labels; value: number; shown: boolean }>();

  add(key: string, labels: () => Labels, value: number): void {
    const count = this.counts.get(key);
    if (count) count.value += value;
    else this.counts.set(key, { labels: labels(), value, shown: false });
  }

  /** Into the counter: every label set once seen (at 0 too, as `inc` would have shown it), then what was added since. */
  flush(counter: Counter<string>): void {
    for (const count of this.counts.values()) {
      if (count.value === 0 && count.shown) continue;
      counter.inc(count.labels, count.value);
      count.value = 0;
      count.shown = true;
    }
  }
}

/** Prometheus metrics of one replica (`GET /metrics`). */
export class Metrics {
  readonly registry = new Registry();
  private readonly requestTally = new Tally();
  private readonly tokenTally = new Tally();
  private readonly costTally = new Tally();

  constructor() {
    // Process CPU, memory and event-loop delay percentiles (nodejs_eventloop_lag_p99_seconds).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1 });
  }

  readonly requests = new Counter({
    name: "tollgate_requests_total",
    help: "Chat completion requests by tier, model and status",
    labelNames: ["tier", "model", "status"] as const,
    registers: [this.registry],
    collect: (): void => this.requestTally.flush(this.requests),
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
    collect: (): void => this.tokenTally.flush(this.tokens),
  });
  readonly cost = new Counter({
    name: "tollgate_cost_usd_total",
    help: "Real cost in USD by model",
    labelNames: ["model"] as const,
    registers: [this.registry],
    collect: (): void => this.costTally.flush(this.cost),
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

  /** A request's outcome, its tokens and its cost (in USD), in the counters above. */
  countRequest(tier: string, model: string, status: number, usage: { promptTokens: number; cachedTokens: number; completionTokens: number }, costUsd: number): void {
    this.requestTally.add(`${tier}\u0000${model}\u0000${status}`, () => ({ tier, model, status: String(status) }), 1);
    if (usage.promptTokens > 0) {
      this.tokenTally.add(`input\u0000${model}`, () => ({ direction: "input", model }), usage.promptTokens);
      this.tokenTally.add(`cached\u0000${model}`, () => ({ direction: "cached", model }), usage.cachedTokens);
      this.tokenTally.add(`output\u0000${model}`, () => ({ direction: "output", model }), usage.completionTokens);
    }
    if (costUsd > 0) this.costTally.add(model, () => ({ model }), costUsd);
  }
}
