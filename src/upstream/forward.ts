import type { Tier } from "../config/schema.js";
import { reservationHoldMs } from "../budget/hold.js";
import { cooldownKey, reserveBudget } from "../budget/reserve.js";
import { scopesFor } from "../budget/scopes.js";
import type { Nano } from "../money.js";
import type { ChatBody } from "../request/parse.js";
import { adaptParams } from "../routing/adapt.js";
import type { Services } from "../services.js";
import type { RequestTrace } from "../usage/account.js";
import { UpstreamFailure, type UpstreamReply } from "./client.js";

export interface Forwarded {
  reply: UpstreamReply;
  /** The body of an error answer, read whole so another model could be tried. */
  errorText?: string;
  upstreamModel: string;
}

/** Longest cool-down honoured from an upstream's retry-after. */
const MAX_COOLDOWN_MS = 10 * 60_000;

/** retry-after in seconds or as an HTTP date, as milliseconds from now. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  if (typeof value !== "string") return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_COOLDOWN_MS) : undefined;
}

function fallbackEnabled(services: Services, tier: Tier): boolean {
  const setting = services.config.routing.fallback;
  return typeof setting === "boolean" ? setting : (setting[tier] ?? true);
}

/** The request as the model receives it: its name, its parameters, usage asked for on streams. */
export function upstreamBodyFor(body: ChatBody, model: string, services: Services): { body: ChatBody; upstreamModel: string } {
  const config = services.config.models[model]!;
  const upstreamModel = config.upstream_model ?? model;
  const out = adaptParams(body, config, upstreamModel);
  if (body.stream === true) out.stream_options = { ...(body.stream_options ?? {}), include_usage: true };
  return { body: out, upstreamModel };
}

/**
 * Step 6: forward upstream, and when the model's upstream answers 429 or 5xx, times out or refuses
 * the connection — before any byte reached the client — try the tier's next model. The
 * reservation moves with the request (released for the failed model, reserved for the next),
 * so it is never counted twice. A retry-after puts the model in a cool-down every replica sees.
 * Updates `trace` with the model that finally answered.
 */
export async function forwardWithFallback(
  services: Services,
  trace: RequestTrace,
  body: ChatBody,
  signal: AbortSignal,
  estimate: (model: string) => Promise<Nano>,
): Promise<Forwarded> {
  for (let attempt = 0; ; attempt++) {
    const { body: sent, upstreamModel } = upstreamBodyFor(body, trace.model, services);
    let reply: UpstreamReply | undefined;
    let failure: UpstreamFailure | undefined;
    try {
      reply = await services.upstream.chatCompletion({ upstream: trace.modelConfig.upstream, body: JSON.stringify(sent), signal });
    } catch (err) {
      if (signal.aborted || !(err instanceof UpstreamFailure)) throw err;
      failure = err;
    }
    if (reply && reply.status !== 429 && reply.status < 500) return { reply, upstreamModel };

    let errorText: string | undefined;
    if (reply) {
      errorText = await reply.body.text().catch(() => "");
      reply.done();
      const coolMs = retryAfterMs(reply.headers["retry-after"], services.clock.now());
      if (coolMs !== undefined) await services.store.setValue(cooldownKey(trace.model), "1", coolMs).catch(() => {});
    }
    const next = fallbackEnabled(services, trace.tier) ? await nextModel(services, trace, attempt, estimate) : undefined;
    if (!next) {
      if (failure) throw failure;
      return { reply: reply!, errorText, upstreamModel };
    }
  }
}

/** Moves the reservation to the tier's next untried model; undefined when there is none or it does not fit. */
async function nextModel(services: Services, trace: RequestTrace, attempt: number, estimate: (model: string) => Promise<Nano>): Promise<string | undefined> {
  const tried = new Set([...trace.fallbackFrom, trace.model]);
  const alternatives = services.tierModels[trace.tier].filter((m) => !tried.has(m));
  if (alternatives.length === 0) return undefined;
  const { config, clock } = services;
  await services.settler.settleReservation(trace.reservation, 0, null, trace.day);
  try {
    const reservation = await reserveBudget(services.store, config, {
      requestId: `${trace.requestId}#${attempt + 1}`,
      candidates: alternatives,
      estimate: (model) => estimate(model),
      scopes: scopesFor(config.budgets, trace.caller.keyId, trace.caller.team),
      windows: services.windows.at(clock.now()),
      now: clock.now(),
      holdMs: reservationHoldMs(config),
    });
    trace.fallbackFrom.push(trace.model);
    trace.model = reservation.model;
    trace.modelConfig = config.models[reservation.model]!;
    trace.reservation = reservation;
    trace.estimate = reservation.amount;
    trace.route = "fallback";
    return reservation.model;
  } catch {
    // Nothing fits: the request ends with the failed model's error, on a reservation of nothing
    // (the released one is settled and would not take the usage record).
    trace.reservation = { ...trace.reservation, requestId: `${trace.requestId}#${attempt + 1}`, amount: 0 };
    return undefined;
  }
}
