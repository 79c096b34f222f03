import type { ModelConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { ChatBody } from "../request/parse.js";
import { clientOutputLimit } from "../routing/adapt.js";
import { countMessageTokens, countTextTokens, REPLY_PRIMER_TOKENS, type EncodingName } from "../tokens/count.js";
import { fitContext } from "./context-fit.js";
import { applyOutputLimit } from "./output-limit.js";
import { optimizePrompt } from "./prompt.js";

/** Room kept for the answer when neither the client nor the request type set an output limit. */
const DEFAULT_OUTPUT_RESERVE = 4096;

export interface OptimizeSettings {
  prompt: boolean;
  fit_context: boolean;
  output_limits: Record<string, number>;
}

export interface Optimized {
  body: ChatBody;
  /** Output limit the proxy set from the request type. */
  outputLimit?: number;
  /** Prompt tokens the optimizer removed. */
  optimizerSavedTokens: number;
  /** Messages and tokens context fit dropped. */
  droppedMessages: number;
  droppedTokens: number;
}

async function messageTokens(body: ChatBody, encoding: EncodingName): Promise<number[]> {
  const counts: number[] = [];
  for (const message of body.messages) counts.push(await countMessageTokens(message, encoding));
  return counts;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Step 5 of the pipeline, the token-reduction steps that are enabled (SPEC 8): output limit per
 * request type, prompt optimizer, context fit for the routed model.
 */
export async function optimizeRequest(
  input: ChatBody,
  requestType: string,
  settings: OptimizeSettings,
  model: ModelConfig,
  encoding: EncodingName,
): Promise<Optimized> {
  const limited = applyOutputLimit(input, requestType, settings.output_limits);
  let body = limited.body;
  let optimizerSavedTokens = 0;
  if (settings.prompt) {
    const { messages, changed } = optimizePrompt(body.messages);
    if (changed > 0) {
      const before = sum(await messageTokens(body, encoding));
      body = { ...body, messages };
      optimizerSavedTokens = Math.max(0, before - sum(await messageTokens(body, encoding)));
    }
  }
  let droppedMessages = 0;
  let droppedTokens = 0;
  if (settings.fit_context) {
    const reserve = Math.min(clientOutputLimit(body) ?? DEFAULT_OUTPUT_RESERVE, model.max_output_tokens ?? Infinity);
    if (reserve >= model.context_window) {
      throw new ProxyError(
        "context_length_exceeded",
        `The output limit of ${reserve} tokens leaves no room for the prompt in this model's context window of ${model.context_window} tokens. Lower max_tokens.`,
        body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
      );
    }
    const tools = body.tools === undefined ? 0 : await countTextTokens(JSON.stringify(body.tools), encoding);
    const counts = await messageTokens(body, encoding);
    const fit = fitContext(body.messages, counts, REPLY_PRIMER_TOKENS + tools, model.context_window - reserve);
    if (fit.dropped > 0) {
      droppedMessages = fit.dropped;
      droppedTokens = sum(counts) + REPLY_PRIMER_TOKENS + tools - fit.promptTokens;
      body = { ...body, messages: fit.messages };
    }
  }
  return { body, outputLimit: limited.applied, optimizerSavedTokens, droppedMessages, droppedTokens };
}
