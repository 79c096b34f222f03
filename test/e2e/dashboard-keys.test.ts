import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { startTestProxy, testConfig, type TestProxy } from "../support/proxy.js";

/**
 * The dashboard's Keys page in Debian's chromium (playwright-core, never a downloaded browser):
 * list, create (the secret shown once), edit budgets and limits, revoke; every change checked
 * against the admin API and against a real request with the key. And the spend page's forecast.
 */

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "sk-dashboard-keys-admin";
const T0 = Date.UTC(2026, 5, 15, 9);

let upstream: FakeUpstream;
let browser: Browser;
let proxy: TestProxy;
const clock = new ManualClock(T0);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does`);
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1000, completion_tokens: 1000 } }));
  proxy = await startTestProxy(
    testConfig(upstream.baseUrl, {
      keys: [{ id: "yaml-bot", key: "sk-yaml-bot" }],
      admin_key: ADMIN,
      routing: { client_model: "pin" },
    }),
    { clock },
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.shutdown();
  await upstream?.close();
});

const adminGet = async (path: string) => (await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json() as Promise<any>;
const ask = (key: string) => proxy.client(key).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });

async function openKeys(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${proxy.url}/dashboard#keys`);
  await page.locator("#key").fill(ADMIN);
  await page.locator("#login button[type=submit]").click();
  await page.locator("#keys-table tr[data-key]").first().waitFor();
  return { page, errors };
}

describe("dashboard: Keys page", () => {
  it("lists, creates (secret once), edits and revokes keys through the admin API", async () => {
    const { page, errors } = await openKeys();
    expect(await page.locator("#board").isHidden()).toBe(true);
    // The configuration's key: listed, no buttons.
    const yaml = page.locator('tr[data-key="yaml-bot"]');
    expect(await yaml.textContent()).toContain("configuration");
    expect(await yaml.locator("button").count()).toBe(0);

    // Create.
    const form = page.locator("#new-key");
    await form.locator('[name="id"]').fill("web-1");
    await form.locator('[name="team"]').fill("shop");
    await form.locator('[name="daily"]').fill("5");
    await form.locator('[name="rpm"]').fill("60");
    await form.locator("button[type=submit]").click();
    await page.locator("#new-secret").waitFor();
    const secret = (await page.locator("#new-secret-value").textContent())!;
    expect(secret).toMatch(/^sk-tg-/);
    expect(await adminGet("/v1/admin/keys/web-1")).toMatchObject({ team: "shop", budgets: { daily: 5, rpm: 60 }, source: "api" });
    await ask(secret);
    const row = page.locator('tr[data-key="web-1"]');
    expect(await row.locator('[data-limit="daily"] [data-usd]').getAttribute("data-usd")).toBe("5");
    expect(await row.textContent()).toContain(`…${secret.slice(-4)}`);

    // Edit: a monthly limit added, the rpm cleared, the tier capped.
    await row.locator('[data-action="edit"]').click();
    await row.locator('input[name="monthly"]').fill("50");
    await row.locator('input[name="rpm"]').fill("");
    await row.locator('select[name="max_tier"]').selectOption("economy");
    await row.locator('[data-action="save"]').click();
    await expect.poll(async () => (await adminGet("/v1/admin/keys/web-1")).budgets).toEqual({ daily: 5, monthly: 50 });
    expect((await adminGet("/v1/admin/keys/web-1")).max_tier).toBe("economy");
    await page.locator('tr[data-key="web-1"] [data-limit="monthly"]').waitFor();

    // A bad value: the API's message, nothing made.
    await form.locator('[name="id"]').fill("bad id!");
    await form.locator("button[type=submit]").click();
    await page.locator("#keys-error").waitFor();
    expect(await page.locator("#keys-error").textContent()).toContain("id:");
    expect((await adminGet("/v1/admin/keys")).data.map((k: { id: string }) => k.id)).toEqual(["yaml-bot", "web-1"]);

    // Revoke: two clicks, then the key gets 401.
    const revoke = page.locator('tr[data-key="web-1"] [data-action="revoke"]');
    await revoke.click();
    expect(await revoke.textContent()).toBe("Confirm revoke");
    expect((await adminGet("/v1/admin/keys")).data).toHaveLength(2);
    await revoke.click();
    await page.locator('tr[data-key="web-1"]').waitFor({ state: "detached" });
    await expect(ask(secret)).rejects.toMatchObject({ status: 401 });

    // The secret is shown once: a reload of the page does not have it.
    await page.reload();
    await page.locator("#keys-table tr[data-key]").first().waitFor();
    expect(await page.content()).not.toContain(secret);
    // The browser logs the bad value's 400 itself; nothing else went wrong.
    expect(errors).toEqual(["Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
    await page.close();
  });

  it("lists the keys when keys.js arrives after the page has opened", async () => {
    // The admin key is in the tab's session; on the reload dashboard.js opens #keys once the spend
    // data answers, and keys.js, held back here until then, must still load the list.
    const { page, errors } = await openKeys();
    await page.route("**/dashboard/assets/keys.js", async (route) => {
      await page.waitForFunction(() => !document.getElementById("keys-page")!.hidden);
      await route.continue();
    });
    await page.reload();
    await page.locator('tr[data-key="yaml-bot"]').waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it("opens the page with the reason when the spend data cannot be read, and the Keys page still works", async () => {
    const { page } = await openKeys();
    await page.route("**/v1/costs?days=30", (route) => route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error: { message: "the ledger is not answering" } }) }));
    await page.reload();
    await page.locator('tr[data-key="yaml-bot"]').waitFor();
    expect(await page.locator("#forget").isVisible()).toBe(true);
    await page.locator('nav a[href="#spend"]').click();
    expect(await page.locator("#error").textContent()).toBe("Could not refresh: the ledger is not answering");
    await page.close();
  });

  it("shows each limited window's forecast on the spend page, as /v1/costs/alerts names it", async () => {
    const created = await (
      await fetch(`${proxy.url}/v1/admin/keys`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ id: "spender", budgets: { daily: 0.01 } }) })
    ).json();
    for (let i = 0; i < 4; i++) {
      clock.set(T0 + i * 60_000);
      await ask(created.key);
    }
    const alerts = await adminGet("/v1/costs/alerts");
    const daily = alerts.scopes.find((s: any) => s.scope === "key" && s.id === "spender").windows.daily;
    expect(daily.forecast.before_window_end).toBe(true);
    const { page, errors } = await openKeys();
    await page.locator('nav a[href="#spend"]').click();
    const line = page.locator('.gauge[data-scope="key spender"][data-window="daily"] .forecast');
    await line.waitFor();
    expect(await line.getAttribute("data-reaches")).toBe(daily.forecast.reaches_limit_at);
    expect(await line.textContent()).toContain("runs out");
    expect(errors).toEqual([]);
    await page.close();
  });
});
