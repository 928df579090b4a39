// Admin, with the deployment's admin token (IMAGESCOPE_ADMIN_TOKEN): accounts, keys (a new key
// is shown once; revoke), per-model limits, free quota and free-only, and the server's usage
// report over every account, through /admin/v1.

import { ApiError, call, describe, session } from "./api.js";
import { alertBox, checkbox, field, fill, formatTime, h, table } from "./dom.js";
import { dollars, percent } from "./usage.js";

const DAY_S = 86400;

function adminWords(error) {
  if (error instanceof ApiError && error.status === 404) {
    return "The admin API is off on this server: start it with IMAGESCOPE_ADMIN_TOKEN set.";
  }
  if (error instanceof ApiError && error.status === 401) return `The admin token was not accepted: ${error.message}`;
  return describe(error);
}

function admin(method, path, body) {
  return call(method, `/admin/v1${path}`, { body, token: session.adminToken });
}

function tokenForm(onOpen) {
  const token = h("input", { type: "password", autocomplete: "off", required: true });
  const problem = alertBox();
  const form = h("form", { class: "card" }, h("h2", {}, "Admin"), field("Admin token", token), h("button", { type: "submit" }, "Open admin"), problem.element);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.show("");
    try {
      await call("GET", "/admin/v1/accounts", { token: token.value.trim() });
      session.adminToken = token.value.trim();
      onOpen();
    } catch (error) {
      problem.show(adminWords(error));
    }
  });
  return form;
}

/** A small form: fields, a button, its own alert; run() does the call. */
function action(title, button, fields, run, ...after) {
  const problem = alertBox();
  const done = h("p", { class: "done", role: "status" });
  const form = h("form", { class: "card action" }, h("h3", {}, title), fields.map(([label, control]) => field(label, control)), h("button", { type: "submit" }, button), problem.element, done, ...after);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.show("");
    done.textContent = "";
    try {
      done.textContent = (await run()) || "";
    } catch (error) {
      problem.show(adminWords(error));
    }
  });
  return form;
}

// A key just made: shown by the next render only, then forgotten (it is shown once).
let madeKey = "";

function count(input) {
  return input.value === "" ? undefined : Number(input.value);
}

/** A row's output: images, or a video model's seconds of video ("5 s"). */
function made(row, free) {
  if (row.video_seconds || row.free_video_seconds) return `${free ? row.free_video_seconds : row.video_seconds} s`;
  return free ? row.free_images : row.images;
}

/** Free images (a video model's: seconds) left per account and model, from the accounts, the rules and the usage rows. */
function quotaRows(accounts, usage, catalog) {
  const now = Date.now() / 1000;
  const rows = [];
  for (const account of accounts) {
    for (const model of catalog.models) {
      const own = account.settings[model.model]?.free_quota ?? account.settings["*"]?.free_quota;
      const quota = own ?? model.rules.free_quota;
      const video = Boolean(model.rules.video);
      const taken = (r) => (video ? r.free_video_seconds || 0 : r.free_images);
      const used = usage.filter((r) => r.account === account.name && r.model === model.model).reduce((sum, r) => sum + taken(r), 0);
      if (!used && own === undefined) continue; // untouched: the full default, not worth a row
      const expired = now > account.activated_at + model.rules.free_quota_days * DAY_S;
      const unit = (n) => (video ? `${n} s` : n);
      rows.push([account.name, model.model, unit(quota), unit(used), expired ? "0 (expired)" : unit(Math.max(quota - used, 0))]);
    }
  }
  return rows;
}

/** The server's usage report: every account, per UTC day and model, for 90 days. */
async function serverReport(slot, accounts, catalog) {
  const since = Math.floor(Date.now() / 1000) - 90 * DAY_S;
  const report = await admin("GET", `/usage?granularity=day&start=${since}`);
  const cells = report.usage.map((r) => [r.period, r.account, r.model, r.invocations, percent(r.success_rate), made(r, false), made(r, true), dollars(r.spend)]);
  const quota = quotaRows(accounts, report.usage, catalog);
  fill(
    slot,
    h("h3", {}, "Server usage report"),
    h("p", { class: "hint" }, "Per UTC day, account and model, for the last 90 days."),
    cells.length
      ? table(["Day (UTC)", "Account", "Model", "Invocations", "Success rate", "Images (video: seconds)", "Free images (video: seconds)", "Spend"], cells, "Usage of every account")
      : h("p", {}, "Nothing yet."),
    quota.length
      ? table(["Account", "Model", "Free quota", "Used", "Left"], quota, "Free quota left")
      : h("p", {}, "Every account still has its whole free quota."),
  );
}

