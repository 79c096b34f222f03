import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLedgerProxy, LEDGER_KEYS } from "../support/ledger.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";

/**
 * End users and tags: an end user's budget is one more scope of the request's hold, so concurrent
 * first requests from a new end user cannot pass it; tags label spend in the records, the CSV
 * export and `/v1/costs?group_by=tag`, with budgets of their own when configured.
 */

let upstream: FakeUpstream;

beforeAll(async () => {
  // What the request holds: its few input tokens and the 100 of output it asks for ($0.0000615 on gpt-4o-mini).
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 10, completion_tokens: 100 } }));
});

afterAll(async () => {
  await upstream?.close();
});

describe("end users and tags", () => {
  it("holds an end user's budget across fifty concurrent first requests", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, { overrides: { budgets: { downgrade: false, end_users: { default: { daily: 0.0005 } } } } });
    const client = new OpenAI({ baseURL: `${l.proxy.url}/v1`, apiKey: LEDGER_KEYS.app, maxRetries: 0 });
    const statuses = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        try {
          await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `q${i}` }], max_tokens: 100, user: "newcomer" });
          return 200;
        } catch (err) {
          const e = err as InstanceType<typeof OpenAI.APIError>;
          expect(e.message).toMatch(/end_user app\/newcomer/);
          return e.status ?? 0;
        }
      }),
    );
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const answered = statuses.filter((s) => s === 200).length;
    expect(answered).toBeGreaterThan(0);
    expect(statuses).toContain(429);
    const report = (await (await l.admin("/v1/costs?group_by=end_user")).json()) as { groups: Record<string, { requests: number; cost: number }> };
    expect(report.groups.newcomer!.requests).toBe(answered);
    expect(report.groups.newcomer!.cost).toBeLessThanOrEqual(0.0005);
    // Another end user of the same key has a budget of its own.
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 100, user: "someone-else" });
  });

  it("labels spend with tags: records, the CSV export and group_by=tag; a tag's budget holds", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, { overrides: { budgets: { downgrade: false, tags: { beta: { daily: 0.00015 } } } } });
    const post = (tags: string, user?: string) =>
      fetch(`${l.proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${LEDGER_KEYS.app}`, "content-type": "application/json", "x-tollgate-tags": tags, ...(user ? { "x-tollgate-user": user } : {}) },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 100 }),
      });
    expect((await post("checkout, search", "u1")).status).toBe(200);
    expect((await post("checkout")).status).toBe(200);
    // The beta tag's budget fits two requests' worst case, not three.
    const beta = [await post("beta"), await post("beta"), await post("beta")].map((r) => r.status);
    expect(beta).toEqual([200, 200, 429]);
    // Bad tags: a clear 400 naming the header, nothing spent.
    const bad = await post("a,b,c,d,e,f,g,h,i,j,k");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { param: "x-tollgate-tags" } });
    expect((await post("no spaces allowed")).status).toBe(400);

    await expect.poll(async () => (await l.rows()).length).toBe(4);
    const report = (await (await l.admin("/v1/costs?group_by=tag")).json()) as { source: string; groups: Record<string, { requests: number }>; by_end_user: Record<string, { requests: number }> };
    expect(report.source).toBe("ledger");
    expect(Object.fromEntries(Object.entries(report.groups).map(([tag, g]) => [tag, g.requests]))).toEqual({ checkout: 2, search: 1, beta: 2 });
    expect(report.by_end_user.u1!.requests).toBe(1);
    const csv = await (await l.admin("/v1/costs/export.csv")).text();
    const [header, ...lines] = csv.trimEnd().split("\r\n");
    const columns = header!.split(",");
    expect(columns).toEqual(expect.arrayContaining(["end_user", "tags"]));
    expect(lines.some((line) => line.includes('"checkout,search"') && line.includes("u1"))).toBe(true);
    expect((await (await l.admin("/v1/costs?group_by=planet")).json()) as unknown).toMatchObject({ error: { param: "group_by" } });
  });
});
