import { randomUUID } from "node:crypto";
import type { Progress } from "./progress.js";
import { BudgetHold, type HoldServices } from "../budget/hold.js";
import { countersFor, scopesFor } from "../budget/scopes.js";
import { windowsAt } from "../budget/window.js";
import { ProxyError } from "../errors.js";
import { chatShape } from "../endpoints/chat.js";
import type { Nano } from "../money.js";
import { batchRequestCost } from "../pricing/estimate.js";
import { planRequest } from "../plan/index.js";
import { batchCost, readUsage } from "../pricing/cost.js";
import { validateChatBody } from "../request/parse.js";
import type { Caller } from "../caller.js";
import type { PlanServices } from "../plan/index.js";
import type { UpstreamClient } from "../upstream/client.js";
import { multipart, upstreamJson } from "./files.js";

/** What the batch command uses of the proxy's services. */
export interface BatchServices extends PlanServices, HoldServices {
  upstream: Pick<UpstreamClient, "forward">;
}
import { usageRecordOf, type RecordHeader } from "../usage/record.js";

/**
 * The provider's Batch API (half price, results within 24 h) driven by `tollgate batch`: each chat
 * request of a JSONL file is routed by tier as the proxy would, its worst case reserved at the
 * model's batch price, one input file per model uploaded and one batch created per model through
 * the upstream's /v1/files and /v1/batches. `status` polls; `fetch` downloads the results, settles
 * each line's real usage and releases what was not used. The holds last 25 hours: a batch never
 * fetched is charged at its reservation once they run out, like any hold its owner abandoned.
 */

const BATCH_HOLD_MS = 25 * 3600 * 1000;

/** A batch request's hold: its worst case at the batch price, never capped (a batch line cannot be shortened). */
interface BatchPriced {
  model: string;
  holdAmount: Nano;
  capped(): undefined;
}
const ENDPOINT = "/v1/chat/completions";

export interface BatchRequestState {
  custom_id: string;
  hold_id: string;
  amount: Nano;
}

export interface ProviderBatch {
  model: string;
  upstream: string;
  batch_id: string;
  input_file_id: string;
  requests: BatchRequestState[];
}

/** What `submit` leaves for `status` and `fetch` (written to a state file). */
export interface BatchState {
  submitted_at: number;
  key_id: string | null;
  team: string | null;
  batches: ProviderBatch[];
  refused: Array<{ custom_id: string; reason: string }>;
}



function header(caller: Caller, startedAt: number, holdId: string, model: string, services: BatchServices, requested: string): RecordHeader {
  return {
    time: new Date(startedAt).toISOString(),
    request_id: holdId,
    endpoint: "batch",
    key_id: caller.keyId,
    team: caller.team,
    request_type: "batch",
    tier: services.config.models[model]!.tier,
    requested_model: requested,
    routed_model: model,
    route: "batch",
    stream: false,
  };
}

/** Reads, routes, reserves and submits a JSONL file of chat requests (`{custom_id, body}` or a bare body a line). */
export async function submitBatch(services: BatchServices, jsonl: string, caller: Caller, progress: Progress): Promise<BatchState> {
  const startedAt = services.clock.now();
  const lines = jsonl.split("\n").filter((l) => l.trim() !== "");
  const byModel = new Map<string, { lines: string[]; holds: BudgetHold<BatchPriced>[]; requests: BatchRequestState[] }>();
  const state: BatchState = { submitted_at: startedAt, key_id: caller.keyId, team: caller.team, batches: [], refused: [] };
  const holds: BudgetHold<BatchPriced>[] = [];
  try {
    for (let i = 0; i < lines.length; i++) {
      const parsed = JSON.parse(lines[i]!) as { custom_id?: string; body?: unknown };
      const customId = parsed.custom_id ?? `line-${i + 1}`;
      const body = validateChatBody(parsed.body ?? parsed);
      const request = { id: `batch-tg-${randomUUID()}`, startedAt, startedMono: 0, caller, body, bodyChars: lines[i]!.length, requestType: "batch" };
      const plan = await planRequest(services, request, chatShape);
      const prepared = await plan.prepare(plan.decision.model);
      const priced: BatchPriced = {
        model: prepared.model,
        holdAmount: batchRequestCost(prepared.config, prepared.inputTokens, prepared.worstOutput, body.n ?? 1),
        capped: () => undefined,
      };
      let hold: BudgetHold<BatchPriced>;
      try {
        hold = await BudgetHold.take(services, {
          requestId: request.id,
          caller,
          candidates: [prepared.model],
          price: async () => priced,
          header: (model) => header(caller, startedAt, request.id, model, services, body.model),
          leaseMs: BATCH_HOLD_MS,
        });
      } catch (err) {
        if (!(err instanceof ProxyError) || (err.code !== "budget_exceeded" && err.code !== "request_cost_limit_exceeded")) throw err;
        state.refused.push({ custom_id: customId, reason: err.code === "budget_exceeded" ? "budget exceeded" : "per-request cost limit" });
        continue;
      }
      holds.push(hold);
      const upstreamModel = prepared.config.upstream_model ?? prepared.model;
      const sent = chatShape.adapt({ ...prepared.body, stream: undefined }, prepared.config, upstreamModel);
      delete sent.stream;
      let group = byModel.get(prepared.model);
      if (!group) byModel.set(prepared.model, (group = { lines: [], holds: [], requests: [] }));
      group.lines.push(JSON.stringify({ custom_id: customId, method: "POST", url: ENDPOINT, body: sent }));
      group.holds.push(hold);
      group.requests.push({ custom_id: customId, hold_id: request.id, amount: priced.holdAmount });
      progress.step("reserved", i + 1, lines.length);
    }

    for (const [model, group] of byModel) {
      const upstream = services.config.models[model]!.upstream;
      let batch: Record<string, unknown>;
      let file: Record<string, unknown>;
      try {
        file = await upstreamJson(services, upstream, "POST", "/files", { ...multipart({ purpose: "batch" }, { name: `tollgate-${model}.jsonl`, content: `${group.lines.join("\n")}\n` }) });
        batch = await upstreamJson(services, upstream, "POST", "/batches", { json: { input_file_id: file.id, endpoint: ENDPOINT, completion_window: "24h" } });
      } catch (err) {
        // Not submitted: its holds are given back below.
        for (const r of group.requests) state.refused.push({ custom_id: r.custom_id, reason: `upload failed: ${(err as Error).message}` });
        continue;
      }
      // Submitted: `fetch` settles each of these holds by its id.
      for (const hold of group.holds) hold.handOver();
      state.batches.push({ model, upstream, batch_id: String(batch.id), input_file_id: String(file.id), requests: group.requests });
      progress.line(`batch ${batch.id}: ${group.requests.length} requests to ${model}`);
    }
  } finally {
    // Every hold not handed over to a submitted batch is given back now, not charged a day later.
    for (const hold of holds) await hold.close(async () => {});
  }
  for (const r of state.refused) progress.line(`not submitted: ${r.custom_id} (${r.reason})`);
  return state;
}