async function render(container, catalog, refresh) {
  const [{ accounts }, { keys }] = await Promise.all([admin("GET", "/accounts"), admin("GET", "/keys")]);
  const accountSelect = () => h("select", {}, accounts.map((a) => h("option", { value: a.name }, a.name)));
  const rowProblem = alertBox();

  const accountRows = accounts.map((account) => {
    const freeOnly = checkbox("free only", account.free_only, { "aria-label": `Free only: ${account.name}` });
    freeOnly.box.addEventListener("change", async () => {
      try {
        await admin("PUT", `/accounts/${encodeURIComponent(account.name)}/free-only`, { free_only: freeOnly.box.checked });
      } catch (error) {
        rowProblem.show(adminWords(error));
      }
    });
    const overrides = Object.entries(account.settings).map(([model, values]) =>
      `${model}: ${Object.entries(values).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    );
    return [account.name, formatTime(account.activated_at * 1000), freeOnly.element, overrides.join("; ") || "defaults"];
  });
  const keyRows = keys.map((key) => [
    String(key.id),
    key.account,
    key.workspace,
    key.name,
    `${key.prefix}…`,
    key.revoked
      ? "revoked"
      : h("button", { type: "button", on: { click: () => admin("DELETE", `/keys/${key.id}`).then(refresh, (e) => rowProblem.show(adminWords(e))) } }, `Revoke key ${key.id}`),
  ]);

  const newAccount = h("input", { maxlength: 128 });
  const keyAccount = accountSelect();
  const keyName = h("input", { maxlength: 128 });
  const newKey = h("output", { class: "secret" }, madeKey);
  madeKey = "";
  const limitAccount = accountSelect();
  const limitModel = h("select", {}, h("option", { value: "*" }, "every model"), catalog.models.map((m) => h("option", { value: m.model }, m.model)));
  const rps = h("input", { type: "number", min: 1 });
  const concurrency = h("input", { type: "number", min: 1 });
  const quotaAccount = accountSelect();
  const quotaModel = limitModel.cloneNode(true);
  const quota = h("input", { type: "number", min: 0, required: true });
  const report = h("div", { class: "card" }, h("p", {}, "Counting…"));
  serverReport(report, accounts, catalog).catch((error) => fill(report, h("p", { class: "error", role: "alert" }, `Usage report: ${adminWords(error)}`)));

  fill(
    container,
    h("div", { class: "admin-head" }, h("h2", {}, "Admin"), h("button", { type: "button", class: "quiet", on: { click: () => ((session.adminToken = ""), refresh()) } }, "Close admin")),
    rowProblem.element,
    table(["Account", "Activated", "Free only", "Overrides"], accountRows, "Accounts"),
    table(["Id", "Account", "Workspace", "Name", "Key", ""], keyRows, "Keys"),
    h(
      "div",
      { class: "actions-grid" },
      action("New account", "Create account", [["Account name", newAccount]], async () => {
        await admin("POST", "/accounts", { name: newAccount.value });
        refresh();
      }),
      action(
        "New key",
        "Create key",
        [["Key account", keyAccount], ["Key name", keyName]],
        async () => {
          const made = await admin("POST", `/accounts/${encodeURIComponent(keyAccount.value)}/keys`, { name: keyName.value });
          madeKey = made.key;
          refresh();
        },
        field("New key (shown once)", newKey),
        newKey.value ? h("p", { class: "hint" }, "Copy the key now: it is not shown again.") : null,
      ),
      action("Limits", "Save limits", [["Limits account", limitAccount], ["Limits model", limitModel], ["Submissions per second", rps], ["Tasks running at once", concurrency]], async () => {
        await admin("PUT", `/accounts/${encodeURIComponent(limitAccount.value)}/limits`, { model: limitModel.value, submit_rps: count(rps), concurrency: count(concurrency) });
        refresh();
      }),
      action("Free quota", "Save quota", [["Quota account", quotaAccount], ["Quota model", quotaModel], ["Free images", quota]], async () => {
        await admin("PUT", `/accounts/${encodeURIComponent(quotaAccount.value)}/quota`, { model: quotaModel.value, free_quota: Number(quota.value) });
        refresh();
      }),
    ),
    report,
  );
}

export function mountAdmin(container, catalog) {
  const refresh = () => {
    if (!session.adminToken) return fill(container, tokenForm(refresh));
    render(container, catalog, refresh).catch((error) => {
      session.adminToken = "";
      fill(container, tokenForm(refresh));
      container.querySelector("[role=alert]").textContent = adminWords(error);
      container.querySelector("[role=alert]").hidden = false;
    });
  };
  refresh();
}
