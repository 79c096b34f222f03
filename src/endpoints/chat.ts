import { validateChatBody, type ChatBody } from "../request/parse.js";
import { adaptParams, clientOutputLimit } from "../routing/adapt.js";
import type { EndpointShape } from "./shape.js";

/** POST /v1/chat/completions. */
export const chatShape: EndpointShape<ChatBody> = {
  name: "chat.completions",
  path: "/chat/completions",
  validate: validateChatBody,
  view: (body) => body,
  rewritable: true,
  outputLimit: clientOutputLimit,
  withOutputLimit(body, tokens) {
    const out: ChatBody = { ...body };
    // The field the client used; adaptation renames it for reasoning models.
    if (out.max_completion_tokens != null) out.max_completion_tokens = tokens;
    if (out.max_tokens != null || out.max_completion_tokens == null) out.max_tokens = tokens;
    return out;
  },
  choices: (body) => body.n ?? 1,
  adapt(body, model, upstreamModel) {
    const out = adaptParams(body, model, upstreamModel);
    if (out.stream === true) out.stream_options = { ...(out.stream_options ?? {}), include_usage: true };
    return out;
  },
  streamDialect: "chat",
  modelKind: "chat",
  protocol: "openai",
  cache: "deterministic",
};
