// Usage: what the key's account did, per model and UTC day (invocations, outcomes, success
// rate, images, free images, seconds of video where a video model was used, spend), and the
// free quota left per model (images, or seconds of video): GET /api/v1/usage, with the key
// itself. The server-wide report, any account, is the Admin page's.

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

const HEADERS = ["Day (UTC)", "Model", "Invocations", "Succeeded", "Failed", "Canceled", "Success rate", "Images", "Free images"];

/** The rows, with seconds of video after the images where `video` (a video model is listed). */
function usageRows(usage, video) {
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
    ...(video ? [r.video_seconds ?? 0, r.free_video_seconds ?? 0] : []),
    dollars(r.spend),
  ]);
}

/** A quota amount in its unit: images as a plain number, seconds of video as "50 s". */
function amount(value, unit) {
  return unit === "seconds" ? `${value} s` : value;
}

function quotaRows(quotas) {
  const now = Date.now() / 1000;
  return quotas.map((q) => [
    q.model,
    amount(q.free_quota, q.unit),
    amount(q.used, q.unit),
    now > q.expires_at ? "0 (expired)" : amount(q.left, q.unit),
    new Date(q.expires_at * 1000).toLocaleDateString(),
  ]);
}

async function show(slot, days, videoModels) {
  const body = await call("GET", `/api/v1/usage?days=${days}`);
  const total = body.usage.reduce((sum, r) => sum + r.spend, 0);
  const video = body.usage.some((r) => videoModels.has(r.model) || r.video_seconds > 0);
  const headers = [...HEADERS, ...(video ? ["Video seconds", "Free video seconds"] : []), "Spend"];
  fill(
    slot,
    h("h3", {}, `Per model and day, last ${body.days} days`),
    h(
      "p",
      { class: "hint" },
      "Days are UTC. Invocations count on the day they were submitted; images, free images and spend on the day they were charged. ",
      "Success rate: succeeded of finished; canceled tasks do not count. Only successful images are charged, free quota first.",
      video ? " Video models count seconds of video instead of images, and are charged by the second." : "",
    ),
    body.usage.length
      ? table(headers, usageRows(body.usage, video), `Spend in all: ${dollars(total)}`)
      : h("p", {}, "Nothing in these days: make some images in the Playground."),
    h("h3", {}, "Free quota left"),
    table(["Model", "Free quota", "Used", "Left", "Expires"], quotaRows(body.free_quota), "Free images (video models: seconds of video) per model"),
  );
}

export function mountUsage(container, catalog) {
  const videoModels = new Set(catalog.models.filter((m) => m.rules.video).map((m) => m.model));
  const problem = alertBox();
  const days = h("select", {}, SPANS.map((d) => h("option", { value: String(d), selected: d === 30 }, `${d} days`)));
  const mine = h("div", { class: "card" }, h("p", {}, "Counting…"));
  const refresh = () => {
    problem.show("");
    show(mine, days.value, videoModels).catch((error) => problem.show(describe(error)));
  };
  days.addEventListener("change", refresh);
  fill(container, h("h2", {}, "Usage"), field("Days", days), problem.element, mine);
  refresh();
}
