import { request as httpRequest } from "node:http";
import type { ServerResponse } from "node:http";
import OpenAI, { toFile } from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UsageRecord } from "../../src/usage/record.js";
import { startUpstream, type FakeUpstream, type Received } from "../support/upstream.js";
import { spawnProxy, testConfigInput, writeConfigFile, type ProxyProcess } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/**
 * Every door gated, tried as two tenants and an over-budget one against two replicas on one Redis
 * and an upstream that keeps objects, bills metered calls and echoes its own credentials back.
 */

const ALICE = "sk-tenant-alice-0000000000000000";
const BOB = "sk-tenant-bob-00000000000000000";
const CAROL = "sk-tenant-carol-0000000000000000";
const ADMIN = "admin-secret-for-the-gate";
const UPSTREAM_KEY = "sk-upstream-openai";
const prefix = uniquePrefix();
let upstream: FakeUpstream;
let replicas: ProxyProcess[] = [];
/** Every body and header the clients received, to look for the upstream's secrets. */
const seen: string[] = [];

/** The upstream's own API world: objects it keeps, calls it bills, and its credentials echoed in every answer. */
function apiWorld(): (req: Received, res: ServerResponse) => Promise<boolean> {
  const objects = new Map<string, Record<string, unknown>>();
  let next = 0;
  const newId = (kind: string) => `${kind}${++next}`;
  const echo = () => `auth was ${"Bearer " + UPSTREAM_KEY}`;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "openai-organization": "org-upstream-secret", "set-cookie": "upstream=1", "x-request-id": "req_up" });
    res.end(JSON.stringify(body));
  };
  const list = (res: ServerResponse, prefixOf: string) =>
    json(res, 200, { object: "list", data: [...objects.values()].filter((o) => String(o.id).startsWith(prefixOf)), has_more: false, debug: echo() });
  return async (req, res) => {
    const path = req.path.split("?")[0]!.replace(/^\/v1/, "");
    const id = path.split("/")[2];
    if (req.headers.authorization !== `Bearer ${UPSTREAM_KEY}`) return json(res, 401, { error: { message: "no" } }), true;
    if (req.method === "POST" && path === "/chat/completions") {
      const completion = { id: newId("chatcmpl-"), object: "chat.completion", model: req.body.model, choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 2 } };
      if (req.body.store) objects.set(completion.id, completion);
      return json(res, 200, completion), true;
    }
    if (req.method === "POST" && path === "/responses") {
      const response = { id: newId("resp_"), object: "response", status: "completed", model: req.body.model, output: [], output_text: "ok", usage: { input_tokens: 10, output_tokens: 2 } };
      objects.set(response.id, response);
      return json(res, 200, response), true;
    }
    if (req.method === "POST" && path === "/files") {
      const file = { id: newId("file-"), object: "file", bytes: req.bytes, filename: "f.jsonl", purpose: "batch", debug: echo() };
      objects.set(file.id, file);
      return json(res, 200, file), true;
    }
    if (req.method === "POST" && path === "/batches") {
      const batch = { id: newId("batch_"), object: "batch", status: "completed", input_file_id: req.body.input_file_id, output_file_id: newId("file-out-") };
      objects.set(batch.id, batch);
      objects.set(String(batch.output_file_id), { id: batch.output_file_id, object: "file" });
      return json(res, 200, batch), true;
    }
    const collection = { "/files": "file-", "/batches": "batch_", "/chat/completions": "chatcmpl-" }[path];
    if (req.method === "GET" && collection) return list(res, collection), true;
    const stored = /^\/(files|batches|chat\/completions|responses)\//.test(path) ? objects.get(path.startsWith("/chat/") ? path.split("/")[3]! : id!) : undefined;
    if (/^\/(files|batches|chat\/completions|responses)\//.test(path)) {
      if (!stored) return json(res, 404, { error: { message: `No such object (${echo()})`, type: "invalid_request_error", param: null, code: null } }), true;
      if (req.method === "DELETE") {
        objects.delete(String(stored.id));
        return json(res, 200, { id: stored.id, deleted: true }), true;
      }
      if (path.endsWith("/messages")) return json(res, 200, { object: "list", data: [{ id: "msg_1", role: "user", content: "hi" }], has_more: false }), true;
      // A file whose contents look like an object of another kind: they make nothing anyone's.
      if (path.endsWith("/content")) return json(res, 200, { object: "batch", output_file_id: "file-orphan", thread_id: "thread_orphan" }), true;
      return json(res, 200, stored), true;
    }
    if (path === "/images/generations") return json(res, 200, { created: 1, data: [{ b64_json: "A".repeat(200_000) }], usage: { input_tokens: 50, output_tokens: 4160, total_tokens: 4210 }, debug: echo() }), true;
    if (path === "/audio/speech") {
      res.writeHead(200, { "content-type": "audio/mpeg" });
      res.end(Buffer.alloc(4096, 1));
      return true;
    }
    if (path === "/audio/transcriptions") {
      // Streamed, with the upstream's key split across two chunks.
      res.writeHead(200, { "content-type": "text/event-stream" });
      const event = `data: ${JSON.stringify({ type: "transcript.text.delta", delta: echo() })}\n\n`;
      const cut = event.indexOf(UPSTREAM_KEY) + 6;
      res.write(event.slice(0, cut));
      await new Promise((resolve) => setImmediate(resolve));
      res.write(event.slice(cut));
      res.end(`data: ${JSON.stringify({ type: "transcript.text.done", text: "hi", usage: { type: "duration", seconds: 60 } })}\n\n`);
      return true;
    }
    if (path === "/videos") return json(res, 200, { id: newId("video_"), object: "video", status: "queued", seconds: req.body.seconds }), true;
    if (path === "/threads/runs") return json(res, 200, { id: newId("run_"), object: "thread.run", thread_id: newId("thread_"), status: "queued" }), true;
    if (req.method === "POST" && (path === "/vector_stores" || path === "/threads")) return json(res, 200, { id: newId(path === "/threads" ? "thread_" : "vs_"), object: path === "/threads" ? "thread" : "vector_store" }), true;
    if (req.method === "POST" && path === "/assistants") return json(res, 200, { id: newId("asst_"), object: "assistant", model: req.body.model }), true;
    if (path === "/containers") return json(res, 200, { id: newId("cntr_"), object: "container" }), true;
    if (path === "/moderations") return json(res, 400, { error: { message: `bad moderation input, ${echo()}`, type: "invalid_request_error", param: null, code: null } }), true;
    return false;
  };
}

