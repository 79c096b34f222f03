import type { Tier } from "../config/schema.js";
import type { Nano } from "../money.js";

/**
 * What a usage record knows before the answer: who asked, for what, and where it went. A budget
 * hold carries it too, so a hold charged after its replica died still gets a full record.
 */
export interface RecordHeader {
  time: string;
  request_id: string;
  endpoint: string;
  key_id: string | null;
  team: string | null;
  request_type: string;
  /** Null for a pass-through call, which is not routed. */
  tier: Tier | null;
  requested_model: string;
  routed_model: string;
  route: string;
  stream: boolean;
  /** The end user within the key (`user`, `x-tollgate-user`), and the spend's tags, when given. */
  end_user?: string | null;
  tags?: string[];
}

/** One line of the usage log: what a forwarded request asked for, where it went and what it cost. */
export interface UsageRecord extends RecordHeader {
  /** Models tried before the one that answered (fallback). */
  fallback_from: string[];
  status: number;
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  /**
   * `upstream`: the upstream's usage; `estimated`: counted locally; `cache`: served from the response
   * cache; `unreconciled`: the hold of a replica that died, charged at its reserved amount; `held`:
   * a metered call whose answer said nothing of its cost, charged at its hold.
   */
  usage_source: "upstream" | "estimated" | "cache" | "unreconciled" | "held";
  estimated_cost_nano: Nano;
  cost_nano: Nano;
  /** What the same tokens would have cost on the model the client asked for (auto: the premium default). */
  requested_model_cost_nano: Nano;
  cache_hit: boolean;
  /** Prompt tokens the optimizer removed, and what they would have cost on the routed model. */
  optimizer_saved_tokens: number;
  optimizer_saved_nano: Nano;
  /** Messages and prompt tokens context fit dropped, and what those tokens would have cost. */
  context_dropped_messages: number;
  context_dropped_tokens: number;
  context_saved_nano: Nano;
  /** The output limit the proxy set from the request type, when it set one. */
  output_limit: number | null;
  /** The output limit the proxy lowered the request to so its worst case fit a budget. */
  output_capped: number | null;
  latency_ms: number;
  /** Prompt tokens a summary replaced (context compression), and what they would have cost on the routed model. */
  compressed_tokens: number;
  compress_saved_nano: Nano;
  /** False for a pass-through call tollgate cannot cost (files, batches...): a budget's blind spot, counted. */
  priced: boolean;
}

/** The part of a record after its header; fields not given are zero or empty. */
export type RecordOutcome = Partial<Omit<UsageRecord, keyof RecordHeader>>;

/** What a record holds besides its header. */
export type RecordBody = Omit<UsageRecord, keyof RecordHeader>;

const EMPTY_OUTCOME: RecordBody = {
  fallback_from: [],
  status: 0,
  input_tokens: 0,
  cached_tokens: 0,
  output_tokens: 0,
  usage_source: "upstream",
  estimated_cost_nano: 0,
  cost_nano: 0,
  requested_model_cost_nano: 0,
  cache_hit: false,
  optimizer_saved_tokens: 0,
  optimizer_saved_nano: 0,
  context_dropped_messages: 0,
  context_dropped_tokens: 0,
  context_saved_nano: 0,
  output_limit: null,
  output_capped: null,
  latency_ms: 0,
  compressed_tokens: 0,
  compress_saved_nano: 0,
  priced: true,
};

/**
 * A record from its header and body, written as one literal: every record has the same shape, so
 * V8 keeps its properties fast. Built with `Object.assign` or spreads, a record of 32 fields became
 * a dictionary, about 2 KB, and every read and `JSON.stringify` of it slower (each request makes one).
 */
export function completeRecord(h: RecordHeader, b: RecordBody): UsageRecord {
  const record: UsageRecord = {
    time: h.time,
    request_id: h.request_id,
    endpoint: h.endpoint,
    key_id: h.key_id,
    team: h.team,
    request_type: h.request_type,
    tier: h.tier,
    requested_model: h.requested_model,
    routed_model: h.routed_model,
    route: h.route,
    stream: h.stream,
    fallback_from: b.fallback_from,
    status: b.status,
    input_tokens: b.input_tokens,
    cached_tokens: b.cached_tokens,
    output_tokens: b.output_tokens,
    usage_source: b.usage_source,
    estimated_cost_nano: b.estimated_cost_nano,
    cost_nano: b.cost_nano,
    requested_model_cost_nano: b.requested_model_cost_nano,
    cache_hit: b.cache_hit,
    optimizer_saved_tokens: b.optimizer_saved_tokens,
    optimizer_saved_nano: b.optimizer_saved_nano,
    context_dropped_messages: b.context_dropped_messages,
    context_dropped_tokens: b.context_dropped_tokens,
    context_saved_nano: b.context_saved_nano,
    output_limit: b.output_limit,
    output_capped: b.output_capped,
    latency_ms: b.latency_ms,
    compressed_tokens: b.compressed_tokens,
    compress_saved_nano: b.compress_saved_nano,
    priced: b.priced,
  };
  // Present only when given, as in the header.
  if (h.end_user !== undefined) record.end_user = h.end_user;
  if (h.tags !== undefined) record.tags = h.tags;
  return record;
}

