// tollgate's dashboard: reads /v1/costs, /v1/costs/alerts and /v1/costs/records with the admin
// key (kept in sessionStorage, so only for this tab), draws them, and reads them again every 30 s.
// Every number shown is one of those endpoints' numbers, formatted, never recomputed.
// The Keys page (#keys) is keys.js, which uses the helpers this file hands it (window.tollgate).
(() => {
  "use strict";

  const KEY = "tollgate.adminKey";
  const REFRESH_MS = Number(new URLSearchParams(location.search).get("refresh") || 30) * 1000;
  const TIERS = ["economy", "standard", "premium"];
  const COLORS = { economy: "#3b82f6", standard: "#f59e0b", premium: "#a855f7" };
  const $ = (id) => document.getElementById(id);

  class AuthError extends Error {}

  let chart = null;
  let timer = null;

  /** USD as the server's formatUsd writes it: cents from $1, else enough digits to mean something. */
  function usd(value) {
    if (value === 0 || Math.abs(value) >= 1) {
      return "$" + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    const precise = value.toFixed(6).replace(/0+$/, "");
    return "$" + (precise.length < 5 ? value.toFixed(2) : precise);
  }

  /** An element with text, attributes and children. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (name === "class") node.className = value;
      else if (name === "style") Object.assign(node.style, value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  /** A money figure: formatted text, the exact number in data-usd and the title. */
  function money(value) {
    return el("span", { "data-usd": String(value), title: String(value) }, usd(value));
  }

  async function api(path, method = "GET", payload = undefined) {
    const headers = { authorization: "Bearer " + sessionStorage.getItem(KEY) };
    if (payload !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(path, { method, headers, body: payload === undefined ? undefined : JSON.stringify(payload), cache: "no-store" });
    if (res.status === 401) throw new AuthError("That admin key was refused.");
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error((body && body.error && body.error.message) || res.status + " " + res.statusText);
    return body;
  }

  let page = null;

  /** The page the address names (#keys, else spend); keys.js is told when its page opens. */
  function showPage() {
    const next = location.hash === "#keys" ? "keys" : "spend";
    $("board").hidden = next !== "spend";
    $("keys-page").hidden = next !== "keys";
    $("nav").hidden = false;
    if (next === "keys" && page !== "keys") document.dispatchEvent(new Event("tollgate:keys"));
    page = next;
  }

  function showLogin(message) {
    clearTimeout(timer);
    page = null;
    $("board").hidden = true;
    $("keys-page").hidden = true;
    $("nav").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("key").focus();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [costs, alerts, records] = await Promise.all([api("v1/costs?days=30"), api("v1/costs/alerts"), api("v1/costs/records?limit=20")]);
      $("login").hidden = true;
      showPage();
      $("forget").hidden = false;
      $("error").hidden = true;
      render(costs, alerts, records);
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + " · " + costs.source;
    } catch (err) {
      if (err instanceof AuthError) {
        sessionStorage.removeItem(KEY);
        showLogin(err.message);
        return;
      }
      // Keep what is shown; say why it is not fresh. On the first read nothing is shown yet: open
      // the page anyway, so the reason shows (and the Keys page, which needs none of this, works).
      $("error").textContent = "Could not refresh: " + err.message;
      $("error").hidden = false;
      if (page === null) {
        $("login").hidden = true;
        $("forget").hidden = false;
        showPage();
      }
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function render(costs, alerts, records) {
    renderTiles(costs);
    renderDaily(costs);
    renderBudgets(alerts);
    renderSavings(costs.savings);
    renderTop($("top-keys"), "Key", costs.by_key);
    renderTop($("top-teams"), "Team", costs.by_team);
    renderAlerts(alerts.warnings);
    renderLatest(records.data);
  }

  function renderTiles(costs) {
    const tiles = {
      "tile-today": money(costs.today_cost),
      "tile-month": money(costs.month_cost),
      "tile-period": money(costs.total_cost),
      "tile-requests": costs.total_requests.toLocaleString("en-US"),
      "tile-avg": money(costs.avg_cost_per_request),
      "tile-saved": money(costs.savings.total),
    };
    for (const [id, value] of Object.entries(tiles)) $(id).querySelector("strong").replaceChildren(value);
  }

  /** The period's days, oldest first, each with its cost per tier (0 where nothing was spent). */
  function dailySeries(costs) {
    const byDay = new Map(costs.by_day.map((d) => [d.day, d]));
    const days = [];
    for (let t = Date.parse(costs.from + "T00:00:00Z"); t <= Date.parse(costs.to + "T00:00:00Z"); t += 86400000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    const perTier = TIERS.map((tier) => days.map((d) => (byDay.get(d) && byDay.get(d).by_tier[tier] ? byDay.get(d).by_tier[tier].cost : 0)));
    return { days, perTier };
  }

  function renderDaily(costs) {
    const { days, perTier } = dailySeries(costs);
    const xs = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
    // Stacked bars: each series is drawn as the sum of its tier and the tiers below it, tallest first.
    const stacked = perTier.map((_, i) => xs.map((__, j) => perTier.slice(0, i + 1).reduce((sum, s) => sum + s[j], 0)));
    const order = [2, 1, 0];
    const data = [xs, ...order.map((i) => stacked[i])];
    const box = $("daily-chart");
    const width = Math.max(280, box.clientWidth);
    const height = window.innerWidth < 760 ? 220 : 280;
    const bars = uPlot.paths.bars({ size: [0.7, 40] });
    const opts = {
      width,
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      legend: { live: true },
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { space: 60, values: (u, splits) => splits.map((s) => new Date(s * 1000).toISOString().slice(5, 10)) },
        { size: 70, values: (u, splits) => splits.map((s) => usd(s)) },
      ],
      series: [
        { label: "day", value: (u, v) => (v === null || v === undefined ? "" : new Date(v * 1000).toISOString().slice(0, 10)) },
        ...order.map((i) => ({
          label: TIERS[i],
          stroke: COLORS[TIERS[i]],
          fill: COLORS[TIERS[i]],
          paths: bars,
          points: { show: false },
          // The legend shows the tier's own spend, not the stacked height.
          value: (u, v, s, idx) => (idx === null || idx === undefined ? "" : usd(perTier[i][idx])),
        })),
      ],
    };
    if (chart) chart.destroy();
    chart = new uPlot(opts, data, box);
  }

  function renderBudgets(alerts) {
    const rows = [];
    for (const scope of alerts.scopes) {
      const name = scope.scope + (scope.id ? " " + scope.id : "");
      for (const [windowName, w] of Object.entries(scope.windows)) {
        if (w.limit === null) {
          rows.push(el("div", { class: "gauge" }, el("div", { class: "label" }, el("b", {}, name + " · " + windowName), el("span", {}, money(w.spent), " spent, no limit"))));
          continue;
        }
        const share = w.limit > 0 ? w.spent / w.limit : 1;
        const crossed = w.thresholds_crossed.length > 0;
        const fill = el("div", { class: "fill" + (share >= 1 ? " over" : crossed ? " warn" : ""), style: { width: Math.min(100, share * 100) + "%" } });
        const marks = alerts.thresholds
          .filter((t) => t <= 1)
          .map((t) => el("div", { class: "mark", title: Math.round(t * 100) + "% alert", style: { left: "calc(" + t * 100 + "% - 1px)" } }));
        rows.push(
          el(
            "div",
            { class: "gauge", "data-scope": name, "data-window": windowName },
            el("div", { class: "label" }, el("b", {}, name + " · " + windowName), el("span", {}, money(w.spent), " of ", money(w.limit), " (" + Math.round(share * 100) + "%)")),
            el("div", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": w.limit, "aria-valuenow": w.spent }, fill, ...marks),
            forecastLine(w.forecast, windowName === "daily" ? scope.burn_rate.last_hour : scope.burn_rate.last_day),
          ),
        );
      }
    }
    $("budgets").replaceChildren(...(rows.length ? rows : [el("p", { class: "muted" }, "No budgets configured.")]));
  }

  /** When the limit runs out at the window's rate (the last hour's for a day, the last day's for a month). */
  function forecastLine(forecast, perHour) {
    if (!forecast) return null;
    const rate = [money(perHour), "/h over the " + (forecast.rate === "last_hour" ? "last hour" : "last day")];
    if (forecast.reaches_limit_at === null) return el("div", { class: "forecast muted" }, ...rate, ": no spend, no forecast");
    const at = new Date(forecast.reaches_limit_at);
    const text = forecast.before_window_end ? "runs out " + at.toLocaleString() : "lasts the window (would run out " + at.toLocaleString() + ")";
    return el("div", { class: "forecast" + (forecast.before_window_end ? " soon" : " muted"), "data-reaches": forecast.reaches_limit_at, title: forecast.reaches_limit_at }, ...rate, ": " + text);
  }

  function renderSavings(savings) {
    const items = [
      ["Routing", savings.routing, null],
      ["Response cache", savings.cache.usd, savings.cache.hits + " hits"],
      ["Prompt optimizer", savings.prompt_optimizer.usd, savings.prompt_optimizer.tokens + " tokens"],
      ["Context fit", savings.context_fit.usd, savings.context_fit.tokens + " tokens"],
    ];
    const top = Math.max(...items.map(([, v]) => Math.max(0, v)), 1e-12);
    const table = el("table", { class: "bars" });
    for (const [label, value, detail] of items) {
      table.append(
        el("tr", {}, el("td", {}, label), el("td", { class: "num" }, money(value)), el("td", { class: "bar" }, el("div", { class: "bar-track" }, el("div", { style: { width: (Math.max(0, value) / top) * 100 + "%" } }))), el("td", { class: "muted" }, detail)),
      );
    }
    const limits = savings.output_limits;
    table.append(el("tr", {}, el("td", {}, "Output limits"), el("td", { class: "num" }, limits.requests + " req"), el("td", { class: "muted", colspan: 2 }, limits.capped_by_budget + " capped to fit a budget")));
    $("savings").replaceChildren(el("p", { class: "muted" }, "Total saved against the requested models: ", money(savings.total)), table);
  }

  function renderTop(table, label, groups) {
    const rows = Object.entries(groups).sort((a, b) => b[1].cost - a[1].cost).slice(0, 8);
    const top = rows.length ? Math.max(rows[0][1].cost, 1e-12) : 1;
    table.replaceChildren(
      el("tr", {}, el("th", {}, label), el("th", { class: "num" }, "Requests"), el("th", { class: "num" }, "Cost"), el("th", {}, "")),
      ...rows.map(([name, g]) =>
        el("tr", {}, el("td", {}, name), el("td", { class: "num" }, g.requests.toLocaleString("en-US")), el("td", { class: "num" }, money(g.cost)), el("td", { class: "bar" }, el("div", { class: "bar-track" }, el("div", { style: { width: (g.cost / top) * 100 + "%" } })))),
      ),
    );
    if (!rows.length) table.append(el("tr", {}, el("td", { class: "muted", colspan: 4 }, "Nothing yet.")));
  }

  function renderAlerts(warnings) {
    $("alerts").replaceChildren(...(warnings.length ? warnings.map((w) => el("li", {}, w)) : [el("li", { class: "none" }, "No budget is past an alert threshold.")]));
  }

  function renderLatest(records) {
    const head = el("tr", {}, ...["Time", "Key", "Model", "Tier", "Route", "Tokens in / cached / out", "Cost", "Latency", "Usage"].map((h, i) => el("th", { class: i >= 5 && i <= 7 ? "num" : null }, h)));
    const rows = records.map((r) => {
      const source = r.cache_hit ? "cache" : r.usage_source;
      return el(
        "tr",
        { "data-request-id": r.request_id },
        el("td", { title: r.time }, new Date(r.time).toLocaleString()),
        el("td", {}, r.key_id || "—"),
        el("td", {}, r.routed_model),
        el("td", {}, r.tier || "—"),
        el("td", {}, r.route),
        el("td", { class: "num" }, r.input_tokens + " / " + r.cached_tokens + " / " + r.output_tokens),
        el("td", { class: "num" }, money(r.cost_nano / 1e9)),
        el("td", { class: "num" }, r.latency_ms + " ms"),
        el("td", {}, el("span", { class: "source " + source }, source === "cache" ? "cached" : source)),
      );
    });
    $("latest").replaceChildren(head, ...(rows.length ? rows : [el("tr", {}, el("td", { class: "muted", colspan: 9 }, "No requests yet."))]));
  }

  /** What keys.js needs: the same elements, money, requests, and the way back to the login. */
  window.tollgate = {
    el,
    money,
    api,
    AuthError,
    signOut(message) {
      sessionStorage.removeItem(KEY);
      showLogin(message);
    },
  };
  window.addEventListener("hashchange", () => {
    if (page !== null) showPage();
  });

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    $("login-error").textContent = "";
    refresh();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    showLogin("");
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => chart && chart.setSize({ width: Math.max(280, $("daily-chart").clientWidth), height: window.innerWidth < 760 ? 220 : 280 }), 100);
  });

  if (sessionStorage.getItem(KEY)) refresh();
  else showLogin("");
})();
