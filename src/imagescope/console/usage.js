// Usage: what the key's account did, per model and UTC day (invocations, outcomes, success
// rate, images, free images, spend), and the free quota left per model: GET /api/v1/usage,
// with the key itself. The server-wide report, any account, is the Admin page's.

import { call, describe } from "./api.js";
import { alertBox, field, fill, h, table } from "./dom.js";

const SPANS = [7, 30, 90]; // days the page offers; the API takes 1–90

/** A rate of 0–1 (null: nothing finished) as a percentage. */
export function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${Math.round(100 * rate)}%`;
}

export function dollars(amount) {
  return `$${amount.toFixed(4)}`;
}

function usageRows(usage) {
  return usage.map((r) => [
    r.date,
    r.model,
    r.invocations,
    r.succeeded,
    r.failed,
    r.canceled,
    percent(r.success_rate),
    r.images,
    r.free_images,
    dollars(r.spend),
  ]);
}

function quotaRows(quotas) {
  const now = Date.now() / 1000;
  return quotas.map((q) => [
    q.model,
    q.free_quota,
    q.used,
    now > q.expires_at ? "0 (expired)" : q.left,
    new Date(q.expires_at * 1000).toLocaleDateString(),
  ]);
}

async function show(slot, days) {
  const body = await call("GET", `/api/v1/usage?days=${days}`);
  const total = body.usage.reduce((sum, r) => sum + r.spend, 0);
  fill(
    slot,
    h("h3", {}, `Per model and day, last ${body.days} days`),
    h(
      "p",
      { class: "hint" },
      "Days are UTC. Invocations count on the day they were submitted; images, free images and spend on the day they were charged. ",
      "Success rate: succeeded of finished; canceled tasks do not count. Only successful images are charged, free quota first.",
    ),
    body.usage.length
      ? table(["Day (UTC)", "Model", "Invocations", "Succeeded", "Failed", "Canceled", "Success rate", "Images", "Free images", "Spend"], usageRows(body.usage), `Spend in all: ${dollars(total)}`)
      : h("p", {}, "Nothing in these days: make some images in the Playground."),
    h("h3", {}, "Free quota left"),
    table(["Model", "Free quota", "Used", "Left", "Expires"], quotaRows(body.free_quota), "Free images per model"),
  );
}

export function mountUsage(container) {
  const problem = alertBox();
  const days = h("select", {}, SPANS.map((d) => h("option", { value: String(d), selected: d === 30 }, `${d} days`)));
  const mine = h("div", { class: "card" }, h("p", {}, "Counting…"));
  const refresh = () => {
    problem.show("");
    show(mine, days.value).catch((error) => problem.show(describe(error)));
  };
  days.addEventListener("change", refresh);
  fill(container, h("h2", {}, "Usage"), field("Days", days), problem.element, mine);
  refresh();
}