const priceFree = { input: 0, output: 0 };

beforeAll(async () => {
  upstream = await startUpstream();
  upstream.route = apiWorld();
  const input = testConfigInput(upstream.baseUrl, {
    store: { redis_url: redisUrl(), key_prefix: prefix },
    keys: [
      { id: "alice", key: ALICE },
      { id: "bob", key: BOB },
      { id: "carol", key: CAROL },
    ],
    admin_key: ADMIN,
    budgets: { global: { daily: 1000 }, keys: { carol: { daily: 0.01 } } },
    passthrough: { endpoints: { batches: { hold: 1 } } },
  });
  input.upstreams.openai.api_key = UPSTREAM_KEY;
  input.models["text-embedding-3-small"] = { upstream: "openai", tier: "economy", kind: "embedding", price: { input: 0.02, output: 0 } };
  input.models["gpt-image-1"] = { upstream: "openai", tier: "economy", price: { input: 5, output: 40 } };
  input.models["tts-1"] = { upstream: "openai", tier: "economy", price: { ...priceFree, per_1k_characters: 0.015 } };
  input.models["whisper-1"] = { upstream: "openai", tier: "economy", price: { ...priceFree, per_audio_second: 0.0001 } };
  input.models["sora-2"] = { upstream: "openai", tier: "economy", price: { ...priceFree, per_video_second: 0.1 } };
  const file = writeConfigFile(input);
  replicas = await Promise.all([0, 1].map(() => spawnProxy(file)));
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await upstream?.close();
  await cleanPrefix(prefix);
});

