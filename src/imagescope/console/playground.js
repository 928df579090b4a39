// The playground: pick a model, give what it takes (within its rules), submit, follow the task
// (status and denoising progress, by long-poll), cancel it, and see the results side by side.
// Video models take their own controls (video.js) and end in a <video>; wan2.6-image's
// interleaved output is streamed (interleave.js).

import { TERMINAL, call, describe } from "./api.js";
import { alertBox, field, fill, h } from "./dom.js";
import { imagePicker, maskEditor } from "./inputs.js";
import { interleavedBody, streamInterleaved } from "./interleave.js";
import { parameterControls } from "./params.js";
import { isVideo, previewNotice, progressFraction, resultFigures, statusWords, videoFigure } from "./results.js";
import { videoControls, videoEndpoint } from "./video.js";

const SERVICES = "/api/v1/services/aigc";
// Where each model is sent: the first of its endpoint families the console speaks, in this order.
const ENDPOINTS = [
  { family: "text2image", path: `${SERVICES}/text2image/image-synthesis`, async: true },
  { family: "image2image", path: `${SERVICES}/image2image/image-synthesis`, async: true },
  { family: "image-generation", path: `${SERVICES}/image-generation/generation`, async: true },
  { family: "multimodal-generation", path: `${SERVICES}/multimodal-generation/generation`, async: false },
];
const GROUPS = [
  { label: "Text to image", takes: (model) => !model.rules.images && !model.rules.video },
  { label: "Editing", takes: (model) => Boolean(model.rules.images) && !model.rules.video },
  { label: "Video", takes: (model) => Boolean(model.rules.video) },
];

function endpointOf(model) {
  if (model.rules.video) return videoEndpoint(model);
  return ENDPOINTS.find((endpoint) => model.rules.endpoints.includes(endpoint.family));
}

function isPreview(model, func) {
  if (func && model.functions && model.functions[func]) return model.functions[func].preview;
  return model.preview;
}

function requestBody(model, endpoint, func, prompt, negative, images, mask, parameters) {
  const { negative_prompt: _, ...rest } = parameters;
  if (endpoint.family === "text2image") {
    return { model: model.model, input: { prompt, negative_prompt: negative }, parameters: rest };
  }
  if (endpoint.family === "image2image" && func) {
    const input = { function: func, prompt, negative_prompt: negative, base_image_url: images[0]?.url };
    if (mask) input.mask_image_url = mask;
    return { model: model.model, input, parameters: rest };
  }
  if (endpoint.family === "image2image") {
    return { model: model.model, input: { prompt, negative_prompt: negative, images: images.map((i) => i.url) }, parameters: rest };
  }
  const content = [...images.map((image) => ({ image: image.url })), { text: prompt }];
  return {
    model: model.model,
    input: { messages: [{ role: "user", content }] },
    parameters: { ...rest, negative_prompt: negative },
  };
}

