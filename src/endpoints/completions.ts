import { invalid, type ChatBody } from "../request/parse.js";
import { REASONING_DROPPED } from "../routing/adapt.js";
import { checkBestOf, checkChoices, checkOutputLimit, validateCommon } from "./common.js";
import { positiveInt, type EndpointShape, type RequestBody } from "./shape.js";

/** The legacy completion body: a prompt instead of messages. */
export interface CompletionBody extends RequestBody {
  prompt: string | string[] | number[] | number[][];
  max_tokens?: number | null;
  n?: number | null;
  best_of?: number | null;
}

/** The API's own default when a completion request sets no `max_tokens`. */
const DEFAULT_MAX_TOKENS = 16;

function promptText(prompt: CompletionBody["prompt"]): string {
  if (typeof prompt === "string") return prompt;
  // Token arrays are counted by their JSON text: high, never low, and settle corrects it.
  return prompt.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("\n");
}

/** POST /v1/completions (legacy): costed and budgeted like chat. */
export const completionsShape: EndpointShape<CompletionBody> = {
  name: "completions",
  path: "/completions",
  validate(value) {
    const body = validateCommon(value);
    const prompt = body.prompt;
    const ok = typeof prompt === "string" || (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === "string" || typeof p === "number" || Array.isArray(p)));
    if (!ok) throw invalid("'prompt' must be a string, an array of strings or an array of tokens", "prompt");
    checkOutputLimit(body, "max_tokens");
    checkChoices(body);
    checkBestOf(body);
    return body as CompletionBody;
  },
  view(body) {
    const { prompt, model, ...rest } = body;
    return { ...rest, model, messages: [{ role: "user", content: promptText(prompt) }] } as ChatBody;
  },
  rewritable: false,
  outputLimit: (body) => positiveInt(body.max_tokens) ?? DEFAULT_MAX_TOKENS,
  withOutputLimit: (body, tokens) => ({ ...body, max_tokens: tokens }),
  // best_of answers are generated and billed, n of them returned.
  choices: (body) => Math.max(body.n ?? 1, body.best_of ?? 1),
  adapt(body, model, upstreamModel) {
    const out: Record<string, unknown> = { ...body, model: upstreamModel };
    if (model.reasoning) for (const param of REASONING_DROPPED) delete out[param];
    for (const param of model.drop_params) delete out[param];
    if (out.stream === true) out.stream_options = { ...((out.stream_options as object | null) ?? {}), include_usage: true };
    return out;
  },
  streamDialect: "chat",
  modelKind: "chat",
  protocol: "openai",
  cache: "never",
};
