import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { ModelConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { holdMeteredCall, type CallScope, type MeteredHold } from "../gate/metered-hold.js";
import { readMeteredUsage } from "../gate/metered.js";
import { requireGrant } from "../gate/policy.js";
import { nanoToUsd } from "../money.js";
import { TIER_RANK } from "../routing/tiers.js";
import type { Services } from "../services.js";
import { forwardedClientHeaders } from "../upstream/client.js";
import { maskSecrets } from "../upstream/secrets.js";
import { RealtimeMeter } from "../usage/realtime.js";
import type { RecordHeader } from "../usage/record.js";
import type { Caller } from "./auth.js";
import { modelNotAllowed } from "./admit.js";

/**
 * GET /v1/realtime as a WebSocket (a priced route, per response): the client authenticates with its
 * tollgate key (the Authorization header, or the `openai-insecure-api-key.<key>` subprotocol
 * browsers use), names a configured `kind: realtime` model, and is relayed both ways to that
 * model's upstream with the upstream's key. Each `response.create` is held at its worst case
 * (usage/realtime.ts) before it goes on, refused with an `error` event when it does not fit, and
 * settled from its `response.done` usage, text and audio tokens at their prices.
 */

const KEY_PROTOCOL = "openai-insecure-api-key.";
type Event = Record<string, unknown>;

export interface RealtimeRelay {
  /** The server's `upgrade` listener. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every session (shutdown): their holds settle as they close. */
  closeAll(): void;
}

export function realtimeRelay(services: Services): RealtimeRelay {
  const sessions = new Set<WebSocket>();
  const server = new WebSocketServer({
    noServer: true,
    // Browsers offer `realtime` and their key: the answer names `realtime`, never the key.
    handleProtocols: (offered) => (offered.has("realtime") ? "realtime" : ([...offered].find((p) => !p.startsWith(KEY_PROTOCOL)) ?? false)),
  });
  return {
    upgrade(req, socket, head) {
      let admitted: Admitted;
      try {
        admitted = admit(services, req);
      } catch (err) {
        return refuse(socket, err instanceof ProxyError ? err : new ProxyError("internal_error", "internal error in the proxy"));
      }
      const upstream = connectUpstream(services, req, admitted);
      upstream.once("unexpected-response", (_, res) => {
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("end", () => refuseWith(socket, res.statusCode ?? 502, maskSecrets(Buffer.concat(parts).toString("utf8"), services.upstream.secrets)));
      });
      upstream.once("error", () => {
        if (upstream.readyState !== WebSocket.OPEN) refuse(socket, new ProxyError("upstream_unreachable", `upstream ${admitted.model.upstream} is unreachable`));
      });
      upstream.once("open", () =>
        server.handleUpgrade(req, socket, head, (client) => {
          sessions.add(client);
          client.once("close", () => sessions.delete(client));
          relay(services, admitted, client, upstream);
        }),
      );
    },
    closeAll() {
      for (const client of sessions) client.close(1001, "the proxy is shutting down");
    },
  };
}

interface Admitted {
  caller: Caller;
  name: string;
  model: ModelConfig;
  protocols: string[];
}

/** Who calls, and which realtime model: each a refusal before any upstream is reached. */
function admit(services: Services, req: IncomingMessage): Admitted {
  const url = new URL(req.url ?? "/", "http://tollgate");
  if (url.pathname.replace(/\/+$/, "") !== "/v1/realtime") throw new ProxyError("not_found", `Unknown endpoint: GET ${url.pathname}`);
  if (services.lifecycle.draining) throw new ProxyError("shutting_down", "The proxy is shutting down; retry on another replica.");
  const protocols = String(req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  const keyProtocol = protocols.find((p) => p.startsWith(KEY_PROTOCOL));
  const caller = services.auth.authenticate(req.headers.authorization ?? (keyProtocol ? `Bearer ${keyProtocol.slice(KEY_PROTOCOL.length)}` : undefined));
  requireGrant(caller, "realtime");
  const name = url.searchParams.get("model") ?? "";
  const model = Object.hasOwn(services.config.models, name) ? services.config.models[name]! : undefined;
  if (model?.kind !== "realtime") {
    const known = Object.entries(services.config.models).filter(([, m]) => m.kind === "realtime").map(([n]) => n);
    throw new ProxyError("model_not_found", `The model '${name}' is not a configured realtime model. Use one of: ${known.join(", ") || "(none configured)"}`, "model");
  }
  if (caller.models && !caller.models.has(name)) throw modelNotAllowed(name);
  if (caller.maxTier && TIER_RANK[model.tier] > TIER_RANK[caller.maxTier]) throw new ProxyError("tier_not_allowed", `This key may not use ${model.tier} models such as '${name}'.`, "model");
  return { caller, name, model, protocols: protocols.filter((p) => !p.startsWith(KEY_PROTOCOL)) };
}

/** The model's upstream as a WebSocket, with the upstream's key and the client headers it takes. */
function connectUpstream(services: Services, req: IncomingMessage, admitted: Admitted): WebSocket {
  const config = services.config.upstreams[admitted.model.upstream]!;
  const url = new URL(`${config.base_url.replace(/\/$/, "")}/realtime`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("model", admitted.model.upstream_model ?? admitted.name);
  const headers = forwardedClientHeaders(config.forward_headers, (name) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
  });
  if (config.api_key) headers.authorization = `Bearer ${config.api_key}`;
  return new WebSocket(url, admitted.protocols, { headers, handshakeTimeout: config.connect_timeout_ms });
}

/** One held response: the client's event that asked for it, and the upstream's id once it says. */
interface HeldResponse {
  eventId: unknown;
  responseId?: string;
  hold: MeteredHold;
  startedMono: number;
}

/** Relays a session both ways, holding and settling each response; closing one side closes the other. */
function relay(services: Services, admitted: Admitted, client: WebSocket, upstream: WebSocket): void {
  const leave = services.lifecycle.enter();
  const meter = new RealtimeMeter(admitted.model);
  const held: HeldResponse[] = [];
  const closers: Array<() => Promise<void> | void> = [];
  let over = false;
  const scope: CallScope = { defer: (close) => void closers.unshift(close), get clientGone() { return over; } };
  const header = (): RecordHeader => ({
    time: new Date(services.clock.now()).toISOString(),
    request_id: `rt-tg-${randomUUID()}`,
    endpoint: "realtime",
    key_id: admitted.caller.keyId,
    team: admitted.caller.team,
    request_type: "realtime",
    tier: admitted.model.tier,
    requested_model: admitted.name,
    routed_model: admitted.name,
    route: "realtime",
    stream: true,
  });
  const hold = (holdUsd: number) => holdMeteredCall(services, scope, { holdUsd, request: { model: admitted.name, units: undefined }, price: admitted.model.price, model: admitted.name, caller: admitted.caller, header: header() });

  // Client events in order: a response is held before it (and whatever follows it) goes on.
  let queue = Promise.resolve();
  client.on("message", (data: RawData, binary: boolean) => {
    queue = queue.then(() => fromClient(data, binary)).catch((err: unknown) => services.logger.log("error", "realtime_relay_failed", { error: (err as Error)?.stack ?? String(err) }));
  });
  const fromClient = async (data: RawData, binary: boolean) => {
    if (binary || over) return void (over || upstream.send(data, { binary }));
    const event = parseEvent(data);
    if (event) meter.fromClient(event);
    if (event?.type === "response.create") {
      try {
        const taken = await hold(nanoToUsd(meter.worstCase(event)));
        taken.forwarded = true;
        held.push({ eventId: event.event_id, hold: taken, startedMono: performance.now() });
      } catch (err) {
        if (!(err instanceof ProxyError)) throw err;
        client.send(JSON.stringify({ type: "error", event_id: `event_tg_${randomUUID()}`, error: { ...err.toBody().error, event_id: event.event_id ?? null } }));
        return;
      }
    }
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data.toString());
  };

  upstream.on("message", (data: RawData, binary: boolean) => {
    if (binary) return void client.send(data, { binary });
    const text = maskSecrets(data.toString(), services.upstream.secrets);
    const event = parseEvent(data);
    if (event) void fromUpstream(event).catch((err: unknown) => services.logger.log("error", "realtime_settle_failed", { error: (err as Error)?.stack ?? String(err) }));
    client.send(text);
  });
  const fromUpstream = async (event: Event) => {
    const response = (event.response ?? {}) as Event;
    if (event.type === "response.created") {
      const next = held.find((h) => h.responseId === undefined);
      if (next && typeof response.id === "string") next.responseId = response.id;
    } else if (event.type === "response.done") {
      meter.responseDone(response.usage as Event | undefined);
      let i = held.findIndex((h) => h.responseId === response.id);
      if (i < 0) i = held.findIndex((h) => h.responseId === undefined);
      // A response the upstream started on its own (voice activity): charged as it ends, held at nothing.
      const entry = i >= 0 ? held.splice(i, 1)[0]! : { hold: await hold(0), startedMono: performance.now() };
      await entry.hold.settle(200, true, readMeteredUsage(response.usage), Math.round(performance.now() - entry.startedMono));
    } else if (event.type === "error") {
      // A response.create the upstream refused: nothing was billed.
      const refused = (event.error as Event | undefined)?.event_id;
      const i = refused === undefined ? -1 : held.findIndex((h) => h.responseId === undefined && h.eventId === refused);
      if (i >= 0) await held.splice(i, 1)[0]!.hold.settle(400, false, readMeteredUsage(undefined), 0);
    }
  };

  const end = (code: number, reason: Buffer) => {
    if (over) return;
    over = true;
    // Codes that say nothing was sent (1005, 1006) may not be sent on.
    const sendable = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000;
    for (const socket of [client, upstream]) if (socket.readyState === WebSocket.OPEN) socket.close(sendable, reason);
    // Responses still running were sent, and the upstream may bill them: charged at their holds.
    void queue
      .then(async () => {
        for (const close of closers) await close();
      })
      .catch((err: unknown) => services.logger.log("error", "close_failed", { error: (err as Error)?.stack ?? String(err) }))
      .finally(leave);
  };
  client.on("close", end);
  upstream.on("close", end);
  client.on("error", () => end(1011, Buffer.from("client error")));
  upstream.on("error", () => end(1011, Buffer.from("upstream error")));
}

function parseEvent(data: RawData): Event | undefined {
  try {
    const event = JSON.parse(data.toString()) as unknown;
    return event !== null && typeof event === "object" && !Array.isArray(event) ? (event as Event) : undefined;
  } catch {
    return undefined;
  }
}

/** An answer before the upgrade, in the OpenAI error format, and the connection closed. */
function refuse(socket: Duplex, error: ProxyError): void {
  refuseWith(socket, error.status, JSON.stringify(error.toBody()));
}

function refuseWith(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return;
  const length = Buffer.byteLength(body);
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n${body}`);
}