/** A complete record from its header and what is known of its outcome (every other field zero). */
export function usageRecordOf(header: RecordHeader, outcome: RecordOutcome): UsageRecord {
  return completeRecord(header, { ...EMPTY_OUTCOME, fallback_from: [], ...outcome });
}

/** The record of a hold whose replica died: charged at what it reserved, tokens unknown. */
export function unreconciledRecord(header: RecordHeader, amount: Nano): UsageRecord {
  return usageRecordOf(header, { usage_source: "unreconciled", estimated_cost_nano: amount, cost_nano: amount, requested_model_cost_nano: amount });
}

/** The record of a pass-through call: who made it and how it ended, at no known cost. */
export function unpricedRecord(header: RecordHeader, status: number, latencyMs: number): UsageRecord {
  return usageRecordOf(header, { status, latency_ms: latencyMs, priced: false });
}

/** Per-day aggregate fields a record adds to; `/v1/costs` reads every one of them back. */
export function aggregateFields(r: UsageRecord): Array<[string, number]> {
  const fields: Array<[string, number]> = [
    ["requests", 1],
    ["cost", r.cost_nano],
    ["requested_cost", r.requested_model_cost_nano],
    ["input_tokens", r.input_tokens],
    ["cached_tokens", r.cached_tokens],
    ["output_tokens", r.output_tokens],
  ];
  if (r.cache_hit) fields.push(["cache_hits", 1], ["cache_saved", r.requested_model_cost_nano - r.cost_nano]);
  if (r.optimizer_saved_tokens > 0) fields.push(["optimizer_tokens", r.optimizer_saved_tokens], ["optimizer_saved", r.optimizer_saved_nano]);
  if (r.context_dropped_tokens > 0) fields.push(["context_tokens", r.context_dropped_tokens], ["context_saved", r.context_saved_nano], ["context_requests", 1]);
  if (r.output_limit !== null) fields.push(["output_limited", 1]);
  if (r.output_capped !== null) fields.push(["output_capped", 1]);
  if (r.usage_source === "unreconciled") fields.push(["unreconciled", 1], ["unreconciled_cost", r.cost_nano]);
  if (!r.priced) fields.push(["unpriced_requests", 1]);
  if (r.compressed_tokens > 0) fields.push(["compress_tokens", r.compressed_tokens], ["compress_saved", r.compress_saved_nano], ["compress_requests", 1]);
  if (r.route === "compress") fields.push(["compress_cost", r.cost_nano], ["compress_summaries", 1]);
  const group = (name: string, value: string | null | undefined) => {
    if (value === null || value === undefined) return;
    const [requests, cost] = groupFieldNames(name, value);
    fields.push([requests, 1], [cost, r.cost_nano]);
  };
  group("model", r.routed_model);
  group("tier", r.tier);
  group("key", r.key_id);
  group("team", r.team);
  group("type", r.request_type);
  group("endpoint", r.endpoint);
  group("end_user", r.end_user);
  for (const tag of r.tags ?? []) group("tag", tag);
  return fields;
}

/** Values kept per group before its names are made afresh (end users and tags have no end). */
const NAMES_KEPT = 10_000;
const groupNames = new Map<string, Map<string, readonly [string, string]>>();

/**
 * `<group>:<value>:requests` and `…:cost`, made once per value: every record of a model or a key
 * then names the same strings, whose hashes the batch's sums reuse.
 */
function groupFieldNames(group: string, value: string): readonly [string, string] {
  let byValue = groupNames.get(group);
  if (!byValue) groupNames.set(group, (byValue = new Map()));
  let names = byValue.get(value);
  if (!names) {
    if (byValue.size >= NAMES_KEPT) byValue.clear();
    byValue.set(value, (names = [`${group}:${value}:requests`, `${group}:${value}:cost`]));
  }
  return names;
}
