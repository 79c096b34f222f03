import { createRequire } from "node:module";
import type * as OtelApi from "@opentelemetry/api";
import type { Span, Tracer } from "@opentelemetry/api";
import type * as OtelCore from "@opentelemetry/core";
import type * as OtelExporter from "@opentelemetry/exporter-trace-otlp-http";
import type * as OtelResources from "@opentelemetry/resources";
import type * as OtelSdk from "@opentelemetry/sdk-trace-base";
import type { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "../log.js";
import type { UsageRecord } from "../usage/record.js";

/**
 * OpenTelemetry traces, on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set:
 * a span per proxied request named and described by the GenAI semantic conventions
 * (`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.*`)
 * and tollgate's own (`tollgate.tier`, `tollgate.route`, `tollgate.cost_usd`, `tollgate.key_id`),
 * with a child span for each step: plan, hold, upstream (the call, whose W3C `traceparent` the
 * upstream receives) and settle. Exported over OTLP/HTTP by the official SDK, in batches, off the
 * request path; the SDK reads the rest of the standard `OTEL_*` variables.
 *
 * ```ts
 * const t = tracing.request("chat.completions", c.req.header("traceparent"));
 * const plan = await t.step("plan", () => planRequest(...));
 * await t.step("upstream", (headers) => upstream.post({ ...req, headers }));
 * t.record(record); t.end();
 * ```
 */

export type Step = "plan" | "hold" | "upstream" | "settle";

export interface RequestTrace {
  /** Runs one step in a child span; `headers` carry that span's context (for the upstream call). */
  step<T>(name: Step, run: (headers: Record<string, string>) => Promise<T>, attributes?: Record<string, string | number>): Promise<T>;
  /** What the request asked for, once it is read. */
  requested(model: string, keyId: string | null): void;
  /** What it came to: the usage record of its answer. */
  record(record: UsageRecord): void;
  /** Ends the request's span; an error marks it failed. */
  end(failure?: unknown): void;
}

/** The GenAI operation of each endpoint (the conventions' names). */
const OPERATIONS: Record<string, string> = { "chat.completions": "chat", responses: "chat", completions: "text_completion", embeddings: "embeddings" };

/**
 * The SDK's packages, loaded only when tracing is on: a replica without it does not carry them
 * (about 17 MB of a process's memory). They ship CommonJS builds, so they load synchronously.
 */
interface Sdk {
  api: typeof OtelApi;
  core: typeof OtelCore;
  exporter: typeof OtelExporter;
  resources: typeof OtelResources;
  sdk: typeof OtelSdk;
}

function loadSdk(): Sdk {
  const require = createRequire(import.meta.url);
  return {
    api: require("@opentelemetry/api") as typeof OtelApi,
    core: require("@opentelemetry/core") as typeof OtelCore,
    exporter: require("@opentelemetry/exporter-trace-otlp-http") as typeof OtelExporter,
    resources: require("@opentelemetry/resources") as typeof OtelResources,
    sdk: require("@opentelemetry/sdk-trace-base") as typeof OtelSdk,
  };
}

/** Tracing for no one: every call does nothing. */
export const untraced: RequestTrace = { step: (_name, run) => run({}), requested: () => {}, record: () => {}, end: () => {} };

export class Tracing {
  private readonly tracer: Tracer;
  private readonly propagator: OtelCore.W3CTraceContextPropagator;

  constructor(
    private readonly otel: Sdk,
    private readonly provider: BasicTracerProvider,
  ) {
    this.tracer = provider.getTracer("tollgate");
    this.propagator = new otel.core.W3CTraceContextPropagator();
  }

  /** The request's trace, continuing the client's own when it sent a `traceparent`. */
  request(endpoint: string, traceparent: string | undefined): RequestTrace {
    const { context, SpanKind, SpanStatusCode, trace } = this.otel.api;
    const propagator = this.propagator;
    const failed = (span: Span, err: unknown) => {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
    };
    const operation = OPERATIONS[endpoint] ?? endpoint;
    const parent = traceparent ? propagator.extract(context.active(), { traceparent }, { get: (c, k) => c[k as "traceparent"], keys: () => ["traceparent"] }) : context.active();
    const root = this.tracer.startSpan(operation, { kind: SpanKind.SERVER, attributes: { "gen_ai.operation.name": operation, "tollgate.endpoint": endpoint } }, parent);
    const inside = trace.setSpan(parent, root);
    return {
      step: async (name, run, attributes = {}) => {
        const span = this.tracer.startSpan(name, { kind: name === "upstream" ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes }, inside);
        const headers: Record<string, string> = {};
        propagator.inject(trace.setSpan(inside, span), headers, { set: (carrier, key, value) => (carrier[key] = value) });
        try {
          return await run(headers);
        } catch (err) {
          failed(span, err);
          throw err;
        } finally {
          span.end();
        }
      },
      requested: (model, keyId) => {
        root.updateName(`${operation} ${model}`);
        root.setAttribute("gen_ai.request.model", model);
        if (keyId !== null) root.setAttribute("tollgate.key_id", keyId);
      },
      record: (record) => {
        root.setAttributes({
          "gen_ai.response.model": record.routed_model,
          "gen_ai.usage.input_tokens": record.input_tokens,
          "gen_ai.usage.output_tokens": record.output_tokens,
          "tollgate.route": record.route,
          "tollgate.cost_usd": record.cost_nano / 1e9,
          "tollgate.usage_source": record.usage_source,
          "tollgate.cache_hit": record.cache_hit,
          "http.response.status_code": record.status,
        });
        if (record.tier !== null) root.setAttribute("tollgate.tier", record.tier);
        if (record.key_id !== null) root.setAttribute("tollgate.key_id", record.key_id);
      },
      end: (failure) => {
        if (failure !== undefined) failed(root, failure);
        root.end();
      },
    };
  }

  /** Sends the spans still waiting, then stops. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/** Tracing when the environment names an OTLP endpoint; undefined otherwise (no SDK is started). */
export function tracingFromEnv(env: NodeJS.ProcessEnv, logger: Logger): Tracing | undefined {
  // The traces endpoint is used as it is; the general one gets the signal's path (the OTLP spec's rule).
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, "")}/v1/traces` : "");
  if (!endpoint || env.OTEL_SDK_DISABLED === "true") return undefined;
  const otel = loadSdk();
  const provider = new otel.sdk.BasicTracerProvider({
    resource: otel.resources.resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || "tollgate" }),
    spanProcessors: [new otel.sdk.BatchSpanProcessor(new otel.exporter.OTLPTraceExporter({ url: endpoint }))],
  });
  logger.log("info", "tracing", { endpoint, protocol: "http/json" });
  return new Tracing(otel, provider);
}
