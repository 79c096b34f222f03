import type { ModelConfig } from "../config/schema.js";
import type { ChatBody } from "../request/parse.js";

/** Parameters reasoning models (o-series, gpt-5 family) refuse. */
export const REASONING_DROPPED = [
  "temperature",
  "top_p",
  "presence_penalty",
  "frequency_penalty",
  "logprobs",
  "top_logprobs",
  "logit_bias",
] as const;

/**
 * The body for the routed model (SPEC 4.4): the upstream's model name, `max_tokens` renamed for
 * reasoning models, parameters the model does not accept removed. Returns a new object; every
 * other field passes through as the client sent it, `reasoning_effort` included (models not marked
 * `reasoning` may still take it, the gpt-5 family does; `drop_params` removes it where refused).
 */
export function adaptParams(body: ChatBody, model: ModelConfig, upstreamModel: string): ChatBody {
  const out: ChatBody = { ...body, model: upstreamModel };
  if (model.reasoning) {
    // No `max_tokens` at all for a reasoning model, not even a null one: the field itself is refused.
    if (out.max_tokens != null && out.max_completion_tokens == null) out.max_completion_tokens = out.max_tokens;
    delete out.max_tokens;
    for (const param of REASONING_DROPPED) delete out[param];
  }
  for (const param of model.drop_params) delete out[param];
  return out;
}

/** The output limit the client set, whichever field it used. */
export function clientOutputLimit(body: ChatBody): number | undefined {
  return body.max_completion_tokens ?? body.max_tokens ?? undefined;
}
