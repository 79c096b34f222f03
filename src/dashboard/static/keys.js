// The dashboard's Keys page (#keys): lists keys from /v1/admin/keys, creates one (its secret shown
// once, here, and nowhere again), revokes one, and edits a key's budgets and limits. Every change
// is a call to the admin API; the list is then read again from it, never patched in place.
(() => {
  "use strict";

  const { el, money, api, AuthError, signOut } = window.tollgate;
  const $ = (id) => document.getElementById(id);
  const LIMITS = [
    ["daily", "Daily", "usd"],
    ["monthly", "Monthly", "usd"],
    ["per_request", "Per request", "usd"],
    ["rpm", "RPM", "count"],
    ["tpm", "TPM", "count"],
  ];
  const TIERS = ["economy", "standard", "premium"];

  /** Runs an admin call; a refusal of the key goes back to the login, any other error is shown. */
  async function attempt(run) {
    $("keys-error").hidden = true;
    try {
      return await run();
    } catch (err) {
      if (err instanceof AuthError) signOut(err.message);
      else {
        $("keys-error").textContent = err.message;
        $("keys-error").hidden = false;
      }
      return undefined;
    }
  }

  /** The budgets a set of inputs names: an empty one sets no limit. */
  function budgetsFrom(inputs) {
    const budgets = {};
    for (const [name] of LIMITS) {
      const value = inputs[name].value.trim();
      if (value !== "") budgets[name] = Number(value);
    }
    return budgets;
  }

  function limitCell(key, name, kind) {
    const value = key.budgets[name];
    if (value === undefined) return el("td", { class: "num muted" }, "—");
    return el("td", { class: "num", "data-limit": name }, kind === "usd" ? money(value) : value.toLocaleString("en-US"));
  }

  async function load() {
    const list = await attempt(() => api("v1/admin/keys"));
    if (!list) return;
    const head = el("tr", {}, el("th", {}, "ID"), el("th", {}, "Team"), ...LIMITS.map(([, label]) => el("th", { class: "num" }, label)), el("th", {}, "Max tier"), el("th", {}, "Secret"), el("th", {}, ""));
    const rows = list.data.map((key) =>
      el(
        "tr",
        { "data-key": key.id },
        el("td", {}, key.id),
        el("td", {}, key.team || "—"),
        ...LIMITS.map(([name, , kind]) => limitCell(key, name, kind)),
        el("td", {}, key.max_tier || "any"),
        el("td", { class: "muted" }, key.source === "config" ? "configuration" : "…" + key.secret_hint),
        el("td", {}, ...(key.source === "config" ? [] : actions(key))),
      ),
    );
    $("keys-table").replaceChildren(head, ...(rows.length ? rows : [el("tr", {}, el("td", { class: "muted", colspan: 10 }, "No keys yet."))]));
  }

  function actions(key) {
    const edit = el("button", { type: "button", "data-action": "edit" }, "Edit");
    edit.addEventListener("click", () => startEdit(key));
    // Two clicks: a revoked key cannot be brought back, and a confirm() dialog would block the page.
    const revoke = el("button", { type: "button", class: "danger", "data-action": "revoke" }, "Revoke");
    revoke.addEventListener("click", async () => {
      if (revoke.dataset.armed !== "yes") {
        revoke.dataset.armed = "yes";
        revoke.textContent = "Confirm revoke";
        return;
      }
      if ((await attempt(() => api("v1/admin/keys/" + encodeURIComponent(key.id), "DELETE"))) !== undefined) await load();
    });
    return [edit, " ", revoke];
  }

  /** The key's row becomes a form of its limits and tier; Save sends them as they are. */
  function startEdit(key) {
    const row = document.querySelector(`tr[data-key="${CSS.escape(key.id)}"]`);
    const inputs = {};
    const cells = LIMITS.map(([name, label, kind]) => {
      inputs[name] = el("input", { name, type: "number", min: kind === "usd" ? 0 : 1, step: kind === "usd" ? "any" : 1, "aria-label": label });
      if (key.budgets[name] !== undefined) inputs[name].value = String(key.budgets[name]);
      return el("td", {}, inputs[name]);
    });
    const tier = el("select", { name: "max_tier", "aria-label": "Max tier" }, el("option", { value: "" }, "any"), ...TIERS.map((t) => el("option", { value: t }, t)));
    tier.value = key.max_tier || "";
    const save = el("button", { type: "button", "data-action": "save" }, "Save");
    const cancel = el("button", { type: "button", "data-action": "cancel" }, "Cancel");
    save.addEventListener("click", async () => {
      const body = { budgets: budgetsFrom(inputs), max_tier: tier.value || null };
      if ((await attempt(() => api("v1/admin/keys/" + encodeURIComponent(key.id), "PATCH", body))) !== undefined) await load();
    });
    cancel.addEventListener("click", load);
    row.replaceChildren(el("td", {}, key.id), el("td", {}, key.team || "—"), ...cells, el("td", {}, tier), el("td", { class: "muted" }, "…" + key.secret_hint), el("td", {}, save, " ", cancel));
  }

  $("new-key").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { budgets: budgetsFrom(form.elements) };
    for (const name of ["id", "team", "max_tier"]) {
      const value = form.elements[name].value.trim();
      if (value !== "") body[name] = value;
    }
    const created = await attempt(() => api("v1/admin/keys", "POST", body));
    if (!created) return;
    form.reset();
    $("new-secret-id").textContent = created.id;
    $("new-secret-value").textContent = created.key;
    $("new-secret").hidden = false;
    await load();
  });

  function open() {
    // A secret shown before stays only until the page is left.
    $("new-secret").hidden = true;
    $("new-secret-value").textContent = "";
    void load();
  }
  document.addEventListener("tollgate:keys", open);
  // dashboard.js opens the page once the spend data has answered, which can be before this script
  // has arrived (a slow download): then nobody heard the event, and the page is already showing.
  if (!$("keys-page").hidden) open();
})();