export function mountPlayground(container, catalog) {
  const usable = catalog.models.filter(endpointOf);
  const modelSelect = h(
    "select",
    {},
    GROUPS.map((group) =>
      h("optgroup", { label: group.label }, usable.filter(group.takes).map((m) => h("option", { value: m.model }, m.model))),
    ),
  );
  const functionSelect = h("select", {});
  const functionField = field("Function", functionSelect);
  const outputSelect = h(
    "select",
    {},
    h("option", { value: "" }, "Images"),
    h("option", { value: "interleave" }, "Interleaved text and images (streamed)"),
  );
  const outputField = field("Output", outputSelect);
  const engineNote = h("p", { class: "notice", role: "note" });
  const prompt = h("textarea", { rows: 4 });
  const counter = h("span", { class: "counter", "aria-live": "polite" });
  const negative = h("textarea", { rows: 2, maxlength: catalog.negativeMax });
  const problem = alertBox();
  const inputsSlot = h("div");
  const mask = maskEditor();
  const parametersSlot = h("div");
  const generate = h("button", { type: "submit", class: "primary" }, "Generate");
  const form = h(
    "form",
    { class: "card playground" },
    field("Model", modelSelect),
    engineNote,
    functionField,
    outputField,
    inputsSlot,
    mask.element,
    field("Prompt", prompt, counter),
    field("Negative prompt", negative, h("span", { class: "hint" }, `Up to ${catalog.negativeMax} characters.`)),
    parametersSlot,
    h("div", { class: "actions" }, generate),
    problem.element,
  );

  const statusText = h("p", { class: "status", "aria-live": "polite" });
  const bar = h("progress", { max: 1, hidden: true, "aria-label": "Progress" });
  const cancel = h("button", { type: "button", hidden: true }, "Cancel");
  const statusProblem = alertBox();
  const results = h("div", { class: "results" });
  const resultsRegion = h("section", { role: "region", "aria-label": "Results", class: "card" }, h("h2", {}, "Results"), statusText, bar, cancel, statusProblem.element, results);

  fill(container, h("div", { class: "columns" }, form, resultsRegion));

  let model = null;
  let picker = null;
  let controls = null;
  let video = null; // the chosen video model's controls (video.js), else null
  let following = null; // AbortController of the task being followed

  function selectedModel() {
    return usable.find((m) => m.model === modelSelect.value);
  }

  function countPrompt() {
    const max = model.rules.prompt_max;
    const length = [...prompt.value].length;
    counter.textContent = `${length} / ${max}${length > max ? ` — beyond ${max} characters the prompt is cut` : ""}`;
    counter.classList.toggle("over", length > max);
  }

  function describeEngine(func) {
    engineNote.textContent = isPreview(model, func)
      ? `${model.model} runs on the preview engine here: results are labelled previews.`
      : `${model.model} runs on the ${(func && model.functions?.[func]?.engine) || model.engine} engine.`;
  }

  function interleaving() {
    return Boolean(model.rules.interleave) && outputSelect.value === "interleave";
  }

  /** The input images' rules: the model's, or the interleaved mode's (none or one). */
  function imageRules() {
    if (!interleaving()) return model.rules.images;
    return { ...model.rules.images, min: 0, max: model.rules.interleave.images_max };
  }

  function rebuildPicker() {
    picker = model.rules.images ? imagePicker(imageRules(), updateMask, problem) : null;
    fill(inputsSlot, picker ? picker.element : null);
  }

  function rebuildParameters() {
    const func = model.rules.functions ? functionSelect.value : null;
    controls = parameterControls(model, catalog, func, endpointOf(model).family, interleaving());
    fill(parametersSlot, controls.element);
    updateMask();
    describeEngine(func);
  }

  function needsMask() {
    const func = model.rules.functions ? functionSelect.value : null;
    return Boolean(func && (model.rules.functions[func] || []).includes("mask"));
  }

  function updateMask() {
    mask.use(needsMask() && picker ? picker.images()[0] || null : null);
  }

  function chooseModel() {
    model = selectedModel();
    problem.show("");
    video = model.rules.video ? videoControls(model, catalog, problem, isPreview(model, null)) : null;
    outputSelect.value = "";
    outputField.hidden = !model.rules.interleave;
    if (video) {
      functionField.hidden = true;
      picker = null;
      mask.use(null);
      fill(inputsSlot, video.inputs);
      fill(parametersSlot, video.parameters);
      countPrompt();
      describeEngine(null);
      return;
    }
    functionField.hidden = !model.rules.functions;
    if (model.rules.functions) {
      fill(functionSelect, Object.keys(model.rules.functions).map((name) => h("option", { value: name }, name)));
    }
    rebuildPicker();
    countPrompt();
    rebuildParameters();
  }

  async function submitInterleaved(parameters, images) {
    const body = interleavedBody(model, prompt.value, negative.value, images, parameters);
    if (following) following.abort();
    following = new AbortController();
    const { signal } = following;
    const parts = h("div", { class: "interleaved" });
    fill(results, isPreview(model, null) ? previewNotice() : null, parts);
    statusText.textContent = "Streaming: each part shows as it is made…";
    cancel.textContent = "Stop";
    cancel.hidden = false;
    cancel.disabled = false;
    cancel.onclick = () => following && following.abort();
    generate.disabled = true;
    try {
      const usage = await streamInterleaved(body, parts, signal);
      statusText.textContent = `SUCCEEDED: ${usage ? usage.image_count : 0} pictures of ${usage ? usage.size : "?"}`;
    } catch (error) {
      if (signal.aborted) statusText.textContent = "Stopped reading the stream: the server may still finish the answer.";
      else {
        statusText.textContent = "";
        problem.show(describe(error));
      }
    } finally {
      generate.disabled = false;
      cancel.hidden = true;
      cancel.textContent = "Cancel";
      following = null;
    }
  }

  async function follow(taskId, seed, preview, rules) {
    following = new AbortController();
    const { signal } = following;
    cancel.hidden = false;
    cancel.disabled = false;
    cancel.onclick = async () => {
      cancel.disabled = true;
      try {
        await call("POST", `/api/v1/tasks/${encodeURIComponent(taskId)}/cancel`);
      } catch (error) {
        statusProblem.show(`Cancel: ${describe(error)}`);
        cancel.disabled = false;
      }
    };
    while (!signal.aborted) {
      let body;
      try {
        body = await call("GET", `/api/v1/tasks/${encodeURIComponent(taskId)}?wait=1`, { signal });
      } catch (error) {
        if (signal.aborted) return;
        statusProblem.show(describe(error));
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      showTask(taskId, body, seed, preview, rules);
      if (TERMINAL.has(body.output.task_status)) break;
    }
    cancel.hidden = true;
    following = null;
  }

  /** body: the task query's answer ({output, usage}); rules: the model's. */
  function showTask(taskId, body, seed, preview, rules) {
    const output = body.output;
    statusText.textContent = `Task ${taskId}: ${statusWords(output)}`;
    const fraction = progressFraction(output);
    bar.hidden = fraction === null;
    if (fraction !== null) bar.value = fraction;
    if (output.task_status === "SUCCEEDED") {
      bar.hidden = true;
      const video = isVideo(output);
      const shown = video ? videoFigure(taskId, body, seed, rules) : resultFigures(taskId, output, seed);
      fill(results, preview ? previewNotice(video) : null, h("div", { class: "figures" }, shown));
    }
  }

  async function submitVideo() {
    const read = video.read(prompt.value, negative.value);
    if (read.problem) return problem.show(read.problem);
    if (following) following.abort();
    fill(results);
    const oss = JSON.stringify(read.body.input).includes('"oss://');
    generate.disabled = true;
    try {
      statusText.textContent = "Submitting…";
      const created = await call("POST", video.endpoint.path, { body: read.body, async: true, oss });
      generate.disabled = false;
      await follow(created.output.task_id, read.body.parameters.seed ?? null, isPreview(model, null), model.rules);
    } catch (error) {
      statusText.textContent = "";
      problem.show(describe(error));
    } finally {
      generate.disabled = false;
    }
  }

  async function submit(event) {
    event.preventDefault();
    problem.show("");
    statusProblem.show("");
    if (video) return submitVideo();
    const read = controls.read();
    if (read.problem) return problem.show(read.problem);
    const func = model.rules.functions ? functionSelect.value : null;
    const images = picker ? picker.images() : [];
    const least = picker ? imageRules().min : 0;
    if (images.length < least) return problem.show(`${model.model} needs at least ${least} input image${least > 1 ? "s" : ""}.`);
    if (interleaving()) return submitInterleaved(read.parameters, images);
    const masked = needsMask();
    if (masked && !mask.painted()) return problem.show("Paint the mask first: white marks where the image should change.");
    const endpoint = endpointOf(model);
    const body = requestBody(model, endpoint, func, prompt.value, negative.value, images, masked ? mask.dataUrl() : null, read.parameters);
    if (following) following.abort();
    fill(results);
    const preview = isPreview(model, func);
    generate.disabled = true;
    try {
      if (endpoint.async) {
        statusText.textContent = "Submitting…";
        const created = await call("POST", endpoint.path, { body, async: true });
        generate.disabled = false;
        await follow(created.output.task_id, read.parameters.seed ?? null, preview, model.rules);
      } else {
        statusText.textContent = `${model.model} answers synchronously: waiting for the images…`;
        const answer = await call("POST", endpoint.path, { body });
        const done = { ...answer, output: { ...answer.output, task_status: "SUCCEEDED" } };
        showTask(answer.request_id, done, read.parameters.seed ?? null, preview, model.rules);
        statusText.textContent = "SUCCEEDED";
      }
    } catch (error) {
      statusText.textContent = "";
      problem.show(describe(error));
    } finally {
      generate.disabled = false;
    }
  }

  modelSelect.addEventListener("change", chooseModel);
  functionSelect.addEventListener("change", rebuildParameters);
  outputSelect.addEventListener("change", () => {
    problem.show("");
    rebuildPicker();
    rebuildParameters();
  });
  prompt.addEventListener("input", countPrompt);
  form.addEventListener("submit", submit);
  const first = usable.find((m) => m.model === "wan2.2-t2i-flash") || usable[0];
  if (first) modelSelect.value = first.model;
  chooseModel();
  return () => following && following.abort();
}
