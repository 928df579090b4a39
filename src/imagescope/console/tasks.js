// The account's tasks: filtered by model, status and time, a page at a time; each opens with
// its request (model, prompt, parameters, input images and videos), times, outputs (images, or
// a video with its duration) and error, and a waiting or running one can be canceled.

import { TERMINAL, call, describe } from "./api.js";
import { alertBox, field, fill, formatTime, h, table } from "./dom.js";
import { isVideo, progressFraction, resultFigures, statusWords, videoFigure } from "./results.js";

const STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED"];
const PAGE_SIZE = 20;

/** A datetime-local value (the browser's local time) as the API's YYYYMMDDhhmmss in UTC+8. */
export function listTime(value) {
  if (!value) return "";
  const utc8 = new Date(new Date(value).getTime() + 8 * 3600 * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${utc8.getUTCFullYear()}${pad(utc8.getUTCMonth() + 1)}${pad(utc8.getUTCDate())}${pad(utc8.getUTCHours())}${pad(utc8.getUTCMinutes())}${pad(utc8.getUTCSeconds())}`;
}

// The request's input image fields, as the detail names them (images, then video models').
const INPUT_IMAGES = [
  ["base_image_url", "Input image"],
  ["mask_image_url", "Mask"],
  ["img_url", "Input image"],
  ["first_frame_url", "First frame"],
  ["last_frame_url", "Last frame"],
];
// A video request's input clips (VACE), shown as links.
const INPUT_CLIPS = [
  ["video_url", "Input video"],
  ["first_clip_url", "First clip"],
  ["last_clip_url", "Last clip"],
  ["mask_video_url", "Mask video"],
];

/** The images of a request's input, each [name, signed URL]. */
function inputImages(input) {
  const named = INPUT_IMAGES.filter(([field]) => input[field]).map(([field, name]) => [name, input[field]]);
  const listed = (input.images || []).map((url, index) => [`Input image ${index + 1}`, url]);
  const refs = (input.ref_images_url || []).map((url, index) => [`Reference image ${index + 1}`, url]);
  return [...named, ...listed, ...refs];
}

/** The task's request as submitted (GET /api/v1/tasks/{id}/request), filled into slot. */
async function showRequest(slot, taskId, signal) {
  const body = await call("GET", `/api/v1/tasks/${encodeURIComponent(taskId)}/request`, { signal });
  if (!body.request) return fill(slot, h("h4", {}, "Request"), h("p", {}, "The task does not exist or has expired."));
  const { model, input, parameters } = body.request;
  const facts = [
    ["Model", model],
    ["Endpoint", body.endpoint],
    ["Prompt", input.prompt],
    ["Negative prompt", input.negative_prompt],
    ["Function", input.function],
    ...Object.entries(parameters).map(([name, value]) => [name, String(value)]),
  ].filter(([, value]) => value !== undefined && value !== null && value !== "");
  const images = inputImages(input);
  const clips = INPUT_CLIPS.filter(([field]) => input[field]).map(([field, name]) => [name, input[field]]);
  fill(
    slot,
    h("h4", {}, "Request"),
    h("dl", {}, [
      facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
      clips.map(([name, url]) => [h("dt", {}, name), h("dd", {}, h("a", { href: url, target: "_blank", rel: "noopener" }, url))]),
    ]),
    images.length
      ? h(
          "div",
          { class: "figures inputs" },
          images.map(([name, url]) => h("figure", { class: "result" }, h("a", { href: url, target: "_blank", rel: "noopener" }, h("img", { src: url, alt: name })), h("figcaption", {}, name))),
        )
      : null,
  );
}

export function mountTasks(container, catalog) {
  const rulesOf = Object.fromEntries(catalog.models.map((m) => [m.model, m.rules]));
  const model = h("select", {}, h("option", { value: "" }, "Any model"), catalog.models.map((m) => h("option", { value: m.model }, m.model)));
  const status = h("select", {}, h("option", { value: "" }, "Any status"), STATUSES.map((s) => h("option", { value: s }, s)));
  const since = h("input", { type: "datetime-local" });
  const until = h("input", { type: "datetime-local" });
  const problem = alertBox();
  const listing = h("div", { class: "listing" });
  const pager = h("div", { class: "pager" });
  const detail = h("section", { role: "region", "aria-label": "Task detail", class: "card detail", hidden: true });
  const filters = h(
    "form",
    { class: "filters card" },
    field("Model", model),
    field("Status", status),
    field("Submitted from", since),
    field("Submitted until", until),
    h("button", { type: "submit" }, "Show tasks"),
    problem.element,
  );
  fill(container, h("h2", {}, "Tasks"), filters, listing, pager, detail);

  let page = 1;
  let watching = null; // AbortController of the opened task's refresh

  async function load() {
    problem.show("");
    const query = new URLSearchParams({ page_no: String(page), page_size: String(PAGE_SIZE) });
    if (model.value) query.set("model_name", model.value);
    if (status.value) query.set("status", status.value);
    if (since.value) query.set("start_time", listTime(since.value));
    if (until.value) query.set("end_time", listTime(until.value));
    let body;
    try {
      body = await call("GET", `/api/v1/tasks?${query}`);
    } catch (error) {
      return problem.show(describe(error));
    }
    const rows = body.data.map((task) => [
      h("button", { type: "button", class: "link", on: { click: () => open(task.task_id, task.model_name) } }, task.task_id),
      task.model_name,
      rulesOf[task.model_name]?.video ? "video" : "images",
      task.status,
      formatTime(task.gmt_create),
      formatTime(task.end_time),
    ]);
    fill(listing, body.total ? table(["Task", "Model", "Output", "Status", "Submitted", "Ended"], rows, `${body.total} tasks`) : h("p", {}, "No tasks match."));
    fill(
      pager,
      h("button", { type: "button", disabled: page <= 1, on: { click: () => ((page -= 1), load()) } }, "Previous page"),
      ` Page ${body.page_no} of ${Math.max(body.total_page, 1)} `,
      h("button", { type: "button", disabled: page >= body.total_page, on: { click: () => ((page += 1), load()) } }, "Next page"),
    );
  }

  async function open(taskId, modelName) {
    if (watching) watching.abort();
    watching = new AbortController();
    const { signal } = watching;
    detail.hidden = false;
    fill(detail, h("h3", {}, `Task ${taskId}`), h("p", {}, "Loading…"));
    // Read once: a task's request does not change while it runs.
    const request = h("section", { role: "region", "aria-label": "Request", class: "request" }, h("p", {}, "Loading the request…"));
    showRequest(request, taskId, signal).catch((error) => {
      if (!signal.aborted) fill(request, h("p", { class: "error", role: "alert" }, `Request: ${describe(error)}`));
    });
    // Refreshed while the task waits or runs (long-poll), so status and progress stay current.
    let wait = 0;
    while (!signal.aborted) {
      let body;
      try {
        body = await call("GET", `/api/v1/tasks/${encodeURIComponent(taskId)}?wait=${wait}`, { signal });
      } catch (error) {
        if (!signal.aborted) fill(detail, h("h3", {}, `Task ${taskId}`), h("p", { class: "error", role: "alert" }, describe(error)));
        return;
      }
      if (signal.aborted) return; // another task was opened meanwhile
      showDetail(taskId, modelName, body, request);
      if (TERMINAL.has(body.output.task_status)) {
        load();
        return;
      }
      wait = 2;
    }
  }

  function showDetail(taskId, modelName, body, request) {
    const output = body.output;
    const cancelProblem = alertBox();
    const running = output.task_status === "PENDING" || output.task_status === "RUNNING";
    const fraction = progressFraction(output);
    const usage = body.usage || {};
    const video = isVideo(output);
    const facts = [
      ["Model", modelName],
      ["Status", statusWords(output)],
      ["Submitted (UTC+8)", output.submit_time],
      ["Started (UTC+8)", output.scheduled_time],
      ["Ended (UTC+8)", output.end_time],
      ["Images", output.task_metrics ? `${output.task_metrics.SUCCEEDED} of ${output.task_metrics.TOTAL} made` : null],
      ["Video", video ? `${usage.video_duration} s, ${usage.video_ratio}` : null],
      ["Error", output.code ? `${output.code}: ${output.message || ""}` : null],
    ].filter(([, value]) => value);
    fill(
      detail,
      h("h3", {}, `Task ${taskId}`),
      h("dl", {}, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
      fraction === null ? null : h("progress", { max: 1, value: fraction, "aria-label": "Progress" }),
      running
        ? h("button", { type: "button", on: { click: (event) => cancelTask(taskId, modelName, event.target, cancelProblem) } }, "Cancel task")
        : null,
      cancelProblem.element,
      request,
      h("h4", {}, "Results"),
      h("div", { class: "figures" }, video ? videoFigure(taskId, body, null, rulesOf[modelName]) : resultFigures(taskId, output, null)),
    );
  }

  async function cancelTask(taskId, modelName, button, cancelProblem) {
    button.disabled = true;
    try {
      await call("POST", `/api/v1/tasks/${encodeURIComponent(taskId)}/cancel`);
      open(taskId, modelName);
    } catch (error) {
      cancelProblem.show(describe(error));
      button.disabled = false;
    }
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    page = 1;
    load();
  });
  load();
  return () => watching && watching.abort();
}
