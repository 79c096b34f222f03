import { invalid } from "../request/parse.js";
import { validateCommon } from "./common.js";
import type { EndpointShape, RequestBody } from "./shape.js";

export interface EmbeddingBody extends RequestBody {
  input: string | string[] | number[] | number[][];
}

/** POST /v1/embeddings: input tokens only, priced at the model's input price. */
export const embeddingsShape: EndpointShape<EmbeddingBody> = {
  name: "embeddings",
  path: "/embeddings",
  validate(value) {
    const body = validateCommon(value);
    const input = body.input;
    const ok = typeof input === "string" || (Array.isArray(input) && input.length > 0 && input.every((p) => typeof p === "string" || typeof p === "number" || Array.isArray(p)));
    if (!ok) throw invalid("'input' must be a string, an array of strings or an array of tokens", "input");
    if (body.stream === true) throw invalid("embeddings cannot be streamed", "stream");
    return body as EmbeddingBody;
  },
  view(body) {
    // Every input form counts: texts by their tokens, token arrays by their length.
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    const texts: string[] = [];
    let tokenCount = 0;
    if (inputs.every((i) => typeof i === "number")) tokenCount += inputs.length;
    else for (const i of inputs) typeof i === "string" ? texts.push(i) : Array.isArray(i) ? (tokenCount += i.length) : texts.push(String(i));
    return { model: body.model, messages: texts.map((t) => ({ role: "user", content: t })), ...(tokenCount > 0 ? { token_ids: " x".repeat(tokenCount) } : {}) };
  },
  rewritable: false,
  outputLimit: () => 0,
  withOutputLimit: (body) => body,
  choices: () => 1,
  adapt: (body, model, upstreamModel) => {
    const out: Record<string, unknown> = { ...body, model: upstreamModel };
    for (const param of model.drop_params) delete out[param];
    return out;
  },
  streamDialect: "chat",
  modelKind: "embedding",
  protocol: "openai",
  cache: "always",
};
