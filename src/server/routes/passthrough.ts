import { randomUUID } from "node:crypto";
import type { Context, Hono } from "hono";
import type { PassthroughConfig } from "../../config/schema.js";
import { ProxyError } from "../../errors.js";
import type { Classified } from "../../gate/classes.js";
import { meteredPrice, readMeteredRequest, readMeteredUsage, type MeteredAnswer } from "../../gate/metered.js";
import { holdMeteredCall } from "../../gate/metered-hold.js";
import { countConversationItems } from "../../gate/conversations.js";
import { objectNotFound, type StoredObject } from "../../gate/objects.js";
import { gateCall, type GateDecision } from "../../gate/policy.js";
import { filterList, listedIds, producedIds, referencedIds } from "../../gate/stored.js";
import { UsageTail } from "../../gate/usage-tail.js";
import type { Services } from "../../services.js";
import { UpstreamFailure } from "../../upstream/client.js";
import { answerHeaders, forwardedHeaders, passBody, readWhole } from "../../upstream/passthrough-wire.js";
import { maskSecrets, SecretMasker } from "../../upstream/secrets.js";
import { collect, limitStream, mediaType, multipartBoundary, multipartFields } from "../../request/body.js";
import { parseJsonBody } from "../../request/parse.js";
import { unpricedRecord, type RecordHeader } from "../../usage/record.js";
import { TIER_RANK } from "../../routing/tiers.js";
import type { Caller } from "../../caller.js";
import { exchange } from "../exchange.js";
import { modelNotAllowed } from "../admit.js";

/** Answers that are text: masked as they pass (binary ones, audio and file contents, pass as they are). */
const TEXTUAL = /json|text\/|xml|^$/i;
const WHOLE_JSON = /^application\/json\s*(;|$)/i;

/**
 * Every /v1/ path besides the priced endpoints, through the gate (src/gate): each call belongs to
 * an endpoint class with a policy. A `metered` call holds its class's amount against every budget
 * and settles at what its answer says it cost; a `free` one spends nothing. Every object a call
 * creates is its caller's, and no caller reaches another's; every text answer is masked for
 * secrets as it streams; upstream headers pass through an allow-list. Bodies stream both ways,
 * except JSON, which is read to find the model and the objects it names.
 */
