import { randomUUID } from "node:crypto";
import type { Writable } from "node:stream";
import { countersFor, perRequestCap, scopesFor } from "../budget/scopes.js";
import { windowsAt } from "../budget/window.js";
import type { ModelConfig } from "../config/schema.js";
import { chatShape } from "../endpoints/chat.js";
import { tokensCost, type Nano } from "../money.js";
import { planRequest } from "../plan/index.js";
import { readUsage, type TokenUsage } from "../pricing/cost.js";
import { validateChatBody } from "../request/parse.js";
import type { Caller } from "../caller.js";
import type { BudgetLedger } from "../budget/interface.js";
import type { Settler } from "../budget/settle.js";
import type { Clock } from "../clock.js";
import type { PlanServices } from "../plan/index.js";
import type { UpstreamClient } from "../upstream/client.js";

/** What the batch command uses of the proxy's services. */
export interface BatchServices extends PlanServices {
  clock: Clock;
  store: BudgetLedger;
  settler: Settler;
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

/** Batch prices: the model's own, else half its regular ones. */
export function batchPrice(model: ModelConfig): { input: number; output: number } {
  return { input: model.price.batch_input ?? model.price.input / 2, output: model.price.batch_output ?? model.price.output / 2 };
}

function batchCost(model: ModelConfig, usage: TokenUsage): Nano {
  const price = batchPrice(model);
  return tokensCost(usage.promptTokens, price.input) + tokensCost(usage.completionTokens, price.output);
}

/** Progress on a terminal as a bar redrawn in place, elsewhere as plain lines. */
export class Progress {
  constructor(private readonly out: Writable & { isTTY?: boolean }) {}

  step(label: string, done: number, total: number): void {
    if (this.out.isTTY) {
      const width = 30;
      const filled = Math.round((done / Math.max(1, total)) * width);
      this.out.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}${done === total ? "\n" : ""}`);
    } else if (done === total || done % 100 === 0) this.out.write(`${label}: ${done}/${total}\n`);
  }

  line(text: string): void {
    this.out.write(`${text}\n`);
  }
}

async function upstreamJson(services: BatchServices, upstream: string, method: string, path: string, body?: { json: unknown } | { bytes: Uint8Array; type: string }): Promise<Record<string, any>> {
  const headers: Record<string, string> = {};
  let payload: Uint8Array | undefined;
  if (body && "json" in body) {
    headers["content-type"] = "application/json";
    payload = new TextEncoder().encode(JSON.stringify(body.json));
  } else if (body) {
    headers["content-type"] = body.type;
    payload = body.bytes;
  }
  const reply = await services.upstream.forward({ upstream, method, path, headers, body: payload, signal: new AbortController().signal });
  let text: string;
  try {
    text = await reply.body.text();
  } finally {
    reply.done();
  }
  if (reply.status >= 400) throw new Error(`${method} ${path} on upstream ${upstream} answered ${reply.status}: ${text.slice(0, 300)}`);
  return path.endsWith("/content") ? { text } : (JSON.parse(text) as Record<string, any>);
}

function multipart(fields: Record<string, string>, file: { name: string; content: string }): { bytes: Uint8Array; type: string } {
  const boundary = `tollgate-${randomUUID()}`;
  let text = "";
  for (const [name, value] of Object.entries(fields)) text += `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  text += `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: application/jsonl\r\n\r\n${file.content}\r\n--${boundary}--\r\n`;
  return { bytes: new TextEncoder().encode(text), type: `multipart/form-data; boundary=${boundary}` };
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
  const windows = windowsAt(startedAt, services.config.budgets.timezone);
  const scopes = scopesFor(services.config.budgets, caller.keyId, caller.team);
  const counters = countersFor(scopes, windows);
  const cap = perRequestCap(scopes);
  const lines = jsonl.split("\n").filter((l) => l.trim() !== "");
  const byModel = new Map<string, { lines: string[]; requests: BatchRequestState[] }>();
  const state: BatchState = { submitted_at: startedAt, key_id: caller.keyId, team: caller.team, batches: [], refused: [] };

  for (let i = 0; i < lines.length; i++) {
    const parsed = JSON.parse(lines[i]!) as { custom_id?: string; body?: unknown };
    const customId = parsed.custom_id ?? `line-${i + 1}`;
    const body = validateChatBody(parsed.body ?? parsed);
    const request = { id: `batch-tg-${randomUUID()}`, startedAt, startedMono: 0, caller, body, bodyChars: lines[i]!.length, requestType: "batch" };
    const plan = await planRequest(services, request, chatShape);
    const prepared = await plan.prepare(plan.decision.model);
    const price = batchPrice(prepared.config);
    const amount = tokensCost(prepared.inputTokens, price.input) + tokensCost(prepared.worstOutput * (body.n ?? 1), price.output);
    if (cap && amount > cap.limit) {
      state.refused.push({ custom_id: customId, reason: "per-request cost limit" });
      continue;
    }
    const reserved = await services.store.reserve({
      requestId: request.id,
      amount,
      counters,
      expiresAt: startedAt + BATCH_HOLD_MS,
      now: startedAt,
      meta: JSON.stringify(header(caller, startedAt, request.id, prepared.model, services, body.model)),
    });
    if (!reserved.ok) {
      state.refused.push({ custom_id: customId, reason: reserved.cooling ? "model cooling down" : "budget exceeded" });
      continue;
    }
    const upstreamModel = prepared.config.upstream_model ?? prepared.model;
    const sent = chatShape.adapt({ ...prepared.body, stream: undefined }, prepared.config, upstreamModel);
    delete sent.stream;
    let group = byModel.get(prepared.model);
    if (!group) byModel.set(prepared.model, (group = { lines: [], requests: [] }));
    group.lines.push(JSON.stringify({ custom_id: customId, method: "POST", url: ENDPOINT, body: sent }));
    group.requests.push({ custom_id: customId, hold_id: request.id, amount });
    progress.step("reserved", i + 1, lines.length);
  }

  for (const [model, group] of byModel) {
    const upstream = services.config.models[model]!.upstream;
    const file = await upstreamJson(services, upstream, "POST", "/files", { ...multipart({ purpose: "batch" }, { name: `tollgate-${model}.jsonl`, content: `${group.lines.join("\n")}\n` }) });
    const batch = await upstreamJson(services, upstream, "POST", "/batches", { json: { input_file_id: file.id, endpoint: ENDPOINT, completion_window: "24h" } });
    state.batches.push({ model, upstream, batch_id: String(batch.id), input_file_id: String(file.id), requests: group.requests });
    progress.line(`batch ${batch.id}: ${group.requests.length} requests to ${model}`);
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
  const counters = countersFor(scopesFor(services.config.budgets, caller.keyId, caller.team), windows);
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
