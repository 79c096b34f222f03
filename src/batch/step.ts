import { createHash } from "node:crypto";
import { chatShape } from "../endpoints/chat.js";
import { ProxyError } from "../errors.js";
import type { Prepared } from "../plan/index.js";
import { readUsage } from "../pricing/cost.js";
import type { ChatBody } from "../request/parse.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { UpstreamClient } from "../upstream/client.js";
import { countTextTokens } from "../tokens/count.js";
import { batchBody, MicroBatcher, type BatchAnswer, type BatchReply } from "./micro.js";

/** The longest a request may ask to wait for its batch. */
const MAX_WAIT_MS = 10_000;

/** `x-tollgate-batch: <max wait ms>`; undefined when absent. */
export function readBatchHeader(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = Number(value.trim());
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_WAIT_MS) {
    throw new ProxyError("invalid_request", `header x-tollgate-batch must be a whole number of milliseconds from 0 to ${MAX_WAIT_MS}`, "x-tollgate-batch");
  }
  return ms;
}

/** What can share a call: one answer, no stream, no tools or output format of its own, one question after the system prompt. */
function batchable(body: ChatBody): { system: string; question: string } | undefined {
  if (body.stream === true || (body.n ?? 1) !== 1) return undefined;
  for (const field of ["tools", "functions", "tool_choice", "response_format", "logprobs", "prediction", "audio"]) if (body[field] != null) return undefined;
  const messages = body.messages;
  const last = messages.at(-1);
  if (!last || last.role !== "user" || typeof last.content !== "string") return undefined;
  const before = messages.slice(0, -1);
  if (!before.every((m) => (m.role === "system" || m.role === "developer") && typeof m.content === "string")) return undefined;
  return { system: before.map((m) => m.content as string).join("\n\n"), question: last.content };
}

/** The batcher of this process, sending each batch as one call to the group's model. */
export function createBatcher(services: { config: Config; upstream: Pick<UpstreamClient, "post">; clock: Clock }): MicroBatcher {
  return new MicroBatcher(
    services.config.batch.max_size,
    async (group, items): Promise<BatchReply> => {
      const model = services.config.models[group.model]!;
      const upstreamModel = model.upstream_model ?? group.model;
      const body = chatShape.adapt(batchBody(upstreamModel, group.system, items), model, upstreamModel);
      // The call belongs to no single client: none of them leaving aborts it.
      using reply = await services.upstream.post({ upstream: model.upstream, path: chatShape.path, body: JSON.stringify(body), signal: new AbortController().signal, finishAfterHeaders: true });
      const text = await reply.body.text();
      if (reply.status !== 200) return { content: undefined, usage: undefined, truncated: false };
      const parsed = JSON.parse(text) as { usage?: unknown; choices?: Array<{ message?: { content?: unknown }; finish_reason?: unknown }> };
      const choice = parsed.choices?.[0];
      return {
        content: typeof choice?.message?.content === "string" ? choice.message.content : undefined,
        usage: readUsage(parsed.usage),
        truncated: choice?.finish_reason === "length",
      };
    },
    (text) => countTextTokens(text, "o200k_base"),
    () => services.clock.now(),
  );
}

/**
 * Holds a request that asked to be batched until its batch is answered. Undefined when it did not
 * ask, cannot share a call, or its answer in the batch was unusable: it then goes upstream alone.
 */
export async function answerInBatch(services: { batcher: MicroBatcher | undefined; clock: Clock }, waitMs: number | undefined, prepared: Prepared<ChatBody>, requestId: string): Promise<{ answer: BatchAnswer; completion: string } | undefined> {
  if (waitMs === undefined || !services.batcher) return undefined;
  const shape = batchable(prepared.body);
  if (!shape) return undefined;
  const system = createHash("sha256").update(shape.system).digest("base64url");
  const ownTokens = await countTextTokens(shape.question, "o200k_base");
  const answer = await services.batcher.submit(
    { key: `${prepared.model}:${system}`, model: prepared.model, system: shape.system },
    { id: `r${requestId.slice(-12).replace(/[^A-Za-z0-9]/g, "")}`, userText: shape.question, ownTokens, maxTokens: prepared.body.max_tokens ?? prepared.body.max_completion_tokens ?? undefined },
    waitMs,
  );
  if (!answer) return undefined;
  const completion = {
    id: requestId,
    object: "chat.completion",
    created: Math.floor(services.clock.now() / 1000),
    model: prepared.config.upstream_model ?? prepared.model,
    choices: [{ index: 0, message: { role: "assistant", content: answer.content, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: {
      prompt_tokens: answer.usage.promptTokens,
      completion_tokens: answer.usage.completionTokens,
      total_tokens: answer.usage.promptTokens + answer.usage.completionTokens,
      prompt_tokens_details: { cached_tokens: answer.usage.cachedTokens },
    },
  };
  return { answer, completion: JSON.stringify(completion) };
}
