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
export function previewNotice(video = false) {
  return h(
    "p",
    { class: "notice" },
    video
      ? "Preview engine: this video is a labelled preview drawn from the request, not a model's output, and it is silent. "
      : "Preview engine: these images are labelled previews drawn from the request, not a model's output. ",
    "Bind the model to a real engine with a models file (see the README).",
  );
}

/** Whether a task's output is a video (video-generation, image2video). */
export function isVideo(output) {
  return Boolean(output.video_url);
}

function soundWords(output, rules) {
  if (output.audio === false) return "none: the engine made a silent video (the hosted model would add sound)";
  if (!rules?.video?.sound) return "none (the model makes silent videos)";
  return "as the model makes it";
}

/**
 * A finished video task (body: the task query's {output, usage}) as a figure: the video
 * (controls, muted, playsinline), its actual_prompt, size, duration, fps (the model's: rules),
 * seed (the request's, or null) and a download link.
 */
export function videoFigure(taskId, body, seed, rules) {
  const { output, usage = {} } = body;
  const size = h("span", {}, usage.video_ratio || "");
  const video = h("video", {
    src: output.video_url,
    controls: true,
    muted: true,
    playsinline: true,
    preload: "metadata",
    "aria-label": `Result video${output.actual_prompt ? `: ${output.actual_prompt}` : ""}`,
  });
  video.muted = true; // the property, not only the default: autoplay rules and a quiet page
  video.addEventListener("loadedmetadata", () => (size.textContent = `${video.videoWidth}*${video.videoHeight}`));
  const fps = rules?.video?.fps;
  return h(
    "figure",
    { class: "result video" },
    video,
    h(
      "figcaption",
      {},
      h("dl", {}, [
        output.actual_prompt ? [h("dt", {}, "Actual prompt"), h("dd", {}, output.actual_prompt)] : null,
        output.orig_prompt ? [h("dt", {}, "Prompt"), h("dd", {}, output.orig_prompt)] : null,
        [h("dt", {}, "Size"), h("dd", {}, size)],
        [h("dt", {}, "Duration"), h("dd", {}, usage.video_duration ? `${usage.video_duration} s` : "")],
        fps ? [h("dt", {}, "Frame rate"), h("dd", {}, `${fps} fps`)] : null,
        [h("dt", {}, "Sound"), h("dd", {}, soundWords(output, rules))],
        [h("dt", {}, "Seed"), h("dd", {}, seed === null || seed === undefined ? "random (not reported)" : String(seed))],
      ]),
      h("a", { href: output.video_url, download: `${taskId}.mp4` }, "Download video"),
    ),
  );
}
