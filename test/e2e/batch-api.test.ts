import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UsageRecord } from "../../src/usage/record.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { testConfigInput, writeConfigFile } from "../support/proxy.js";
import { cleanPrefix, redisUrl, uniquePrefix } from "../support/redis.js";

/** `tollgate batch submit / status / fetch` against a fake Batch API, budgets in Redis. */

const prefix = uniquePrefix();
let upstream: FakeUpstream;
let configFile: string;
const dir = mkdtempSync(join(tmpdir(), "tollgate-batch-"));

beforeAll(async () => {
  upstream = await startUpstream();
  configFile = writeConfigFile(
    testConfigInput(upstream.baseUrl, {
      store: { redis_url: redisUrl(), key_prefix: prefix },
      keys: [{ id: "etl", key: "unused", team: "data" }],
      budgets: { global: { daily: 10 } },
    }),
  );
});

afterAll(async () => {
  await upstream?.close();
  await cleanPrefix(prefix);
});

/** The command in a process of its own; asynchronously, so the fake upstream in this process keeps answering. */
function tollgate(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/main.ts", "batch", ...args, "--config", configFile, "--state", join(dir, "state.json")], { cwd: join(import.meta.dirname, "../..") }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

describe("tollgate batch", () => {
  it("submits at batch prices, reports status, fetches and settles real usage, releasing what failed", async () => {
    const input = join(dir, "input.jsonl");
    const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ custom_id: `q${i}`, body: { model: "gpt-4o-mini", messages: [{ role: "user", content: `Question ${i}` }], max_tokens: 100 } }));
    writeFileSync(input, `${lines.join("\n")}\n`);
    upstream.batchApi.failing.add("q4");

    const submit = await tollgate("submit", input, "--key", "etl");
    expect(submit.code, submit.out).toBe(0);
    expect(submit.out).toMatch(/batch batch_1: 5 requests to gpt-4o-mini/);
    const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
    const held = state.batches[0].requests.reduce((s: number, r: { amount: number }) => s + r.amount, 0);
    // At half the regular price: 100 output tokens at $0.30/M at most, per request.
    expect(state.batches[0].requests[0].amount).toBeLessThanOrEqual(Math.round(100 * 0.3 * 1000) + Math.round(20 * 0.075 * 1000));
    const uploaded = upstream.batchApi.files.get(state.batches[0].input_file_id)!;
    expect(uploaded.trim().split("\n")).toHaveLength(5);
    expect(JSON.parse(uploaded.split("\n")[0]!)).toMatchObject({ custom_id: "q0", url: "/v1/chat/completions", body: { model: "gpt-4o-mini" } });

    const redis = new Redis(redisUrl());
    try {
      const counter = async () => {
        const keys = await redis.keys(`${prefix}{tg}:c:key:etl:d:*`);
        return Number((await redis.get(keys[0]!)) ?? 0);
      };
      expect(await counter()).toBe(held);

      const status = await tollgate("status");
      expect(status.code, status.out).toBe(0);
      expect(status.out).toMatch(/batch_1 gpt-4o-mini: completed, 4 done, 1 failed of 5/);

      const out = join(dir, "results.jsonl");
      const fetched = await tollgate("fetch", "--out", out);
      expect(fetched.code, fetched.out).toBe(0);
      expect(fetched.out).toMatch(/5 results written .* 4 settled, 1 released/);
      expect(readFileSync(out, "utf8").trim().split("\n")).toHaveLength(5);
      // 4 answers of 30 + 10 tokens at half price; the failed one costs nothing.
      const perAnswer = Math.round(30 * 0.075 * 1000) + Math.round(10 * 0.3 * 1000);
      expect(await counter()).toBe(4 * perAnswer);
      expect(await redis.zcard(`${prefix}{tg}:holds`)).toBe(0);
      const records = (await redis.xrange(`${prefix}{tg}:usage`, "-", "+")).map(([, f]) => JSON.parse(f[1]!) as UsageRecord);
      expect(records).toHaveLength(4);
      expect(records.every((r) => r.endpoint === "batch" && r.key_id === "etl" && r.usage_source === "upstream")).toBe(true);
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it("gives every hold back at once when the upload fails, rather than charging it a day later", async () => {
    const input = join(dir, "failing.jsonl");
    writeFileSync(input, `${JSON.stringify({ custom_id: "f0", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Q" }], max_tokens: 100 } })}\n`);
    upstream.route = (req, res) => {
      if (req.method !== "POST" || !req.path.startsWith("/v1/files")) return false;
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "storage unavailable" } }));
      return true;
    };
    const redis = new Redis(redisUrl());
    try {
      const keysBefore = await redis.keys(`${prefix}{tg}:c:key:etl:d:*`);
      const before = keysBefore.length ? Number(await redis.get(keysBefore[0]!)) : 0;
      const submit = await tollgate("submit", input, "--key", "etl");
      expect(submit.out).toMatch(/not submitted: f0 \(upload failed: POST \/files on upstream openai answered 500/);
      expect(await redis.zcard(`${prefix}{tg}:holds`)).toBe(0);
      const keys = await redis.keys(`${prefix}{tg}:c:key:etl:d:*`);
      expect(Number(await redis.get(keys[0]!))).toBe(before);
    } finally {
      upstream.route = undefined;
      redis.disconnect();
    }
  }, 60_000);
});