export function registerPassthrough(app: Hono, services: Services): void {
  const settings = services.config.passthrough;
  if (settings === false) return;
  app.all(
    "/v1/*",
    exchange(services, async (ex, c) => {
      const startedMono = performance.now();
      const startedAt = services.clock.now();
      const caller = services.auth.authenticateWithAdmin(c.req.header("authorization"));
      const path = c.req.path.slice(3);
      const decision = gateCall(settings, caller, c.req.method, path);
      const call = await readCall(services, settings, c, decision, caller);
      const requestId = `pt-tg-${randomUUID()}`;
      const header: RecordHeader = {
        time: new Date(startedAt).toISOString(),
        request_id: requestId,
        endpoint: decision.label,
        key_id: caller.keyId,
        team: caller.team,
        request_type: "passthrough",
        tier: (call.knownModel !== undefined && services.config.models[call.knownModel]?.tier) || null,
        requested_model: call.knownModel ?? "",
        routed_model: call.knownModel ?? "",
        route: decision.holdUsd === undefined ? "passthrough" : "metered",
        stream: false,
      };
      const metered =
        decision.holdUsd === undefined
          ? undefined
          : await holdMeteredCall(services, ex, {
              holdUsd: decision.holdUsd,
              request: readMeteredRequest(decision.label, path, call.field),
              price: meteredPrice(services.config, call.model, call.upstream, services.clock.now()),
              model: call.knownModel ?? "",
              caller,
              header,
            });

      // From here a metered call counts as sent: a client leaving before the answer's headers, or a
      // connection breaking after the body went out, leaves work the upstream may bill.
      if (metered) metered.forwarded = true;
      const reply = await services.upstream
        .forward({
          upstream: call.upstream,
          method: c.req.method,
          path: `${path}${new URL(c.req.url).search}`,
          headers: forwardedHeaders((name) => c.req.header(name), services.upstream.forwardList(call.upstream)),
          body: call.body,
          signal: ex.signal,
        })
        .catch((err: unknown) => {
          if (metered && err instanceof UpstreamFailure && err.notSent) metered.forwarded = false;
          throw err;
        });
      const out = answerHeaders(reply, requestId);
      // `billed`: the upstream took the call (an answer, whole or cut short), rather than refusing it.
      const settle = async (status: number, billed: boolean, answer: MeteredAnswer) => {
        const latency = Math.round(performance.now() - startedMono);
        if (metered) return metered.settle(status, billed, answer, latency);
        await services.settler.settle({ requestId, counters: [], actual: 0, record: unpricedRecord(header, status, latency), day: services.windows.at(startedAt).day });
      };

      const contentType = String(reply.headers["content-type"] ?? "");
      const noBody = reply.status === 204 || reply.status === 304 || c.req.method === "HEAD";
      if (!noBody && reply.status < 400 && WHOLE_JSON.test(contentType) && decision.endpoint && answersWithObjects(decision.endpoint, path)) {
        const text = await readWhole(reply);
        const body = await ownAnswer(services, decision.endpoint, caller, call, text);
        await settle(ex.clientGone ? 499 : reply.status, true, readMeteredUsage(body.usage));
        // A background response its owner retrieves: done, its hold settles from its usage.
        if (call.object?.background !== undefined && reply.status === 200) await services.background.retrieved(call.object.background, body.parsed);
        if (decision.label === "conversations") await countConversationItems(services.objects, c.req.method, path, call.json, body.parsed, call.object);
        return { response: new Response(maskSecrets(body.text, services.upstream.secrets), { status: reply.status, headers: out }) };
      }
      if (noBody) {
        using empty = reply;
        empty.body.resume();
        await settle(reply.status, reply.status < 400, readMeteredUsage(undefined));
        return { response: new Response(null, { status: reply.status, headers: out }) };
      }
      const textual = TEXTUAL.test(contentType);
      const tail = textual && metered ? new UsageTail() : undefined;
      const { stream, ended } = passBody(reply, textual ? new SecretMasker(services.upstream.secrets) : undefined, tail);
      const finished = ended.then((complete) =>
        settle(complete ? reply.status : ex.clientGone ? 499 : 502, reply.status < 400, readMeteredUsage(tail?.usage())).catch((err: unknown) =>
          services.logger.log("error", "passthrough_record_failed", { request_id: requestId, error: (err as Error).message }),
        ),
      );
      return { response: new Response(stream, { status: reply.status, headers: out }), finished };
    }),
  );
}

/** What a pass-through call is about, read from its path, body and the objects it names. */
interface Call {
  body: Uint8Array | AsyncIterable<Uint8Array> | undefined;
  upstream: string;
  model: string | undefined;
  /** The model when tollgate knows it, else undefined: what records and reports may name. */
  knownModel: string | undefined;
  field: (name: string) => string | undefined;
  /** The object the path names, when it has a record. */
  object: StoredObject | undefined;
  /** A JSON body, parsed. */
  json?: unknown;
}

/** Classes whose multipart bodies are file contents that stream through unread (uploads up to `passthrough.body_limit_mb`). */
const STREAMED_UPLOADS = new Set(["files", "uploads"]);

/**
 * Reads what the gate needs before the call goes anywhere, as the upstream will read it: a body is
 * JSON (parsed whole, strictly: a body that does not parse is a 400), or multipart (its text fields
 * parsed part by part; file uploads stream through unread). The key's model limits and the
 * ownership of every object the path or the body names apply here, so a refused call reaches nobody.
 */
