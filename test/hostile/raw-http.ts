import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = body.indexOf("\r\n", pos);
    if (lineEnd < 0) break;
    const size = parseInt(body.subarray(pos, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/**
 * Sends a hand-written HTTP/1.1 request on a fresh socket, for the bytes fetch refuses to put in
 * a header (CR, LF, NUL, folded lines). `headerLines` is written as Latin-1, each line ending in CRLF;
 * host, content-type, content-length and `connection: close` are added. Reads until the server closes.
 */
export function rawRequest(port: number, path: string, headerLines: string, body: Uint8Array): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const received: Buffer[] = [];
    socket.on("data", (data: Buffer) => received.push(data));
    socket.on("error", reject);
    socket.on("close", () => {
      const all = Buffer.concat(received);
      const headEnd = all.indexOf("\r\n\r\n");
      if (headEnd < 0) return reject(new Error(`no HTTP response, got ${JSON.stringify(all.toString("latin1"))}`));
      const [statusLine, ...lines] = all.subarray(0, headEnd).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let rest: Buffer = all.subarray(headEnd + 4);
      if (headers["transfer-encoding"]?.includes("chunked")) rest = dechunk(rest);
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: rest.toString("utf8") });
    });
    const head =
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.byteLength}\r\nconnection: close\r\n${headerLines}\r\n`;
    socket.write(Buffer.from(head, "latin1"));
    socket.write(body);
  });
}
