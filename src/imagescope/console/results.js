// A task's status and results as the page shows them, in the playground and in a task's detail.

import { resultsOf } from "./api.js";
import { h } from "./dom.js";

/** "RUNNING: image 1 of 2, step 12 of 50" — the task's state and its `progress`, in words. */
export function statusWords(output) {
  const status = output.task_status;
  const progress = output.progress;
  if (status === "PENDING") return "PENDING: waiting for a worker";
  if (status === "RUNNING" && progress) {
    const image = progress.image_count > 1 ? `image ${progress.image} of ${progress.image_count}, ` : "";
    return `RUNNING: ${image}step ${progress.step} of ${progress.total_steps}`;
  }
  if (status === "FAILED") return `FAILED: ${output.message || ""}${output.code ? ` (${output.code})` : ""}`;
  if (status === "UNKNOWN") return "UNKNOWN: the task does not exist or has expired";
  return status;
}

/** The fraction done from `progress` (null when not known). */
export function progressFraction(output) {
  const p = output.progress;
  if (!p || !p.total_steps) return null;
  const images = p.image_count || 1;
  return ((p.image - 1) * p.total_steps + p.step) / (images * p.total_steps);
}

/**
 * One figure per result: the image, its actual_prompt, size (once loaded), seed and a
 * download link; a failed image says its code and message. seed: the request's, or null.
 */
export function resultFigures(taskId, output, seed) {
  return resultsOf(output).map((result, index) => {
    if (!result.url) {
      return h("figure", { class: "result failed" }, h("figcaption", {}, `Image ${index + 1} failed: ${result.message || ""} (${result.code || "no code"})`));
    }
    const size = h("span", {}, "");
    const image = h("img", { src: result.url, alt: `Result ${index + 1}${result.actual_prompt ? `: ${result.actual_prompt}` : ""}` });
    image.addEventListener("load", () => (size.textContent = `${image.naturalWidth}*${image.naturalHeight}`));
    return h(
      "figure",
      { class: "result" },
      h("a", { href: result.url, target: "_blank", rel: "noopener" }, image),
      h(
        "figcaption",
        {},
        h("dl", {}, [
          result.actual_prompt ? [h("dt", {}, "Actual prompt"), h("dd", {}, result.actual_prompt)] : null,
          result.orig_prompt ? [h("dt", {}, "Prompt"), h("dd", {}, result.orig_prompt)] : null,
          [h("dt", {}, "Size"), h("dd", {}, size)],
          [h("dt", {}, "Seed"), h("dd", {}, seed === null || seed === undefined ? "random (not reported)" : String(seed + index))],
        ]),
        h("a", { href: result.url, download: `${taskId}-${index}.png` }, `Download image ${index + 1}`),
      ),
    );
  });
}

/** Said plainly under results made by the preview engine. */
export function previewNotice() {
  return h(
    "p",
    { class: "notice" },
    "Preview engine: these images are labelled previews drawn from the request, not a model's output. ",
    "Bind the model to a real engine with a models file (see the README).",
  );
}