async function readCall(services: Services, settings: PassthroughConfig, c: Context, decision: GateDecision, caller: Caller): Promise<Call> {
  const passLimit = Math.floor(settings.body_limit_mb * 1024 * 1024);
  const jsonLimit = Math.floor(services.config.server.body_limit_mb * 1024 * 1024);
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > passLimit) throw new ProxyError("request_too_large", `The request body is larger than the pass-through limit of ${settings.body_limit_mb} MB.`);
  const contentType = c.req.header("content-type") ?? "";
  const raw = c.req.method === "GET" || c.req.method === "HEAD" ? null : c.req.raw.body;
  let body: Uint8Array | AsyncIterable<Uint8Array> | undefined;
  let field: (name: string) => string | undefined = () => undefined;
  let references: string[] = [];
  let json: unknown;
  if (raw && mediaType(contentType) === "multipart/form-data") {
    const boundary = multipartBoundary(contentType);
    if (boundary === undefined) throw new ProxyError("invalid_request", "A multipart body needs a boundary in its Content-Type.");
    if (decision.holdUsd === undefined && STREAMED_UPLOADS.has(decision.label)) {
      body = limitStream(raw, passLimit);
    } else {
      const bytes = await collect(raw, decision.holdUsd === undefined ? jsonLimit : passLimit);
      const fields = multipartFields(bytes, boundary);
      body = bytes;
      field = (name) => fields.get(name);
      references = referencedIds(Object.fromEntries(fields));
    }
  } else if (raw) {
    // Anything else is JSON, whatever its Content-Type says: what is checked is what the upstream parses.
    const bytes = await collect(raw, jsonLimit);
    if (bytes.length > 0) {
      const parsed = parseJsonBody(bytes.toString("utf8"));
      json = parsed;
      body = bytes;
      field = (name) => {
        const value = (parsed as Record<string, unknown> | null)?.[name];
        return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
      };
      references = referencedIds(parsed);
    }
  }

  const model = field("model");
  const configured = model !== undefined && Object.hasOwn(services.config.models, model) ? services.config.models[model]! : undefined;
  if (model !== undefined && caller.models && !caller.models.has(model)) throw modelNotAllowed(model);
  if (model !== undefined && caller.maxTier) {
    // A model the configuration does not tier cannot be shown to be within the key's cap.
    if (!configured) throw new ProxyError("tier_not_allowed", `This key is limited to ${caller.maxTier} models, and '${model}' is not a configured model.`, "model");
    if (TIER_RANK[configured.tier] > TIER_RANK[caller.maxTier]) throw new ProxyError("tier_not_allowed", `This key may not use ${configured.tier} models such as '${model}'.`, "model");
  }
  for (const id of references) {
    if (!(await services.objects.reachable(caller, id))) throw objectNotFound(id);
  }
  let object: StoredObject | undefined;
  const objectId = decision.endpoint?.objectId;
  if (objectId !== undefined) {
    const found = await services.objects.reachable(caller, objectId);
    if (!found) throw objectNotFound(objectId);
    if (found !== "unrecorded") object = found;
  }
  const upstream = object?.upstream ?? configured?.upstream ?? settings.upstream ?? Object.keys(services.config.upstreams)[0]!;
  // Reports group by model: only a name tollgate knows (configured or priced by the catalogue) becomes a label.
  const known = model !== undefined && (configured !== undefined || meteredPrice(services.config, model, upstream, services.clock.now()) !== undefined);
  return { body, upstream, model, knownModel: known ? model : undefined, field, object, json };
}

/** Whether the answer is worth reading whole: it lists objects, creates one, or is one (what it produced). */
function answersWithObjects(endpoint: Classified, path: string): boolean {
  // A file's contents are the owner's data, never a statement about objects.
  if (path.endsWith("/content")) return false;
  return endpoint.lists || endpoint.creates || endpoint.objectId !== undefined;
}

/**
 * An answer about objects: a list shows only the caller's items; a new object, and whatever an
 * object produced (a batch's output files), become the owner's.
 */
async function ownAnswer(services: Services, endpoint: Classified, caller: Caller, call: Call, text: string): Promise<{ text: string; usage: unknown; parsed?: unknown }> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text, usage: undefined };
  }
  if (parsed === null || typeof parsed !== "object") return { text, usage: undefined };
  const listed = endpoint.lists ? listedIds(parsed) : undefined;
  if (listed && !caller.admin) {
    const visible = await services.objects.visible(caller, listed);
    if (visible.size < listed.length) text = JSON.stringify(filterList(parsed, visible));
  }
  const owner = call.object?.owner ?? (caller.admin ? undefined : services.objects.owner(caller));
  if (owner !== undefined) {
    const ids = producedIds(parsed, endpoint.creates);
    await Promise.all(ids.map((id) => services.objects.remember(id, { owner, upstream: call.upstream })));
  }
  return { text, usage: parsed.usage, parsed };
}

