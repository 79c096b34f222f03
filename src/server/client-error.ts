import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { ProxyError } from "../errors.js";

/**
 * Requests Node's HTTP parser refuses (CR, LF or NUL inside a header, folded header lines,
 * headers over the size limit) never reach the app, and Node answers them with an empty body.
 * This answers them in the OpenAI error format instead. Usage: `server.on("clientError", answerClientError)`.
 */
export function answerClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  // Nothing to answer on a dead socket, nor in the middle of a response already under way.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  // The statuses Node itself would send; the parser's reason names the fault without echoing
  // the bytes, which may hold a key.
  const error =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new ProxyError("request_headers_too_large", "The request's headers are larger than the server accepts.")
      : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
        ? new ProxyError("request_too_large", "The request's chunk extensions are larger than the server accepts.")
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? new ProxyError("request_timeout", "The request was not received in time.")
          : new ProxyError("invalid_request", `Malformed HTTP request: ${err.reason ?? "the request could not be parsed"}.`);
  const body = JSON.stringify(error.toBody());
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
