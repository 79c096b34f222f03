import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { collectDefaultMetrics, Registry } from "prom-client";
import { Pool } from "undici";

/**
 * The floor for this stack: a Hono app on @hono/node-server whose POST /v1/chat/completions reads
 * the body text and forwards it with an undici Pool, returning the upstream's status and body
 * (streamed when the upstream streams). No auth, routing, budgets or accounting. It exposes the
 * same default process metrics as tollgate, so CPU, memory and event-loop delay are read alike.
 *
 *   node --import tsx bench/passthrough.ts --port 9101 --upstream http://127.0.0.1:9100
 */

function arg(name: string): string {
  const i = process.argv.indexOf(name);
  if (i < 0 || !process.argv[i + 1]) throw new Error(`missing ${name}`);
  return process.argv[i + 1]!;
}

const port = Number(arg("--port"));
const upstream = new URL(arg("--upstream"));
const pool = new Pool(upstream.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
const registry = new Registry();
collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1 });

const app = new Hono();
app.get("/health", (c) => c.json({ status: "ok" }));
app.get("/metrics", async (c) => c.text(await registry.metrics(), 200, { "content-type": registry.contentType }));
app.post("/v1/chat/completions", async (c) => {
  const body = await c.req.text();
  const res = await pool.request({
    path: "/v1/chat/completions",
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal: c.req.raw.signal,
  });
  const contentType = String(res.headers["content-type"] ?? "application/json");
  if (!contentType.startsWith("text/event-stream")) {
    return new Response(await res.body.text(), { status: res.statusCode, headers: { "content-type": contentType } });
  }
  const chunks = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel() {
      res.body.destroy();
    },
  });
  return new Response(stream, { status: res.statusCode, headers: { "content-type": contentType, "cache-control": "no-cache" } });
});

const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port });
process.once("SIGTERM", () => {
  server.close(() => process.exit(0));
  (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
});