/** An SDK client of `key` on replica `i`, whose every answer is kept for the secrets check. */
function client(key: string, i: number): OpenAI {
  return new OpenAI({
    baseURL: `${replicas[i]!.url}/v1`,
    apiKey: key,
    maxRetries: 0,
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      const text = await res.text();
      seen.push(text, JSON.stringify([...res.headers]));
      return new Response(res.status === 204 ? null : text, { status: res.status, headers: res.headers });
    },
  });
}

async function records(): Promise<UsageRecord[]> {
  const redis = new Redis(redisUrl());
  try {
    await expect.poll(() => redis.zcard(`${prefix}{tg}:holds`), { timeout: 10_000 }).toBe(0);
    const entries = await redis.xrange(`${prefix}{tg}:usage`, "-", "+");
    return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf("r") + 1]!) as UsageRecord);
  } finally {
    redis.disconnect();
  }
}

/** Each metered class, called through the SDK. */
const meteredCalls: Record<string, (c: OpenAI) => Promise<unknown>> = {
  images: (c) => c.images.generate({ model: "gpt-image-1", prompt: "a gate", n: 2 }),
  "audio speech": (c) => c.audio.speech.create({ model: "tts-1", voice: "alloy", input: "x".repeat(2000) }).then((r) => r.arrayBuffer()),
  "audio transcriptions": async (c) => {
    const stream = await c.audio.transcriptions.create({ model: "whisper-1", file: await toFile(Buffer.alloc(2048, 3), "a.mp3"), stream: true });
    const events: string[] = [];
    for await (const event of stream) events.push(event.type);
    return events;
  },
  videos: (c) => c.videos.create({ model: "sora-2", prompt: "a gate opening", seconds: "8" }),
  assistants: async (c) => {
    const assistant = await c.beta.assistants.create({ model: "gpt-4o-mini" });
    return c.beta.threads.createAndRun({ assistant_id: assistant.id });
  },
  containers: (c) => c.containers.create({ name: "sandbox" }),
};

