import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

/**
 * A fake realtime upstream: a real WebSocket server on loopback speaking the realtime API's events.
 * It opens each session with `session.created`, and answers each `response.create` with
 * `response.created`, a text delta and `response.done` carrying `usage` (text and audio tokens).
 */

export interface RealtimeUsage {
  input_tokens: number;
  output_tokens: number;
  input_token_details: { text_tokens: number; audio_tokens: number; cached_tokens: number };
  output_token_details: { text_tokens: number; audio_tokens: number };
}

export const REALTIME_USAGE: RealtimeUsage = {
  input_tokens: 100,
  output_tokens: 20,
  input_token_details: { text_tokens: 40, audio_tokens: 60, cached_tokens: 0 },
  output_token_details: { text_tokens: 5, audio_tokens: 15 },
};

export interface FakeRealtimeUpstream {
  /** The base URL a configuration names (http:// for the same host and port). */
  baseUrl: string;
  sessions: Array<{ url: string; headers: IncomingHttpHeaders; protocol: string; events: Array<Record<string, any>> }>;
  close(): Promise<void>;
}

export async function startRealtimeUpstream(): Promise<FakeRealtimeUpstream> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (offered) => (offered.has("realtime") ? "realtime" : false) });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const fake: FakeRealtimeUpstream = {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    sessions: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
  let responses = 0;
  server.on("connection", (socket, req) => {
    const session = { url: req.url ?? "", headers: req.headers, protocol: socket.protocol, events: [] as Array<Record<string, any>> };
    fake.sessions.push(session);
    const send = (event: Record<string, unknown>) => socket.send(JSON.stringify({ event_id: `event_up_${Math.random().toString(36).slice(2)}`, ...event }));
    send({ type: "session.created", session: { id: "sess_fake", model: new URL(session.url, "ws://x").searchParams.get("model") } });
    socket.on("message", (data) => {
      const event = JSON.parse(data.toString()) as Record<string, any>;
      session.events.push(event);
      if (event.type !== "response.create") return;
      const id = `resp_fake_${++responses}`;
      send({ type: "response.created", response: { id, object: "realtime.response", status: "in_progress", output: [] } });
      // A careless upstream repeats what it was sent, the key included: the proxy must not pass it on.
      send({ type: "response.output_text.delta", response_id: id, item_id: `item_${id}`, output_index: 0, content_index: 0, delta: `Hello by voice (${String(req.headers.authorization)}).` });
      send({ type: "response.done", response: { id, object: "realtime.response", status: "completed", output: [], usage: { total_tokens: REALTIME_USAGE.input_tokens + REALTIME_USAGE.output_tokens, ...REALTIME_USAGE } } });
    });
  });
  return fake;
}
