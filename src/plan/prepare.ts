import type { Config, ModelConfig } from "../config/schema.js";
import type { Priced } from "../budget/reserve.js";
import type { Nano } from "../money.js";
import { fitContext } from "../optimize/context-fit.js";
import type { EndpointShape, RequestBody } from "../endpoints/shape.js";
import type { ChatBody } from "../request/parse.js";
import { sum, type RequestTokens } from "../tokens/request.js";
import { affordableOutput, expectedOutput, MIN_CAPPED_OUTPUT, requestCost, worstCaseOutput, type HoldExtras } from "../pricing/estimate.js";
import { holdExtras, withSearchLimit } from "./charges.js";
import { ProxyError } from "../errors.js";

/** Room kept for the answer when fitting the context and neither the client nor the request type set an output limit. */
export const DEFAULT_OUTPUT_RESERVE = 4096;

/** What context fit did to a request for one model. */
export interface Fitted {
  body: ChatBody;
  droppedMessages: number;
  droppedTokens: number;
  promptTokens: number;
}

/** A request made ready for one model: fitted to its context window and priced on it. */
export interface Prepared<B extends RequestBody = RequestBody> extends Priced {
  model: string;
  config: ModelConfig;
  /** The body the model gets (its parameters not yet adapted). */
  body: B;
  /** Prompt tokens counted locally, after context fit. */
  promptTokens: number;
  /** Input tokens as priced: the count, or the body size's floor when that is more. */
  inputTokens: number;
  droppedMessages: number;
  droppedTokens: number;
  /** Output tokens per answer at worst, and the cost they imply (the hold). */
  worstOutput: number;
  holdAmount: Nano;
  /** The estimate shown to the client and kept on the record. */
  expectedCost: Nano;
  /** The output limit the proxy lowered the request to, when a budget left no room for more. */
  outputCapped: number | null;
  /** What the hold covers besides text tokens (audio, web searches, the service tier). */
  extras: HoldExtras;
}

/**
 * Context fit for one model (SPEC 8): drop the oldest messages until the prompt leaves room for the
 * answer in the model's window. 400 `context_length_exceeded` when it cannot.
 */
export function fitToModel(body: ChatBody, tokens: RequestTokens, model: ModelConfig, enabled: boolean, clientLimit: number | undefined, priorTokens = 0): Fitted {
  const total = sum(tokens.messages) + tokens.fixed + priorTokens;
  const reserve = Math.min(clientLimit ?? DEFAULT_OUTPUT_RESERVE, model.max_output_tokens ?? Infinity);
  if (clientLimit !== undefined && clientLimit >= model.context_window) {
    throw new ProxyError(
      "context_length_exceeded",
      `The output limit of ${clientLimit} tokens leaves no room for the prompt in this model's context window of ${model.context_window} tokens. Lower max_tokens.`,
      body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
    );
  }
  if (!enabled) {
    if (total > model.context_window) {
      throw new ProxyError("context_length_exceeded", `This request needs ${total} prompt tokens, more than the model's context window of ${model.context_window}.`, "messages");
    }
    return { body, droppedMessages: 0, droppedTokens: 0, promptTokens: total };
  }
  const fit = fitContext(body.messages, tokens.messages, tokens.fixed + priorTokens, model.context_window - Math.min(reserve, model.context_window - 1));
  if (fit.dropped === 0) return { body, droppedMessages: 0, droppedTokens: 0, promptTokens: total };
  return { body: { ...body, messages: fit.messages }, droppedMessages: fit.dropped, droppedTokens: total - fit.promptTokens, promptTokens: fit.promptTokens };
}

export interface PriceInput<B extends RequestBody> {
  name: string;
  model: ModelConfig;
  shape: EndpointShape<B>;
  /** The body to send: the fitted chat body, or the endpoint's own body. */
  body: B;
  fitted: Fitted;
  tokens: RequestTokens;
  /** The body size's floor on input tokens, before context fit. */
  floorTokens: number;
  /** Prompt tokens before context fit (the floor shrinks with what fit dropped). */
  promptBefore: number;
  outputEstimate: Config["budgets"]["output_estimate"];
  webSearch: Config["budgets"]["web_search"];
}

/** Prices a fitted request on its model: the worst case it holds and the estimate it shows. */
export function priceFitted<B extends RequestBody>(input: PriceInput<B>): Prepared<B> {
  const { model, fitted, shape } = input;
  let body = input.body;
  const floor = input.promptBefore > 0 ? Math.ceil((input.floorTokens * fitted.promptTokens) / input.promptBefore) : input.floorTokens;
  const inputTokens = Math.max(fitted.promptTokens, floor);
  const choices = shape.choices(body);
  const clientLimit = shape.outputLimit(body);
  const worstOutput = shape.modelKind === "embedding" ? 0 : worstCaseOutput(model, fitted.promptTokens, clientLimit) + input.tokens.prediction;
  // The hold is the contract: a request held for the model's output limit is sent with it, so the
  // upstream cannot write past what was held. (A model whose limit is unknown is held for the rest
  // of its window, more than the upstream can write.)
  if (clientLimit === undefined && shape.modelKind !== "embedding" && model.max_output_tokens !== undefined) body = shape.withOutputLimit(body, worstOutput - input.tokens.prediction);
  body = withSearchLimit(body, input.webSearch);
  const extras = holdExtras(body, input.tokens, input.webSearch);
  const expected = expectedOutput(worstOutput, inputTokens, clientLimit, input.outputEstimate);
  const prepared: Prepared<B> = {
    model: input.name,
    config: model,
    body,
    promptTokens: fitted.promptTokens,
    inputTokens,
    droppedMessages: fitted.droppedMessages,
    droppedTokens: fitted.droppedTokens,
    worstOutput,
    holdAmount: requestCost(model, inputTokens, worstOutput, choices, extras),
    expectedCost: requestCost(model, inputTokens, expected, choices, extras),
    outputCapped: null,
    extras,
    capped: (room) => capOutput(prepared, input, room),
  };
  return prepared;
}

/** The request with its output limit lowered so its worst case costs at most `room`. */
function capOutput<B extends RequestBody>(prepared: Prepared<B>, input: PriceInput<B>, room: Nano): Prepared<B> | undefined {
  if (input.shape.modelKind === "embedding") return undefined;
  const choices = input.shape.choices(prepared.body);
  const limit = affordableOutput(prepared.config, prepared.inputTokens, choices, room, prepared.extras) - input.tokens.prediction;
  if (limit < MIN_CAPPED_OUTPUT || limit >= prepared.worstOutput - input.tokens.prediction) return undefined;
  const capped = priceFitted({ ...input, body: input.shape.withOutputLimit(prepared.body, limit) });
  return { ...capped, outputCapped: limit };
}
