/**
 * Every error the proxy answers itself comes from here, in the OpenAI format
 * `{"error":{"message","type","param","code"}}`, with its status from one table; on the Anthropic
 * Messages API in Anthropic's `{"type":"error","error":{"type","message"}}`, same status.
 */

const ERRORS = {
  invalid_json: { status: 400, type: "invalid_request_error" },
  invalid_request: { status: 400, type: "invalid_request_error" },
  context_length_exceeded: { status: 400, type: "invalid_request_error" },
  invalid_api_key: { status: 401, type: "invalid_request_error" },
  admin_key_required: { status: 401, type: "invalid_request_error" },
  tier_not_allowed: { status: 403, type: "invalid_request_error" },
  endpoint_not_allowed: { status: 403, type: "invalid_request_error" },
  model_not_allowed: { status: 403, type: "invalid_request_error" },
  origin_not_allowed: { status: 403, type: "invalid_request_error" },
  invalid_path: { status: 400, type: "invalid_request_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  request_timeout: { status: 408, type: "invalid_request_error" },
  idempotency_key_in_use: { status: 409, type: "invalid_request_error" },
  already_exists: { status: 409, type: "invalid_request_error" },
  conflict: { status: 409, type: "invalid_request_error" },
  read_only: { status: 403, type: "invalid_request_error" },
  idempotency_key_reused: { status: 422, type: "invalid_request_error" },
  request_too_large: { status: 413, type: "invalid_request_error" },
  request_headers_too_large: { status: 431, type: "invalid_request_error" },
  client_closed_request: { status: 499, type: "invalid_request_error" },
  budget_exceeded: { status: 429, type: "insufficient_quota" },
  request_cost_limit_exceeded: { status: 429, type: "insufficient_quota" },
  rate_limit_exceeded: { status: 429, type: "requests" },
  internal_error: { status: 500, type: "server_error" },
  upstream_unreachable: { status: 502, type: "server_error" },
  upstream_stream_broken: { status: 502, type: "server_error" },
  budget_store_unavailable: { status: 503, type: "server_error" },
  ledger_unavailable: { status: 503, type: "server_error" },
  overloaded: { status: 503, type: "server_error" },
  shutting_down: { status: 503, type: "server_error" },
  upstream_timeout: { status: 504, type: "server_error" },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

/** Anthropic's error type for a status, as its API and SDKs name them. */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

/** The two wire formats an error can be answered in. */
export type ErrorFormat = "openai" | "anthropic";

export class ProxyError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ProxyError";
    this.status = ERRORS[code].status;
    this.type = ERRORS[code].type;
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** Anthropic's shape, whose error has no field for the offending parameter: the message names it. */
  toAnthropicBody(): AnthropicErrorBody {
    return { type: "error", error: { type: anthropicErrorType(this.status), message: this.param ? `${this.message} (${this.param})` : this.message } };
  }

  toResponse(extraHeaders: Record<string, string> = {}, format: ErrorFormat = "openai"): Response {
    return new Response(JSON.stringify(format === "anthropic" ? this.toAnthropicBody() : this.toBody()), {
      status: this.status,
      headers: { "content-type": "application/json", ...extraHeaders, ...this.headers },
    });
  }
}

/** The client went away before its answer was complete: nobody reads this error, it only names the outcome. */
export function clientClosed(): ProxyError {
  return new ProxyError("client_closed_request", "the client closed the connection before the answer was complete");
}

/**
 * Anything thrown that is not a ProxyError is an internal error (its details stay in the log),
 * unless the client had already gone: then the abort is what happened, whatever threw.
 */
export function toProxyError(err: unknown, clientGone = false): ProxyError {
  if (err instanceof ProxyError) return err;
  if (clientGone) return clientClosed();
  return new ProxyError("internal_error", "internal error in the proxy");
}
