import type { ChatBody, ChatMessage } from "../request/parse.js";
import { invalid, isChatObject } from "../request/parse.js";
import { REASONING_DROPPED } from "../routing/adapt.js";
import { checkOutputLimit, validateCommon } from "./common.js";
import { positiveInt, type EndpointShape, type RequestBody } from "./shape.js";

export interface ResponsesBody extends RequestBody {
  input?: string | Array<Record<string, unknown>>;
  instructions?: string | null;
  max_output_tokens?: number | null;
  previous_response_id?: string | null;
}

/** One input item of the Responses API as a chat message, for routing and counting. */
function itemAsMessage(item: Record<string, unknown>): ChatMessage {
  const type = item.type ?? "message";
  if (type === "message") {
    const role = typeof item.role === "string" && item.role !== "developer" ? item.role : "system";
    return { role: role === "assistant" || role === "system" || role === "user" ? role : "user", content: item.content as ChatMessage["content"] };
  }
  if (type === "function_call") return { role: "assistant", content: `${String(item.name ?? "")}(${String(item.arguments ?? "")})` };
  if (type === "function_call_output") return { role: "tool", content: typeof item.output === "string" ? item.output : JSON.stringify(item.output ?? "") };
  // Items of other types (reasoning, tool results, references) count by their JSON text.
  return { role: "user", content: JSON.stringify(item) };
}

/** POST /v1/responses: routed, budgeted, streamed and costed like chat. */
export const responsesShape: EndpointShape<ResponsesBody> = {
  name: "responses",
  path: "/responses",
  validate(value) {
    // A stored prompt (`prompt: { id }`) may name no model: it is then routed as `auto`.
    const prompted = isChatObject(value) && value.model === undefined && isChatObject(value.prompt);
    const body = validateCommon(prompted ? { ...value, model: "auto" } : value);
    const input = body.input;
    if (input !== undefined && typeof input !== "string" && !(Array.isArray(input) && input.every(isChatObject))) {
      throw invalid("'input' must be a string or an array of input items", "input");
    }
    if (input === undefined && body.previous_response_id == null && body.prompt == null) throw invalid("'input' is required", "input");
    if (body.instructions != null && typeof body.instructions !== "string") throw invalid("'instructions' must be a string", "instructions");
    if (body.previous_response_id != null && typeof body.previous_response_id !== "string") {
      throw invalid("'previous_response_id' must be a string", "previous_response_id");
    }
    checkOutputLimit(body, "max_output_tokens");
    return body as ResponsesBody;
  },
  view(body) {
    const { input, instructions, model, ...rest } = body;
    const messages: ChatMessage[] = [];
    if (typeof instructions === "string") messages.push({ role: "system", content: instructions });
    if (typeof input === "string") messages.push({ role: "user", content: input });
    else for (const item of input ?? []) messages.push(itemAsMessage(item));
    if (messages.length === 0) messages.push({ role: "user", content: "" });
    return { ...rest, model, messages } as ChatBody;
  },
  rewritable: false,
  outputLimit: (body) => positiveInt(body.max_output_tokens),
  withOutputLimit: (body, tokens) => ({ ...body, max_output_tokens: tokens }),
  choices: () => 1,
  adapt(body, model, upstreamModel) {
    const out: Record<string, unknown> = { ...body, model: upstreamModel };
    if (model.reasoning) for (const param of REASONING_DROPPED) delete out[param];
    for (const param of model.drop_params) delete out[param];
    return out;
  },
  streamDialect: "responses",
  modelKind: "chat",
  protocol: "openai",
  cache: "never",
};
