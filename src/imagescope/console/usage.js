// Usage: what the key's account did, counted from its tasks (what a key may read: the server
// keeps tasks for a day), and, with the admin token, the server's own report per model and
// day (invocations, success rate, images, spend) and the free quota left.

import { call, describe, session } from "./api.js";
import { alertBox, fill, h, table } from "./dom.js";

const MAX_PAGES = 10; // of 100 tasks each: the listing the console counts from
const DAY_S = 86400;

function rate(succeeded, failed) {
  const finished = succeeded + failed;
  return finished ? `${Math.round((100 * succeeded) / finished)}%` : "–";
}

async function allTasks() {
  const tasks = [];
  for (let page = 1; page <= MAX_PAGES; page += 1) {
    const body = await call("GET", `/api/v1/tasks?page_size=100&page_no=${page}`);
    tasks.push(...body.data);
    if (page >= body.total_page) break;
  }
  return tasks;
}

/** The image count of each succeeded task (usage.image_count), a few queries at a time. */
async function imageCounts(tasks) {
  const counts = new Map();
  const queue = tasks.filter((t) => t.status === "SUCCEEDED");
  async function worker() {
    while (queue.length) {
      const task = queue.shift();
      const body = await call("GET", `/api/v1/tasks/${encodeURIComponent(task.task_id)}`);
      counts.set(task.task_id, body.usage?.image_count ?? 0);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  return counts;
}

function day(ms) {
  return new Date(ms).toLocaleDateString();
}

async function accountUsage(slot) {
  const tasks = await allTasks();
  const counts = await imageCounts(tasks);
  const rows = new Map();
  for (const task of tasks) {
    const key = `${day(task.gmt_create)}\u0000${task.model_name}`;
    const row = rows.get(key) || { day: day(task.gmt_create), model: task.model_name, tasks: 0, SUCCEEDED: 0, FAILED: 0, CANCELED: 0, images: 0 };
    row.tasks += 1;
    if (row[task.status] !== undefined) row[task.status] += 1;
    row.images += counts.get(task.task_id) || 0;
    rows.set(key, row);
  }
  const cells = [...rows.values()].map((r) => [r.day, r.model, r.tasks, r.SUCCEEDED, r.FAILED, r.CANCELED, rate(r.SUCCEEDED, r.FAILED), r.images]);
  fill(
    slot,
    h("h3", {}, "Your account's tasks"),
    h("p", { class: "hint" }, "Counted from the tasks this server keeps (a day's worth). Success rate: succeeded of finished; canceled tasks do not count."),
    cells.length
      ? table(["Day", "Model", "Tasks", "Succeeded", "Failed", "Canceled", "Success rate", "Images"], cells)
      : h("p", {}, "No tasks yet: make some in the Playground."),
  );
}

/** Free images left per account and model, from the accounts, the rules and the usage rows. */
function quotaRows(accounts, usage, catalog) {
  const now = Date.now() / 1000;
  const rows = [];
  for (const account of accounts) {
    for (const model of catalog.models) {
      const own = account.settings[model.model]?.free_quota ?? account.settings["*"]?.free_quota;
      const quota = own ?? model.rules.free_quota;
      const used = usage.filter((r) => r.account === account.name && r.model === model.model).reduce((sum, r) => sum + r.free_images, 0);
      if (!used && own === undefined) continue; // untouched: the full default, not worth a row
      const expired = now > account.activated_at + model.rules.free_quota_days * DAY_S;
      rows.push([account.name, model.model, quota, used, expired ? "0 (expired)" : Math.max(quota - used, 0)]);
    }
  }
  return rows;
}

async function serverUsage(slot, catalog) {
  const token = session.adminToken;
  const since = Math.floor(Date.now() / 1000) - 90 * DAY_S;
  const [report, accounts] = await Promise.all([
    call("GET", `/admin/v1/usage?granularity=day&start=${since}`, { token }),
    call("GET", "/admin/v1/accounts", { token }),
  ]);
  const cells = report.usage.map((r) => [
    r.period,
    r.account,
    r.model,
    r.invocations,
    r.success_rate === null ? "–" : `${Math.round(100 * r.success_rate)}%`,
    r.images,
    r.free_images,
    `$${r.spend.toFixed(4)}`,
  ]);
  const quota = quotaRows(accounts.accounts, report.usage, catalog);
  fill(
    slot,
    h("h3", {}, "Server report (admin)"),
    h("p", { class: "hint" }, "Per UTC day, account and model, for the last 90 days."),
    cells.length
      ? table(["Day (UTC)", "Account", "Model", "Invocations", "Success rate", "Images", "Free images", "Spend"], cells)
      : h("p", {}, "Nothing yet."),
    h("h3", {}, "Free quota left"),
    quota.length
      ? table(["Account", "Model", "Free quota", "Used", "Left"], quota)
      : h("p", {}, "Every account still has its whole free quota."),
  );
}

export function mountUsage(container, catalog) {
  const problem = alertBox();
  const mine = h("div", { class: "card" }, h("p", {}, "Counting…"));
  const server = h("div", { class: "card" });
  fill(container, h("h2", {}, "Usage"), problem.element, mine, server);
  accountUsage(mine).catch((error) => problem.show(describe(error)));
  if (session.adminToken) {
    serverUsage(server, catalog).catch((error) => fill(server, h("p", { class: "error", role: "alert" }, `Server report: ${describe(error)}`)));
  } else {
    fill(
      server,
      h("p", {}, "Spend and the free quota left are kept by the server's operator: sign in on the Admin page with the admin token to see them here."),
    );
  }
}
