import type { BudgetLedger, ExpiredHold, KeyValueStore } from "../budget/interface.js";
import { countersFor, scopesFor } from "../budget/scopes.js";
import type { Settler } from "../budget/settle.js";
import { windowsAt } from "../budget/window.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Nano } from "../money.js";
import { readUsage, usageCost } from "../pricing/cost.js";
import type { UpstreamClient } from "../upstream/client.js";
import { answerCharges } from "./charges.js";
import { usageRecordOf, type RecordHeader, type UsageRecord } from "./record.js";

/**
 * Background responses (`background: true`): the upstream answers at once with a response that is
 * only queued, and bills it when it finishes, minutes or hours later. Its hold is kept past the
 * request until then (the replica hands it over, with a lease of one poll period), and settled from
 * the finished response's usage: when its owner retrieves it through tollgate, or when a poll finds
 * it done. The poll rides on the expired-holds scan every replica runs (budget/leases.ts): a
 * background hold's lease ends at its next poll; the replica that finds it looks the response up,
 * settles it or moves its lease on. One still unfinished after `responses.background_hold_hours` is
 * left to that scan, which charges it at its hold as `unreconciled`.
 */

/** What the hold of one background response needs to be settled by any replica. */
export interface PendingResponse {
  holdId: string;
  responseId: string;
  upstream: string;
  /** The configured model that serves it: its price bills the usage. */
  model: string;
  header: RecordHeader;
  heldAmount: Nano;
  estimatedCost: Nano;
  /** The service tier asked for, billed when the finished response does not name one. */
  serviceTier?: string;
  /** When it is charged at its hold if still unfinished (ms). */
  until: number;
}

const key = (holdId: string) => `background:${holdId}`;
const FINISHED = new Set(["completed", "incomplete", "failed", "cancelled"]);

/** A response object that is done: its usage is final. */
export function isFinished(response: unknown): boolean {
  const status = (response as { status?: unknown } | null)?.status;
  return typeof status === "string" && FINISHED.has(status);
}

/** Whether an answer is a background response not finished yet (queued or in progress). */
export function isUnfinishedBackground(body: { background?: unknown; stream?: unknown }, answer: unknown): boolean {
  if (body.background !== true || body.stream === true) return false;
  const status = (answer as { status?: unknown } | null)?.status;
  return status === "queued" || status === "in_progress";
}

export class BackgroundResponses {
  constructor(
    private readonly services: { config: Config; clock: Clock; store: BudgetLedger & KeyValueStore; settler: Settler; upstream: UpstreamClient; logger: Logger },
  ) {}

  private get pollMs(): number {
    return this.services.config.responses.background_poll_seconds * 1000;
  }

  /** When a hold handed over now is next looked at. */
  nextPoll(): number {
    return this.services.clock.now() + this.pollMs;
  }

  /** The deadline of a response handed over now. */
  deadline(): number {
    return this.services.clock.now() + this.services.config.responses.background_hold_hours * 3600_000;
  }

  async remember(pending: PendingResponse): Promise<void> {
    // Kept a day past its deadline: the scan that charges it reads it no later than that.
    await this.services.store.setValue(key(pending.holdId), JSON.stringify(pending), pending.until - this.services.clock.now() + 24 * 3600_000);
  }

  private async find(holdId: string): Promise<PendingResponse | undefined> {
    const value = await this.services.store.getValue(key(holdId));
    return value === null ? undefined : (JSON.parse(value) as PendingResponse);
  }

  /**
   * An expired hold that is a background response's (see the class comment): settled when the
   * response is done, its lease moved to the next poll while it runs; false when it is not one, or
   * its deadline passed (then it is charged at its hold).
   */
  async followUp(hold: ExpiredHold): Promise<boolean> {
    const pending = await this.find(hold.requestId);
    if (!pending) return false;
    const response = await this.lookUp(pending);
    if (response !== undefined && isFinished(response)) {
      await this.settle(pending, response);
      return true;
    }
    const now = this.services.clock.now();
    if (now >= pending.until) return false;
    await this.services.store.renew([pending.holdId], Math.min(pending.until, now + this.pollMs));
    return true;
  }

  /** A response its owner retrieved through tollgate: settles its hold if it is done. */
  async retrieved(holdId: string, response: unknown): Promise<void> {
    if (!isFinished(response)) return;
    const pending = await this.find(holdId);
    if (pending) await this.settle(pending, response);
  }

  /** The response as the upstream has it now; undefined when it cannot be read. */
  private async lookUp(pending: PendingResponse): Promise<unknown> {
    try {
      using reply = await this.services.upstream.forward({
        upstream: pending.upstream,
        method: "GET",
        path: `/responses/${encodeURIComponent(pending.responseId)}`,
        headers: { accept: "application/json" },
        body: undefined,
        signal: new AbortController().signal,
      });
      const text = await reply.body.text();
      return reply.status === 200 ? JSON.parse(text) : undefined;
    } catch (err) {
      this.services.logger.log("warn", "background_poll_failed", { response_id: pending.responseId, error: (err as Error).message });
      return undefined;
    }
  }

  /**
   * Settles the hold from the finished response's usage. A response that finished without usage
   * is charged at its hold, unless it failed (the upstream bills no failed response).
   */
  private async settle(pending: PendingResponse, response: unknown): Promise<void> {
    const model = this.services.config.models[pending.model];
    const usage = readUsage((response as { usage?: unknown }).usage);
    const failed = (response as { status?: unknown }).status === "failed";
    const charges = answerCharges(response);
    charges.serviceTier ??= pending.serviceTier;
    let cost: Nano;
    let record: UsageRecord;
    if (usage && model) {
      cost = usageCost(model, usage, charges);
      record = usageRecordOf(pending.header, {
        status: 200,
        input_tokens: usage.promptTokens,
        cached_tokens: usage.cachedTokens,
        output_tokens: usage.completionTokens,
        usage_source: "upstream",
        estimated_cost_nano: pending.estimatedCost,
        cost_nano: cost,
        requested_model_cost_nano: cost,
      });
    } else {
      cost = failed ? 0 : pending.heldAmount;
      record = usageRecordOf(pending.header, { status: failed ? 502 : 200, usage_source: failed ? "estimated" : "held", estimated_cost_nano: pending.estimatedCost, cost_nano: cost, requested_model_cost_nano: cost });
    }
    const started = Date.parse(pending.header.time);
    const windows = windowsAt(started, this.services.config.budgets.timezone);
    const counters = countersFor(scopesFor(this.services.config.budgets, pending.header.key_id, pending.header.team, { endUser: pending.header.end_user, tags: pending.header.tags }), windows);
    await this.services.settler.settle({ requestId: pending.holdId, counters, actual: cost, record, day: windows.day });
  }
}