describe("metered classes", () => {
  it("refuses an over-budget key on every metered class, and nothing reaches the upstream", async () => {
    const spending = () => upstream.requests.filter((r) => r.path !== "/v1/assistants").length;
    const asked = spending();
    for (const [name, call] of Object.entries(meteredCalls)) {
      await expect(call(client(CAROL, 0)), name).rejects.toMatchObject({ status: 429, code: "budget_exceeded" });
    }
    expect(spending()).toBe(asked);
    const input = await client(CAROL, 1).files.create({ file: await toFile(Buffer.from("{}\n"), "in.jsonl"), purpose: "batch" });
    const beforeBatch = upstream.requests.length;
    await expect(client(CAROL, 1).batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" })).rejects.toMatchObject({ status: 429 });
    expect(upstream.requests.length).toBe(beforeBatch);
  });

  it("holds, settles and records an in-budget key's metered calls at what they cost", async () => {
    for (const [name, call] of Object.entries(meteredCalls)) await expect(call(client(ALICE, 1)), name).resolves.toBeDefined();
    const metered = (await records()).filter((r) => r.key_id === "alice" && r.route === "metered");
    const by = (endpoint: string, model: string) => metered.find((r) => r.endpoint === endpoint && r.routed_model === model);
    // 50 × $5/M + 4,160 × $40/M from the answer's usage.
    expect(by("images", "gpt-image-1")).toMatchObject({ usage_source: "upstream", cost_nano: 50 * 5000 + 4160 * 40_000, input_tokens: 50, output_tokens: 4160, status: 200 });
    // 2,000 characters at $0.015 per 1,000; 60 s at $0.0001 a second; 8 s at $0.10 a second.
    expect(by("audio", "tts-1")).toMatchObject({ usage_source: "estimated", cost_nano: 30_000_000 });
    expect(by("audio", "whisper-1")).toMatchObject({ usage_source: "upstream", cost_nano: 6_000_000 });
    expect(by("videos", "sora-2")).toMatchObject({ usage_source: "estimated", cost_nano: 800_000_000 });
    // Nothing in the answer prices a run or a container: charged at the class's hold.
    expect(metered.find((r) => r.endpoint === "assistants")).toMatchObject({ usage_source: "held", cost_nano: 500_000_000 });
    expect(metered.find((r) => r.endpoint === "containers")).toMatchObject({ usage_source: "held", cost_nano: 30_000_000 });
    for (const r of metered) expect(r.cost_nano).toBeGreaterThan(0);
  });
});

describe("owners", () => {
  it("answers 404 to another tenant's stored chat completion, response, file and batch, and lists only one's own", async () => {
    const alice = client(ALICE, 0);
    const bob = client(BOB, 1);
    const completion = await alice.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "keep it" }], store: true, max_tokens: 5 });
    const response = await alice.responses.create({ model: "gpt-4o-mini", input: "keep it too", max_output_tokens: 16 });
    const file = await alice.files.create({ file: await toFile(Buffer.from('{"a":1}\n'), "a.jsonl"), purpose: "batch" });
    const batch = await alice.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const bobsFile = await bob.files.create({ file: await toFile(Buffer.from('{"b":1}\n'), "b.jsonl"), purpose: "batch" });

    const asked = upstream.requests.length;
    const notFound = { status: 404, code: "not_found" };
    await expect(bob.chat.completions.retrieve(completion.id)).rejects.toMatchObject(notFound);
    await expect(bob.chat.completions.messages.list(completion.id)).rejects.toMatchObject(notFound);
    await expect(bob.chat.completions.delete(completion.id)).rejects.toMatchObject(notFound);
    await expect(bob.responses.retrieve(response.id)).rejects.toMatchObject(notFound);
    await expect(bob.responses.delete(response.id)).rejects.toMatchObject(notFound);
    await expect(bob.responses.create({ model: "gpt-4o-mini", input: "go on", previous_response_id: response.id })).rejects.toMatchObject(notFound);
    await expect(bob.files.retrieve(file.id)).rejects.toMatchObject(notFound);
    await expect(bob.files.content(file.id)).rejects.toMatchObject(notFound);
    await expect(bob.files.delete(file.id)).rejects.toMatchObject(notFound);
    await expect(bob.batches.retrieve(batch.id)).rejects.toMatchObject(notFound);
    await expect(bob.batches.cancel(batch.id)).rejects.toMatchObject(notFound);
    // A batch's output file is its owner's, learnt when the owner reads the batch.
    const read = await client(ALICE, 1).batches.retrieve(batch.id);
    await expect(bob.files.retrieve(read.output_file_id!)).rejects.toMatchObject(notFound);
    await expect(bob.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" })).rejects.toMatchObject(notFound);
    expect(upstream.requests.length).toBe(asked + 1);

    // Lists: each sees its own; the admin key sees everything, and reaches what no one owns.
    const ids = async (c: OpenAI) => (await c.files.list()).data.map((f) => f.id);
    expect(await ids(bob)).toEqual([bobsFile.id]);
    expect(await ids(client(ALICE, 1))).toEqual(expect.arrayContaining([file.id, read.output_file_id]));
    expect(await ids(client(ALICE, 1))).not.toContain(bobsFile.id);
    expect((await bob.chat.completions.list()).data).toEqual([]);
    expect((await alice.chat.completions.list()).data.map((c) => c.id)).toEqual([completion.id]);
    expect((await bob.batches.list()).data).toEqual([]);
    const admin = client(ADMIN, 0);
    expect(await ids(admin)).toEqual(expect.arrayContaining([file.id, bobsFile.id]));

    // The owner reaches its objects from either replica.
    expect((await client(ALICE, 1).chat.completions.retrieve(completion.id)).id).toBe(completion.id);
    expect((await client(ALICE, 0).responses.retrieve(response.id)).id).toBe(response.id);
    expect((await client(ALICE, 1).files.delete(file.id)).deleted).toBe(true);
  });

  it("answers 404 to another tenant's objects named anywhere in a body, priced or passed through", async () => {
    const alice = client(ALICE, 0);
    const bobsFile = await client(BOB, 1).files.create({ file: await toFile(Buffer.from("{}\n"), "b.jsonl"), purpose: "assistants" });
    const bobsStore = await client(BOB, 1).vectorStores.create({ name: "bob's" });
    const asked = upstream.requests.length;
    const notFound = { status: 404, code: "not_found" };
    await expect(alice.vectorStores.create({ name: "mine", file_ids: [bobsFile.id] })).rejects.toMatchObject(notFound);
    await expect(alice.beta.threads.create({ messages: [{ role: "user", content: "read it", attachments: [{ file_id: bobsFile.id, tools: [{ type: "file_search" }] }] }] })).rejects.toMatchObject(notFound);
    await expect(alice.beta.threads.create({ tool_resources: { file_search: { vector_store_ids: [bobsStore.id] } } })).rejects.toMatchObject(notFound);
    await expect(alice.responses.create({ model: "gpt-4o-mini", input: "search", tools: [{ type: "file_search", vector_store_ids: [bobsStore.id] }] })).rejects.toMatchObject(notFound);
    await expect(
      alice.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: [{ type: "file", file: { file_id: bobsFile.id } }] }] }),
    ).rejects.toMatchObject(notFound);
    // A key written with JSON escapes is the same key once parsed.
    const escaped = await fetch(`${replicas[0]!.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${ALICE}`, "content-type": "application/json" },
      body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"file","file":{"file\\u005fid":"${bobsFile.id}"}}]}]}`,
    });
    expect(escaped.status).toBe(404);
    expect(upstream.requests.length).toBe(asked);
    // Alice's own are hers to use.
    const mine = await alice.vectorStores.create({ name: "mine" });
    await expect(alice.beta.threads.create({ tool_resources: { file_search: { vector_store_ids: [mine.id] } } })).resolves.toMatchObject({ object: "thread" });
  });

  it("makes nothing anyone's from what a file's contents say", async () => {
    const alice = client(ALICE, 1);
    const file = await alice.files.create({ file: await toFile(Buffer.from("{}\n"), "c.jsonl"), purpose: "batch" });
    await (await alice.files.content(file.id)).text();
    const asked = upstream.requests.length;
    await expect(alice.files.retrieve("file-orphan")).rejects.toMatchObject({ status: 404 });
    expect(upstream.requests.length).toBe(asked);
  });

  it("refuses the admin key on calls that spend, and unknown objects to every key", async () => {
    await expect(client(ADMIN, 0).images.generate({ model: "gpt-image-1", prompt: "x" })).rejects.toMatchObject({ status: 403, code: "endpoint_not_allowed" });
    await expect(client(ALICE, 0).files.retrieve("file-made-elsewhere")).rejects.toMatchObject({ status: 404 });
    await expect(client(ADMIN, 0).files.retrieve("file-made-elsewhere")).rejects.toMatchObject({ status: 404 });
    expect(upstream.requests.at(-1)!.path).toBe("/v1/files/file-made-elsewhere");
  });
});

describe("masks", () => {
  it("never lets the upstream key or its organization out, in JSON, errors or streams", async () => {
    const alice = client(ALICE, 0);
    await alice.files.list();
    await expect(alice.moderations.create({ input: "x" })).rejects.toMatchObject({ status: 400 });
    await meteredCalls["audio transcriptions"]!(alice);
    await meteredCalls.images!(alice);
    const leaked = seen.filter((text) => text.includes(UPSTREAM_KEY) || text.includes("sk-upstream") || text.includes("org-upstream-secret") || text.includes("upstream=1"));
    expect(leaked).toEqual([]);
    // The masks were at work: the upstream's echoes arrived, masked.
    expect(seen.some((text) => text.includes("auth was Bearer ***"))).toBe(true);
    const transcripts = seen.filter((text) => text.includes("transcript.text.delta"));
    expect(transcripts.length).toBeGreaterThan(0);
    expect(transcripts.every((text) => text.includes("Bearer ***"))).toBe(true);
  });
});

/** A request with its path sent exactly as written (fetch would resolve dot segments first). */
function raw(method: string, url: string, path: string, key: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("one canonical path", () => {
  it("answers each spelling of a priced path with 400 or the priced route, never the pass-through", async () => {
    const chat = JSON.stringify({ model: "auto", messages: [{ role: "user", content: "hi" }], max_tokens: 5 });
    const spellings: Array<[string, string, "priced" | "refused"]> = [
      ["/v1/chat/completions/", chat, "priced"],
      ["/v1//chat/completions", chat, "priced"],
      ["/v1/Chat/Completions", chat, "refused"],
      ["/v1/chat%2Fcompletions", chat, "refused"],
      ["/v1/chat%2fcompletions", chat, "refused"],
      ["/v1/chat%5Ccompletions", chat, "refused"],
      ["/v1/./chat/completions", chat, "refused"],
      ["/v1/x/../chat/completions", chat, "refused"],
      ["/v1/%63hat/completions", chat, "refused"],
      ["/v1/responses/", JSON.stringify({ model: "auto", input: "hi", max_output_tokens: 16 }), "priced"],
      ["/v1/embeddings/", JSON.stringify({ model: "text-embedding-3-small", input: "hi" }), "priced"],
      ["/v1//embeddings//", JSON.stringify({ model: "text-embedding-3-small", input: "hi" }), "priced"],
      ["/v1/EMBEDDINGS", JSON.stringify({ model: "text-embedding-3-small", input: "hi" }), "refused"],
    ];
    for (const [path, body, expected] of spellings) {
      const asked = upstream.requests.length;
      const res = await raw("POST", replicas[0]!.url, path, ALICE, body);
      seen.push(res.text);
      if (expected === "priced") {
        expect(res.status, path).toBe(200);
        expect(res.headers["x-tollgate-tier"], path).toBeDefined();
        expect(upstream.requests.length, path).toBe(asked + 1);
        expect(upstream.requests.at(-1)!.path, path).toMatch(/^\/v1\/(chat\/completions|responses|embeddings)$/);
        expect(res.headers["x-tollgate-cost"], path).toBeDefined();
      } else {
        expect(res.status, path).toBe(400);
        expect(JSON.parse(res.text).error.code, path).toBe("invalid_path");
        expect(upstream.requests.length, path).toBe(asked);
      }
    }
  });

  it("keeps /v1/costs the size it was after 10,000 random unknown paths", async () => {
    const costs = async () => (await fetch(`${replicas[1]!.url}/v1/costs`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    await records(); // every earlier answer settled
    const before = await costs();
    const asked = upstream.requests.length;
    let next = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      while (next < 10_000) {
        const i = next++;
        const path = `/v1/zz${i.toString(36)}/${(i * 7919).toString(36)}${i % 3 === 0 ? "/x" : ""}`;
        const res = await fetch(`${replicas[i % 2]!.url}${path}`, { method: i % 2 ? "POST" : "GET", headers: { authorization: `Bearer ${ALICE}` } });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(Object.fromEntries(statuses)).toEqual({ 404: 10_000 });
    expect(upstream.requests.length).toBe(asked);
    const after = await costs();
    expect(after.length).toBe(before.length);
    expect(JSON.parse(after)).toEqual(JSON.parse(before));
  }, 120_000);
});
