import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { UpstreamFailure, type UpstreamReply } from "./client.js";
import { forwardWithFallback, retryAfterMs, type FallbackSteps } from "./fallback.js";

/** The fallback loop over fake replies: which failures move on, what the client gets, what cools down. */

type Candidate = { model: string };

function reply(status: number, body = "", headers: Record<string, string> = {}): UpstreamReply & { disposed: number } {
  const r = {
    status,
    headers,
    body: Object.assign(Readable.from([Buffer.from(body)]), { text: async () => body }) as UpstreamReply["body"],
    disposed: 0,
    abandon() {},
    done() {
      r.disposed++;
    },
    [Symbol.dispose]() {
      r.done();
    },
  };
  return r;
}

function steps(answers: Record<string, () => Promise<UpstreamReply>>, order: string[]): FallbackSteps<Candidate> & { cooled: Array<[string, number]>; sent: string[] } {
  const cooled: Array<[string, number]> = [];
  const sent: string[] = [];
  return {
    cooled,
    sent,
    send: (c) => {
      sent.push(c.model);
      return answers[c.model]!();
    },
    next: async (failed) => {
      const at = order.indexOf(failed.model);
      return at + 1 < order.length ? { model: order[at + 1]! } : undefined;
    },
    coolDown: async (model, ms) => void cooled.push([model, ms]),
    now: () => Date.UTC(2026, 5, 15, 12),
  };
}

describe("forwardWithFallback", () => {
  it("answers with the first model whose upstream answers, skipping 429, 5xx and refused connections", async () => {
    const busy = reply(429, '{"error":"busy"}', { "retry-after": "7" });
    const s = steps(
      {
        a: async () => busy,
        b: async () => {
          throw new UpstreamFailure("upstream_unreachable", "refused", true);
        },
        c: async () => reply(200, "{}"),
      },
      ["a", "b", "c"],
    );
    const out = await forwardWithFallback({ model: "a" }, s);
    expect(out.candidate.model).toBe("c");
    expect(out.reply.status).toBe(200);
    expect(out.skipped).toEqual([
      { model: "a", status: 429, code: null },
      { model: "b", status: 502, code: "upstream_unreachable" },
    ]);
    // The 429's retry-after cools its model; its body was read and the reply disposed of.
    expect(s.cooled).toEqual([["a", 7000]]);
    expect(busy.disposed).toBe(1);
  });

  it("passes a client error through at once, without trying another model", async () => {
    const s = steps({ a: async () => reply(400, "bad"), b: async () => reply(200) }, ["a", "b"]);
    const out = await forwardWithFallback({ model: "a" }, s);
    expect(out.reply.status).toBe(400);
    expect(s.sent).toEqual(["a"]);
  });

  it("gives the client the last failure when no model is left", async () => {
    const s = steps({ a: async () => reply(503, "down"), b: async () => reply(500, "broken") }, ["a", "b"]);
    const out = await forwardWithFallback({ model: "a" }, s);
    expect(out).toMatchObject({ candidate: { model: "b" }, errorText: "broken", skipped: [{ model: "a", status: 503 }] });
    const refused = steps(
      {
        a: async () => {
          throw new UpstreamFailure("upstream_timeout", "slow", true);
        },
      },
      ["a"],
    );
    await expect(forwardWithFallback({ model: "a" }, refused)).rejects.toMatchObject({ code: "upstream_timeout" });
  });

  it("never retries a failure another model would share", async () => {
    const s = steps(
      {
        a: async () => {
          throw new UpstreamFailure("overloaded", "full", false);
        },
        b: async () => reply(200),
      },
      ["a", "b"],
    );
    await expect(forwardWithFallback({ model: "a" }, s)).rejects.toMatchObject({ code: "overloaded" });
    expect(s.sent).toEqual(["a"]);
  });

  it("reads retry-after in seconds or as a date, within ten minutes", () => {
    const now = Date.UTC(2026, 5, 15, 12);
    expect(retryAfterMs("2", now)).toBe(2000);
    expect(retryAfterMs(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(retryAfterMs("86400", now)).toBe(600_000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
