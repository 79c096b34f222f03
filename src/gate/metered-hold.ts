import { BudgetHold, type HoldServices } from "../budget/hold.js";
import type { Caller } from "../caller.js";
import type { Price } from "../config/schema.js";
import type { Nano } from "../money.js";
import { usageRecordOf, type RecordHeader } from "../usage/record.js";
import { meteredCost, meteredHold, readMeteredUsage, type MeteredAnswer, type MeteredRequest } from "./metered.js";

/** What a metered call's hold needs to know of the request it belongs to. */
export interface CallScope {
  defer(close: () => Promise<void> | void): void;
  readonly clientGone: boolean;
}

export interface MeteredCall {
  /** Its class's hold (`passthrough.endpoints.<class>.hold`). */
  holdUsd: number;
  request: MeteredRequest;
  /** The named model's price, when tollgate knows one. */
  price: Price | undefined;
  /** The model as records name it ("" when tollgate does not know it). */
  model: string;
  caller: Caller;
  header: RecordHeader;
}

/** A metered call's hold: `forwarded` once the call is on its way; `settle` once, with how it ended. */
export interface MeteredHold {
  forwarded: boolean;
  /** `billed`: the upstream took the call (an answer, whole or cut short), rather than refusing it. */
  settle(status: number, billed: boolean, answer: MeteredAnswer, latencyMs: number): Promise<void>;
}

/**
 * Holds a metered call's worst case against every budget (429 when it does not fit), and settles
 * it once: at what the answer says it cost, at the request's units or the hold when the call went
 * upstream and its answer said nothing or was lost, at nothing when it never reached the upstream
 * or the upstream refused it. The request's scope closes it, however it ends.
 */
export async function holdMeteredCall(services: HoldServices, scope: CallScope, call: MeteredCall): Promise<MeteredHold> {
  const priced = { model: call.model, holdAmount: meteredHold(call.holdUsd, call.price, call.request), capped: () => undefined };
  const hold = await BudgetHold.take(services, { requestId: call.header.request_id, caller: call.caller, candidates: [priced.model], price: async () => priced, header: () => call.header });
  const held = hold.amount;
  const state: MeteredHold = {
    forwarded: false,
    async settle(status, billed, answer, latencyMs) {
      const cost = billed ? meteredCost(call.price, call.request, answer, held) : { cost: 0 as Nano, source: "upstream" as const, usage: undefined };
      const record = usageRecordOf(call.header, {
        status,
        latency_ms: latencyMs,
        usage_source: cost.source,
        input_tokens: cost.usage?.promptTokens ?? 0,
        cached_tokens: cost.usage?.cachedTokens ?? 0,
        output_tokens: cost.usage?.completionTokens ?? 0,
        estimated_cost_nano: held,
        cost_nano: cost.cost,
        requested_model_cost_nano: cost.cost,
      });
      await hold.settle(cost.cost, record);
    },
  };
  // Sent and then lost (the client left, the proxy failed): the upstream may have done the work.
  scope.defer(() => hold.close(async () => (state.forwarded ? state.settle(scope.clientGone ? 499 : 500, true, readMeteredUsage(undefined), 0) : undefined)));
  return state;
}
