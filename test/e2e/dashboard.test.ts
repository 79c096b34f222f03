import { copyFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatUsd, usdToNano } from "../../src/money.js";
import { startUpstream, type FakeUpstream } from "../support/upstream.js";
import { LEDGER_ADMIN, LEDGER_KEYS, LEDGER_T0, startLedgerProxy, type LedgerProxy } from "../support/ledger.js";

/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (never a
 * downloaded browser). The page must show what the JSON endpoints say, to the digit.
 */

const CHROMIUM = "/usr/bin/chromium";
const DAY = 24 * 3600 * 1000;
let upstream: FakeUpstream;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does`);
  upstream = await startUpstream(() => ({ kind: "json", usage: { prompt_tokens: 1200, completion_tokens: 300 } }));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await upstream?.close();
});

/** Traffic over the last weeks on every tier, some cached, with budgets near their alerts. */
async function populate(l: LedgerProxy): Promise<number> {
  const plan: Array<[daysAgo: number, key: keyof typeof LEDGER_KEYS, model: string, count: number]> = [
    [24, "app", "gpt-4o-mini", 6],
    [17, "ci", "gpt-4o", 2],
    [11, "app", "auto", 8],
    [6, "app", "gpt-4-turbo", 1],
    [3, "ci", "gpt-4o", 3],
    [1, "app", "auto", 10],
    [0, "app", "gpt-4o", 2],
    [0, "ci", "gpt-4o-mini", 4],
    [0, "app", "gpt-4-turbo", 1],
  ];
  let sent = 0;
  for (const [daysAgo, key, model, count] of plan) {
    l.clock.set(LEDGER_T0 - daysAgo * DAY);
    for (let i = 0; i < count; i++) {
      // Every other auto request repeats a deterministic prompt: the second one is a cache hit.
      const content = model === "auto" ? `summarise item ${Math.floor(i / 2)}` : `question ${sent}`;
      await l.proxy.client(LEDGER_KEYS[key]).chat.completions.create({ model, temperature: 0, messages: [{ role: "user", content }], max_tokens: 300 });
      sent++;
    }
  }
  l.clock.set(LEDGER_T0);
  await l.proxy.services.settler.drain(5000);
  await expect.poll(async () => (await l.rows()).length, { timeout: 10_000 }).toBe(sent);
  return sent;
}

interface Watched {
  page: Page;
  consoleErrors: string[];
  pageErrors: string[];
}

async function open(url: string, viewport = { width: 1280, height: 900 }): Promise<Watched> {
  const page = await browser.newPage({ viewport });
  const watched: Watched = { page, consoleErrors: [], pageErrors: [] };
  page.on("console", (m) => {
    if (m.type() === "error") watched.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => watched.pageErrors.push(e.message));
  page.on("request", (r) => {
    // Nothing from the internet: every request goes to the proxy.
    if (!r.url().startsWith(url.split("/dashboard")[0]!) && !r.url().startsWith("data:")) watched.pageErrors.push(`request off the proxy: ${r.url()}`);
  });
  await page.goto(url);
  return watched;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.locator("#key").fill(key);
  await page.locator("#login button[type=submit]").click();
}

const exactUsd = async (page: Page, tile: string) => page.locator(`#${tile} strong [data-usd]`).getAttribute("data-usd");