export interface BatchStatus {
  batch_id: string;
  model: string;
  status: string;
  completed: number;
  failed: number;
  total: number;
}

export async function batchStatus(services: BatchServices, state: BatchState, progress: Progress): Promise<BatchStatus[]> {
  const out: BatchStatus[] = [];
  for (const b of state.batches) {
    const batch = await upstreamJson(services, b.upstream, "GET", `/batches/${b.batch_id}`);
    const counts = (batch.request_counts ?? {}) as { completed?: number; failed?: number; total?: number };
    const status: BatchStatus = { batch_id: b.batch_id, model: b.model, status: String(batch.status), completed: counts.completed ?? 0, failed: counts.failed ?? 0, total: counts.total ?? b.requests.length };
    progress.step(`${b.batch_id} (${b.model}, ${status.status})`, status.completed + status.failed, status.total);
    out.push(status);
  }
  return out;
}

/**
 * Downloads the results of finished batches, settles each request at its real usage (batch
 * price) and releases the holds of requests that failed or never ran. Returns the result lines;
 * batches still running are left for a later fetch.
 */
export async function fetchBatchResults(services: BatchServices, state: BatchState, progress: Progress): Promise<{ lines: string[]; settled: number; released: number; pending: string[] }> {
  const caller: Caller = { keyId: state.key_id, team: state.team };
  const windows = windowsAt(state.submitted_at, services.config.budgets.timezone);
  const counters = countersFor(scopesFor(services.config.budgets, caller.keyId, caller.team, caller), windows);
  const lines: string[] = [];
  const pending: string[] = [];
  let settled = 0;
  let released = 0;
  for (const b of state.batches) {
    const batch = await upstreamJson(services, b.upstream, "GET", `/batches/${b.batch_id}`);
    if (!["completed", "failed", "expired", "cancelled"].includes(String(batch.status))) {
      pending.push(b.batch_id);
      continue;
    }
    const results = new Map<string, Record<string, any>>();
    for (const fileId of [batch.output_file_id, batch.error_file_id]) {
      if (!fileId) continue;
      const { text } = await upstreamJson(services, b.upstream, "GET", `/files/${fileId}/content`);
      for (const line of String(text).split("\n")) {
        if (line.trim() === "") continue;
        const parsed = JSON.parse(line) as Record<string, any>;
        results.set(String(parsed.custom_id), parsed);
        lines.push(line);
      }
    }
    const model = services.config.models[b.model]!;
    let done = 0;
    for (const r of b.requests) {
      const result = results.get(r.custom_id);
      const usage = result?.response?.status_code === 200 ? readUsage(result.response.body?.usage) : undefined;
      const base = header(caller, state.submitted_at, r.hold_id, b.model, services, b.model);
      if (usage) {
        const cost = batchCost(model, usage);
        const record = usageRecordOf(base, {
          status: 200,
          input_tokens: usage.promptTokens,
          cached_tokens: usage.cachedTokens,
          output_tokens: usage.completionTokens,
          estimated_cost_nano: r.amount,
          cost_nano: cost,
          requested_model_cost_nano: cost,
        });
        await services.settler.settle({ requestId: r.hold_id, counters, actual: cost, record, day: windows.day });
        settled++;
      } else {
        await services.settler.settle({ requestId: r.hold_id, counters, actual: 0, record: null, day: windows.day });
        released++;
      }
      progress.step(`settled ${b.batch_id}`, ++done, b.requests.length);
    }
  }
  return { lines, settled, released, pending };
}
