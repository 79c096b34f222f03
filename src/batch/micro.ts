import type { TokenUsage } from "../pricing/cost.js";
import type { ChatBody } from "../request/parse.js";
import { splitByWeight } from "./split.js";

/**
 * Micro-batches: the article's BatchProcessor as a gateway feature. Non-streamed requests that ask
 * for it (`x-tollgate-batch: <max wait ms>`) and share a model and a system prompt are held until
 * `batch.max_size` of them wait or the oldest's wait is up, then sent as one call whose strict JSON
 * schema has one field per request id. Each replica batches the requests it holds; replicas do not
 * pool them (a request waits on the replica it reached).
 */

export interface BatchItem {
  id: string;
  /** The request's own question. */
  userText: string;
  /** Its own prompt tokens, counted locally: its weight in the split of the shared prompt. */
  ownTokens: number;
  /** Its output limit, if it set one. */
  maxTokens: number | undefined;
}

export interface BatchAnswer {
  content: string;
  usage: TokenUsage;
}

/** What the upstream said to a batched call: its answer text and usage, or nothing usable. */
export interface BatchReply {
  content: string | undefined;
  usage: TokenUsage | undefined;
  truncated: boolean;
}

export interface BatchGroup {
  key: string;
  /** The model every request of the group was reserved for. */
  model: string;
  /** The requests' shared system prompt ("" when none). */
  system: string;
}

export type CountTokens = (text: string) => Promise<number>;

interface Waiting {
  item: BatchItem;
  deadline: number;
  resolve(answer: BatchAnswer | undefined): void;
}

interface Pending {
  group: BatchGroup;
  waiting: Waiting[];
  timer: NodeJS.Timeout | undefined;
}

/** The one call a batch is sent as: the shared system prompt, every question by id, a strict schema. */
export function batchBody(model: string, system: string, items: BatchItem[]): ChatBody {
  const questions = items.map((i) => `### ${i.id}\n${i.userText}`).join("\n\n");
  const limits = items.map((i) => i.maxTokens);
  return {
    model,
    temperature: 0,
    ...(limits.every((l) => l !== undefined) ? { max_tokens: limits.reduce((a, b) => a! + b!, 0) } : {}),
    messages: [
      ...(system ? [{ role: "system", content: system }] : []),
      {
        role: "user",
        content: `Answer each request below on its own, as if it were the only one. Reply with one JSON object with one field per request id (the text after ###), whose value is your full answer to that request.\n\n${questions}`,
      },
    ],
    response_format: {
      type: "json_schema",
      json_schema: {
        name: "batch_answers",
        strict: true,
        schema: { type: "object", properties: Object.fromEntries(items.map((i) => [i.id, { type: "string" }])), required: items.map((i) => i.id), additionalProperties: false },
      },
    },
  };
}

export class MicroBatcher {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly maxSize: number,
    private readonly send: (group: BatchGroup, items: BatchItem[]) => Promise<BatchReply>,
    private readonly countTokens: CountTokens,
    private readonly now: () => number,
  ) {}

  /** Waits for the item's batch; undefined when its answer was missing, malformed or cut off (the caller retries it alone). */
  submit(group: BatchGroup, item: BatchItem, maxWaitMs: number): Promise<BatchAnswer | undefined> {
    let pending = this.pending.get(group.key);
    if (!pending) this.pending.set(group.key, (pending = { group, waiting: [], timer: undefined }));
    const p = pending;
    return new Promise((resolve) => {
      p.waiting.push({ item, deadline: this.now() + maxWaitMs, resolve });
      if (p.waiting.length >= this.maxSize) this.flush(group.key);
      else this.arm(p);
    });
  }

  /** A timer for the earliest deadline among the waiting. */
  private arm(p: Pending): void {
    clearTimeout(p.timer);
    const first = Math.min(...p.waiting.map((w) => w.deadline));
    p.timer = setTimeout(() => this.flush(p.group.key), Math.max(0, first - this.now()));
  }

  private flush(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    void this.run(p.group, p.waiting);
  }

  private async run(group: BatchGroup, waiting: Waiting[]): Promise<void> {
    const items = waiting.map((w) => w.item);
    let answers: Array<BatchAnswer | undefined>;
    try {
      answers = await this.answer(items, await this.send(group, items));
    } catch {
      answers = items.map(() => undefined);
    }
    waiting.forEach((w, i) => w.resolve(answers[i]));
  }

  /**
   * Each request's answer and its part of the usage: the prompt by its own tokens plus an equal part
   * of the shared rest, the output by its answer's tokens; the parts add up to the upstream's usage.
   * Requests without a usable answer get none (they are retried alone) and no part.
   */
  private async answer(items: BatchItem[], reply: BatchReply): Promise<Array<BatchAnswer | undefined>> {
    let parsed: Record<string, unknown> = {};
    if (reply.content !== undefined && !reply.truncated) {
      try {
        const value = JSON.parse(reply.content) as unknown;
        if (value !== null && typeof value === "object" && !Array.isArray(value)) parsed = value as Record<string, unknown>;
      } catch {
        parsed = {};
      }
    }
    const contents = items.map((i) => (typeof parsed[i.id] === "string" && (parsed[i.id] as string).length > 0 ? (parsed[i.id] as string) : undefined));
    const answered = items.map((_, i) => i).filter((i) => contents[i] !== undefined);
    if (answered.length === 0 || !reply.usage) return items.map(() => undefined);
    const usage = reply.usage;
    const own = answered.map((i) => items[i]!.ownTokens);
    const ownSum = own.reduce((a, b) => a + b, 0);
    const shared = Math.max(0, usage.promptTokens - ownSum);
    const promptWeights = own.map((t) => t + shared / answered.length);
    const prompt = splitByWeight(usage.promptTokens, promptWeights);
    const cached = splitByWeight(usage.cachedTokens, promptWeights);
    const outputWeights = await Promise.all(answered.map((i) => this.countTokens(contents[i]!)));
    const completion = splitByWeight(usage.completionTokens, outputWeights);
    const out: Array<BatchAnswer | undefined> = items.map(() => undefined);
    answered.forEach((i, k) => {
      out[i] = { content: contents[i]!, usage: { promptTokens: prompt[k]!, cachedTokens: Math.min(cached[k]!, prompt[k]!), completionTokens: completion[k]! } };
    });
    return out;
  }
}
