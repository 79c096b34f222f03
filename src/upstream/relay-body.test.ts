import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { RelayBody } from "./relay-body.js";

const bytes = (text: string) => Buffer.from(text);
const text = (chunk: Uint8Array | undefined) => Buffer.from(chunk ?? new Uint8Array()).toString();

/** A body whose source calls are counted. */
function bodyOf(highWaterMark = 1024) {
  const calls = { pull: 0, cancel: 0 };
  const body = new RelayBody(highWaterMark, { pull: () => void calls.pull++, cancel: () => void calls.cancel++ });
  return { body, calls };
}

describe("RelayBody", () => {
  it("gives the reader what was queued and what comes while it waits, in order, then the end", async () => {
    const { body } = bodyOf();
    body.push(bytes("a"));
    body.push(bytes("b"));
    const reader = body.getReader();
    expect(text((await reader.read()).value)).toBe("a");
    expect(text((await reader.read()).value)).toBe("b");
    const waiting = reader.read();
    body.push(bytes("c"));
    expect(text((await waiting).value)).toBe("c");
    body.push(bytes("d"));
    body.close();
    body.push(bytes("after the close"));
    expect(text((await reader.read()).value)).toBe("d");
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    await reader.closed;
  });

  it("asks the producer to wait past its high-water mark and wakes it as the reader takes chunks", async () => {
    const { body, calls } = bodyOf(10);
    body.push(bytes("123456"));
    expect(body.desiredSize).toBe(4);
    body.push(bytes("7890"));
    expect(body.desiredSize).toBe(0);
    const reader = body.getReader();
    await reader.read();
    expect(body.desiredSize).toBe(6);
    expect(calls.pull).toBe(1);
    await reader.read();
    // A read that finds nothing asks for more too.
    const waiting = reader.read();
    expect(calls.pull).toBe(3);
    body.close();
    expect((await waiting).done).toBe(true);
  });

  it("on a cancel drops what is queued, ends a waiting read and tells the source once", async () => {
    const { body, calls } = bodyOf();
    const reader = body.getReader();
    const waiting = reader.read();
    await reader.cancel();
    expect(await waiting).toEqual({ done: true, value: undefined });
    body.push(bytes("dropped"));
    expect((await reader.read()).done).toBe(true);
    await reader.cancel();
    expect(calls.cancel).toBe(1);
    await reader.closed;
  });

  it("tells the source of a cancel while the end is still queued, but not once the reader had the end", async () => {
    const unread = bodyOf();
    unread.body.push(bytes("the end"));
    unread.body.close();
    await unread.body.cancel();
    expect(unread.calls.cancel).toBe(1);

    const read = bodyOf();
    read.body.push(bytes("the end"));
    read.body.close();
    const reader = read.body.getReader();
    await reader.read();
    expect((await reader.read()).done).toBe(true);
    await reader.cancel();
    expect(read.calls.cancel).toBe(0);
  });

  it("is read once", () => {
    const { body } = bodyOf();
    body.getReader();
    expect(body.locked).toBe(true);
    expect(() => body.getReader()).toThrow(TypeError);
  });

  it("reads as a web Response's body, whose cancel reaches the source", async () => {
    const whole = bodyOf();
    whole.body.push(bytes("hello "));
    whole.body.push(bytes("world"));
    whole.body.close();
    expect(await whole.body.response({ headers: { "content-type": "text/plain" } }).text()).toBe("hello world");

    const left = bodyOf();
    left.body.push(bytes("first"));
    const reader = left.body.response({}).body!.getReader();
    expect(text((await reader.read()).value)).toBe("first");
    await reader.cancel();
    expect(left.calls.cancel).toBe(1);
  });
});

describe("RelayBody served by @hono/node-server", () => {
  let server: ServerType | undefined;
  afterEach(
    () =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      }),
  );

  /** A server whose one route answers with `body`, and the URL to call it. */
  function serving(body: RelayBody): Promise<string> {
    const app = new Hono();
    app.get("/", () => body.response({ headers: { "content-type": "text/event-stream", "transfer-encoding": "chunked" } }));
    return new Promise((resolve) => {
      server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => resolve(`http://127.0.0.1:${info.port}/`));
    });
  }

  it("sends each chunk as it is pushed, not when the body ends", async () => {
    const { body } = bodyOf();
    body.push(bytes("data: one\n\n"));
    const res = await request(await serving(body));
    const chunks = res.body[Symbol.asyncIterator]();
    // The first chunk arrives while the body is still open.
    expect(String((await chunks.next()).value)).toBe("data: one\n\n");
    body.push(bytes("data: two\n\n"));
    expect(String((await chunks.next()).value)).toBe("data: two\n\n");
    body.close();
    expect((await chunks.next()).done).toBe(true);
  });

  it("is cancelled when the client goes away", async () => {
    const { body, calls } = bodyOf();
    body.push(bytes("data: one\n\n"));
    const res = await request(await serving(body));
    const chunks = res.body[Symbol.asyncIterator]();
    await chunks.next();
    res.body.destroy();
    await body.closed;
    expect(calls.cancel).toBe(1);
  });
});