describe("dashboard", () => {
  it("shows spend, budgets, savings, top spenders, alerts and the latest requests, as /v1/costs says", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, {
      overrides: {
        cache: { enabled: true },
        budgets: {
          alert_thresholds: [0.5, 0.8, 1.0],
          global: { daily: 0.05, monthly: 2 },
          teams: { research: { daily: 0.04 } },
          keys: { ci: { daily: 0.02, monthly: 0.03 } },
        },
      },
    });
    const sent = await populate(l);
    const costs = await (await l.admin("/v1/costs?days=30")).json();
    const alerts = await (await l.admin("/v1/costs/alerts")).json();
    expect(costs.total_requests).toBe(sent);
    expect(alerts.warnings.length).toBeGreaterThan(0);

    const { page, consoleErrors, pageErrors } = await open(`${l.proxy.url}/dashboard?refresh=1`);
    await expect(page.locator("#login").isVisible()).resolves.toBe(true);
    await signIn(page, LEDGER_ADMIN);
    await page.locator("#daily-chart canvas").waitFor();

    // The totals are /v1/costs' own numbers, formatted as the server formats USD.
    for (const [tile, value] of [
      ["tile-today", costs.today_cost],
      ["tile-month", costs.month_cost],
      ["tile-period", costs.total_cost],
      ["tile-saved", costs.savings.total],
    ] as const) {
      expect(await exactUsd(page, tile)).toBe(String(value));
      expect(await page.locator(`#${tile} strong`).textContent()).toBe(formatUsd(usdToNano(value)).replace(/^\$(\d+)(\.\d\d)$/, (_, a, b) => `$${Number(a).toLocaleString("en-US")}${b}`));
    }
    expect(await page.locator("#tile-requests strong").textContent()).toBe(String(sent));

    // The chart drew bars: its canvas has painted pixels in the tiers' colours.
    const painted = await page.locator("#daily-chart canvas").evaluate((canvas: HTMLCanvasElement) => {
      const { data } = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 2]! > 200 && data[i]! < 100 && data[i + 3]! > 0) n++;
      return n;
    });
    expect(painted).toBeGreaterThan(200);
    const legend = await page.locator("#daily-chart .u-legend .u-label").allTextContents();
    expect(legend).toEqual(["day", "premium", "standard", "economy"]);

    // A gauge per budget window, its alert thresholds marked, its figures those of /v1/costs/alerts.
    const ciDaily = page.locator('.gauge[data-scope="key ci"][data-window="daily"]');
    expect(await ciDaily.locator(".mark").count()).toBe(3);
    const ciAlerts = alerts.scopes.find((s: any) => s.scope === "key" && s.id === "ci").windows.daily;
    expect(await ciDaily.locator("[data-usd]").first().getAttribute("data-usd")).toBe(String(ciAlerts.spent));
    expect(await page.locator("#alerts li").allTextContents()).toEqual(alerts.warnings);

    expect(await page.locator("#savings").textContent()).toContain("Response cache");
    expect(costs.savings.cache.hits).toBeGreaterThan(0);
    expect(await page.locator("#top-keys tr").count()).toBe(1 + Object.keys(costs.by_key).length);
    expect(await page.locator("#top-teams tr td").first().textContent()).toBe("research");
    const records = await (await l.admin("/v1/costs/records?limit=20")).json();
    expect(await page.locator("#latest tr[data-request-id]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-request-id")))).toEqual(
      records.data.map((r: { request_id: string }) => r.request_id),
    );
    expect(await page.locator("#latest .source.cache").count()).toBeGreaterThan(0);

    const shot = join(mkdtempSync(join(tmpdir(), "tollgate-dashboard-")), "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    // TOLLGATE_DOCS_SCREENSHOT=1 refreshes the README's picture.
    if (process.env.TOLLGATE_DOCS_SCREENSHOT) copyFileSync(shot, join(import.meta.dirname, "../../docs/dashboard.png"));

    // It refreshes itself: a new request shows up without a reload.
    await l.ask("app");
    await expect.poll(() => page.locator("#tile-requests strong").textContent(), { timeout: 15_000 }).toBe(String(sent + 1));

    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();

    // Phone width: one column, nothing wider than the screen.
    const phone = await open(`${l.proxy.url}/dashboard`, { width: 390, height: 844 });
    await signIn(phone.page, LEDGER_ADMIN);
    await phone.page.locator("#daily-chart canvas").waitFor();
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const now = await (await l.admin("/v1/costs?days=30")).json();
    expect(await exactUsd(phone.page, "tile-today")).toBe(String(now.today_cost));
    expect(phone.consoleErrors).toEqual([]);
    expect(phone.pageErrors).toEqual([]);
    await phone.page.close();
  });

  it("says so when the key is wrong, and shows nothing", async () => {
    const l = await startLedgerProxy(upstream.baseUrl, { store: "memory", ledger: false });
    const { page, consoleErrors, pageErrors } = await open(`${l.proxy.url}/dashboard`);
    await signIn(page, "sk-not-the-admin-key");
    await expect.poll(() => page.locator("#login-error").textContent()).toBe("That admin key was refused.");
    expect(await page.locator("#board").isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("tollgate.adminKey"))).toBeNull();
    expect(pageErrors).toEqual([]);
    // The browser itself logs each refused request (a 401); the page logs nothing else.
    expect(consoleErrors.filter((m) => !/status of 401/.test(m))).toEqual([]);
    // The key works once corrected, in the same tab.
    await signIn(page, LEDGER_ADMIN);
    await page.locator("#daily-chart canvas").waitFor();
    expect(await exactUsd(page, "tile-today")).toBe("0");
    await page.close();
  });
});
