import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { EXAMPLE_DAY, EXAMPLE_KEY, exampleConfig } from "../support/example.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, type TestProxy } from "../support/proxy.js";

/**
 * A web app on another origin calls tollgate from Chromium with fetch: with `server.cors` naming
 * its origin the call succeeds (preflight, answer, the answer's headers readable); without, the
 * browser refuses it.
 */

let upstream: FakeUpstream;
let page: Server;
let pageOrigin: string;
let browser: Browser;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  upstream = await startUpstream((req) => ({ kind: req.body.stream ? "stream" : "json" }));
  page = createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>app</title>"));
  await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  for (const p of proxies) await p.shutdown();
  await new Promise((resolve) => page?.close(resolve));
  await upstream?.close();
});

async function proxyWith(cors: boolean): Promise<TestProxy> {
  const config = exampleConfig(upstream.baseUrl);
  const proxy = await startTestProxy(cors ? { ...config, server: { ...config.server, cors: { origins: [pageOrigin], max_age: 600 } } } : config, { clock: new ManualClock(EXAMPLE_DAY) });
  proxies.push(proxy);
  return proxy;
}

/** What the page's fetch saw: the status, the body and a tollgate header, or the browser's error. */
async function callFromPage(proxyUrl: string, key: string): Promise<{ status?: number; body?: any; route?: string | null; error?: string }> {
  const tab = await browser.newPage();
  try {
    await tab.goto(pageOrigin);
    return await tab.evaluate(
      async ({ url, key }) => {
        try {
          const res = await fetch(`${url}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "openai-beta": "assistants=v2" },
            body: JSON.stringify({ model: "auto", messages: [{ role: "user", content: "hi from the browser" }] }),
          });
          return { status: res.status, body: await res.json(), route: res.headers.get("x-tollgate-route") };
        } catch (err) {
          return { error: String(err) };
        }
      },
      { url: proxyUrl, key },
    );
  } finally {
    await tab.close();
  }
}

describe("a page on another origin", () => {
  it("calls tollgate with fetch when server.cors names its origin", async () => {
    const proxy = await proxyWith(true);
    const answer = await callFromPage(proxy.url, EXAMPLE_KEY);
    expect(answer.error).toBeUndefined();
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0].message.content).toBe("Hello from the fake upstream.");
    expect(answer.route).not.toBeNull();
  });

  it("reads tollgate's errors too (a wrong key is a 401 the page can read)", async () => {
    const proxy = await proxyWith(true);
    const answer = await callFromPage(proxy.url, "sk-wrong");
    expect(answer).toMatchObject({ status: 401, body: { error: { code: "invalid_api_key" } } });
  });

  it("is refused by the browser without server.cors, and nothing is spent", async () => {
    const proxy = await proxyWith(false);
    const asked = upstream.requests.length;
    const answer = await callFromPage(proxy.url, EXAMPLE_KEY);
    expect(answer.error).toMatch(/Failed to fetch/);
    expect(upstream.requests.length).toBe(asked);
    expect(await proxy.services.store.usageRecords(10)).toEqual([]);
  });
});
