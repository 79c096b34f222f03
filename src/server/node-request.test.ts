import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientSignal, limitedBody, requestHeader, requestHeaders } from "./node-request.js";

/** A route that answers what the node-request helpers read, beside what Hono's own readers read. */
function app(): Hono {
  const a = new Hono();
  const limited = limitedBody({ maxSize: 64, onError: () => new Response("too large", { status: 413 }) });
  a.post("/read", limited, async (c) => {
    const fast = { text: await c.req.text(), headers: { ...requestHeaders(c) }, one: requestHeader(c, "X-Twice"), gone: clientSignal(c).aborted };
    // Hono's readers, through the web Request (built only now, for the comparison).
    const web = { headers: c.req.header(), one: c.req.header("X-Twice") };
    return c.json({ fast, web });
  });
  // Bodies of more than 50 JSON objects are refused, after they are read whole.
  const counted = limitedBody({ maxSize: 1 << 20, onError: () => new Response("too large", { status: 413 }), maxObjects: 50, onTooManyObjects: () => new Response("too many objects", { status: 400 }) });
  a.post("/count", counted, async (c) => c.text(String((await c.req.text()).length)));
  return a;
}

let server: Server;
let port: number;

beforeAll(async () => {
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app().fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server));
  });
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends raw header lines and a body (chunked when asked), answers status and text. */
function send(headers: Array<[string, string]>, body: Buffer, chunked = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const all: Array<[string, string]> = [chunked ? ["Transfer-Encoding", "chunked"] : ["Content-Length", String(body.length)], ["Host", `127.0.0.1:${port}`], ...headers];
    // As raw header lines (a flat list), so repeated names and padded values reach the server as sent.
    const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/read", headers: all.flat() as unknown as Record<string, string> });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    if (chunked) {
      req.write(body.subarray(0, 3));
      req.end(body.subarray(3));
    } else req.end(body);
  });
}

describe("reading a request from the node request", () => {
  it("reads the body and the headers as Hono's web Request does", async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":"é"}'), Buffer.from([0xff])]);
    const unsorted: Array<[string, string]> = [["X-Twice", "one"], ["x-twice", " two "], ["Authorization", "Bearer k"], ["Zeta", "z"], ["Content-Type", "application/json"]];
    // Names in order or not, repeated or not: the same record as the web Request's.
    const sorted: Array<[string, string]> = [["X-Twice", "one\t"], ["x-twice", "two"], ["Zeta", " z"]];
    for (const [headers, chunked] of [[unsorted, false], [unsorted, true], [sorted, false]] as const) {
      const res = await send([...headers], body, chunked);
      expect(res.status).toBe(200);
      const { fast, web } = JSON.parse(res.text) as { fast: Record<string, unknown>; web: Record<string, unknown> };
      // As a web Request's text() decodes the same bytes: the byte-order mark dropped, a bad byte replaced.
      expect(fast.text).toBe(await new Response(body).text());
      expect(fast.text).toBe('{"a":"é"}\ufffd');
      expect(fast.headers).toEqual(web.headers);
      expect(fast.one).toBe("one, two");
      expect(fast.one).toBe(web.one);
      expect(fast.gone).toBe(false);
    }
  });

  it("answers a body over the limit with the limit's answer, by its length or as it arrives", async () => {
    const big = Buffer.alloc(100, 0x61);
    expect((await send([], big)).status).toBe(413);
    expect((await send([], big, true)).status).toBe(413);
    expect((await send([], Buffer.alloc(64, 0x61), true)).status).toBe(200);
  });
});

describe("limitedBody with maxObjects", () => {
  /** Posts `body` in 16 KB chunks on a fresh connection; the status and text, or the socket's error. */
  function post(body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/count", headers: { "content-length": String(body.length) }, agent: false });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, text }));
      });
      req.on("error", reject);
      for (let i = 0; i < body.length; i += 16_384) req.write(body.subarray(i, i + 16_384));
      req.end();
    });
  }

  it("passes a body within the count, and refuses a bigger one only once it was read whole", async () => {
    const within = Buffer.from(JSON.stringify({ a: Array.from({ length: 49 }, () => ({})) }));
    expect(await post(within)).toEqual({ status: 200, text: String(within.length) });
    // 400 KB of objects: the client is still sending long after the 51st object.
    const over = Buffer.from(JSON.stringify({ a: Array.from({ length: 100_000 }, () => ({ b: 1 })) }));
    expect(await post(over)).toEqual({ status: 400, text: "too many objects" });
  });
});
