import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";

/**
 * OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, an OTLP/HTTP receiver (a server of the
 * test's own on loopback) gets one trace per request: its span with the GenAI and tollgate
 * attributes, and child spans for plan, hold, upstream and settle; the upstream gets the
 * upstream span's traceparent.
 */

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

const received: OtlpSpan[] = [];
let receiver: Server;
let receiverUrl: string;
let upstream: FakeUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      expect(req.url).toBe("/v1/traces");
      const payload = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
      for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 12, completion_tokens: 34 } }));
  const config = testConfig(upstream.baseUrl, { keys: [{ id: "app", key: "sk-app" }] });
  proxy = await startTestProxy(config, { clock: new ManualClock(Date.UTC(2026, 5, 15, 12)), env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, OTEL_SERVICE_NAME: "tollgate-test" } });
});

afterAll(async () => {
  await proxy?.shutdown();
  await upstream?.close();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
});

const attributes = (span: OtlpSpan) => Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]));

describe("OpenTelemetry", () => {
  it("exports one trace per request with the GenAI and tollgate attributes, child spans for each step, and the traceparent upstream", async () => {
    const costs: number[] = [];
    for (const content of ["first", "second"]) {
      const response = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-app" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] }),
      });
      expect(response.status).toBe(200);
      costs.push(Number(response.headers.get("x-tollgate-cost")));
    }
    // The spans leave in batches: a stop sends what is left (as SIGTERM does).
    await proxy.shutdown();

    const roots = received.filter((s) => s.parentSpanId === undefined || s.parentSpanId === "");
    expect(roots).toHaveLength(2);
    expect(new Set(roots.map((r) => r.traceId)).size).toBe(2);
    roots.forEach((root, i) => {
      expect(root.name).toBe("chat gpt-4o-mini");
      expect(root.kind).toBe(2); // SERVER
      expect(attributes(root)).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 34,
        "tollgate.tier": "economy",
        "tollgate.route": "client-model",
        "tollgate.key_id": "app",
      });
      expect(attributes(root)["tollgate.cost_usd"]).toBeCloseTo(costs[i]!, 12);
      const children = received.filter((s) => s.traceId === root.traceId && s.parentSpanId === root.spanId);
      expect(children.map((s) => s.name).sort()).toEqual(["hold", "plan", "settle", "upstream"]);
      const call = children.find((s) => s.name === "upstream")!;
      expect(call.kind).toBe(3); // CLIENT
      expect(attributes(call)["gen_ai.request.model"]).toBe("gpt-4o-mini");
      // The upstream saw this call's span as its parent.
      const sent = upstream.requests[i]!.headers.traceparent;
      expect(sent).toBe(`00-${root.traceId}-${call.spanId}-01`);
    });
  });

  it("traces a cached answer: its record, and a settle, with no upstream call", async () => {
    const cachedProxy = await startTestProxy(testConfig(upstream.baseUrl, { cache: { enabled: true } }), { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl } });
    const ask = () =>
      fetch(`${cachedProxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-tollgate-cache": "on" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "cache me" }] }),
      });
    expect((await ask()).headers.get("x-tollgate-cache")).toBe("miss");
    expect((await ask()).headers.get("x-tollgate-cache")).toBe("hit");
    await cachedProxy.shutdown();
    const hit = received.find((s) => attributes(s)["tollgate.cache_hit"] === true)!;
    expect(attributes(hit)).toMatchObject({ "gen_ai.response.model": "gpt-4o-mini", "tollgate.cost_usd": 0 });
    expect(received.filter((s) => s.traceId === hit.traceId && s.parentSpanId === hit.spanId).map((s) => s.name).sort()).toEqual(["plan", "settle"]);
  });

  it("continues a trace the client started", async () => {
    const again = await startTestProxy(testConfig(upstream.baseUrl), { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl } });
    const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const response = await fetch(`${again.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: parent },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "third" }] }),
    });
    expect(response.status).toBe(200);
    await again.shutdown();
    const root = received.find((s) => s.traceId === "0af7651916cd43dd8448eb211c80319c" && s.parentSpanId === "b7ad6b7169203331");
    expect(root?.name).toBe("chat gpt-4o-mini");
  });
});
