// The playground's video models (rules.video of /console/rules.json): what the chosen model
// takes, by its mode — t2v a size, i2v one input image and a resolution tier, kf2v a first and
// a last frame and a tier, VACE a function with its own inputs — then duration, seed,
// prompt_extend, watermark and, where the model makes sound, sound. read() builds the request
// body of video-generation/video-synthesis or image2video/video-synthesis.

import { checkbox, field, h } from "./dom.js";
import { imagePicker } from "./inputs.js";
import { promptChecks, seedControl } from "./params.js";

const SERVICES = "/api/v1/services/aigc";
const PATHS = {
  "video-generation": `${SERVICES}/video-generation/video-synthesis`,
  image2video: `${SERVICES}/image2video/video-synthesis`,
};
const MODES = {
  t2v: "text to video",
  i2v: "image to video",
  kf2v: "first and last frame to video",
  vace: "video editing (VACE)",
};
const CLIP_LABELS = {
  video_url: "Input video URL",
  first_clip_url: "First clip URL",
  last_clip_url: "Last clip URL (optional)",
};
const PARAMETER_LABELS = {
  control_condition: "Control condition",
  strength: "Strength",
  mask_type: "Mask type",
  expand_ratio: "Expand ratio",
  expand_mode: "Expand mode",
  top_scale: "Top scale",
  bottom_scale: "Bottom scale",
  left_scale: "Left scale",
  right_scale: "Right scale",
};

/** The endpoint a video model is sent to (its family), or null for an image model. */
export function videoEndpoint(model) {
  if (!model.rules.video) return null;
  const family = model.rules.endpoints.find((name) => PATHS[name]);
  return family ? { family, path: PATHS[family], async: true } : null;
}

function select(options, chosen) {
  return h(
    "select",
    {},
    options.map(([value, text]) => h("option", { value, selected: value === chosen }, text)),
  );
}

/** A picker of `max` images of the model's input rules, under its own label. */
function picker(model, max, label, problem, onChange = () => {}) {
  return imagePicker({ ...model.rules.images, max }, onChange, problem, label);
}

function sizeSelect(video) {
  const chosen = video.default_size.join("*");
  const tiers = [...new Set(video.sizes.map((s) => s.tier))];
  const control = h(
    "select",
    {},
    tiers.map((tier) =>
      h(
        "optgroup",
        { label: tier },
        video.sizes
          .filter((s) => s.tier === tier)
          .map(({ size }) => h("option", { value: size.join("*"), selected: size.join("*") === chosen }, size.join("*"))),
      ),
    ),
  );
  return { element: field("Size", control), read: () => ({ size: control.value }) };
}

function resolutionSelect(video) {
  const control = select(video.tiers.map((tier) => [tier, tier]), video.default_tier);
  const hint = h("span", { class: "hint" }, "The video keeps the input image's proportions, at about this tier's pixels.");
  return { element: field("Resolution", control, hint), read: () => ({ resolution: control.value }) };
}

function numberParameter(name, rule) {
  const input = h("input", { type: "number", min: rule.min, max: rule.max, step: 0.05, value: String(rule.default) });
  return {
    element: field(PARAMETER_LABELS[name], input, h("span", { class: "hint" }, `${rule.min}–${rule.max}`)),
    read() {
      const value = Number(input.value === "" ? rule.default : input.value);
      if (!(value >= rule.min && value <= rule.max)) return { problem: `${PARAMETER_LABELS[name]} must be ${rule.min} to ${rule.max}.` };
      return { [name]: value };
    },
  };
}

function choiceParameter(name, rule) {
  const options = rule.choices.map((choice) => [choice, choice]);
  const control = select(rule.default === undefined ? [["", "Choose…"], ...options] : options, rule.default ?? "");
  return {
    element: field(PARAMETER_LABELS[name], control),
    read: () => (control.value ? { [name]: control.value } : { problem: `Choose the ${PARAMETER_LABELS[name].toLowerCase()}.` }),
  };
}

/**
 * One VACE function's inputs and parameters (rules.video.functions[name]). read() →
 * {input, parameters} or {problem}.
 */
function vaceFunction(model, name, problem) {
  const video = model.rules.video;
  const takes = video.functions[name];
  const parts = [];
  const readers = [];
  if (takes.images === "ref_images_url") {
    const roles = h("div", { class: "roles" });
    const selects = [];
    const refs = picker(model, model.rules.images.max, "Reference images", problem, (images) => {
      selects.length = 0;
      roles.replaceChildren(
        ...images.map((image, index) => {
          const role = select([["obj", "a subject (obj)"], ["bg", "the background (bg)"]], "obj");
          selects.push(role);
          return field(`Image ${index + 1} (${image.name}) is`, role);
        }),
      );
    });
    parts.push(refs.element, roles);
    readers.push(() => {
      const images = refs.images();
      if (images.length < 1) return { problem: `image_reference needs 1 to ${model.rules.images.max} reference images.` };
      return { input: { ref_images_url: images.map((i) => i.url) }, parameters: { obj_or_bg: selects.map((s) => s.value) } };
    });
  }
  takes.clips.forEach((clip, index) => {
    const url = h("input", { type: "url", placeholder: "https://… or oss://…", spellcheck: "false" });
    parts.push(field(CLIP_LABELS[clip] || clip, url));
    readers.push(() => {
      const value = url.value.trim();
      if (!value && index === 0) return { problem: `${name} needs ${CLIP_LABELS[clip] || clip}: an MP4 the server can fetch.` };
      return value ? { input: { [clip]: value } } : {};
    });
  });
  if (takes.clips.length) {
    const mb = Math.round(video.clips.max_bytes / 2 ** 20);
    parts.push(
      h(
        "p",
        { class: "hint" },
        `Input videos: MP4, up to ${mb} MB and ${video.clips.max_seconds} s, given by URL — a public http(s) address the server can fetch, or an oss:// key from the upload flow. The console does not upload videos itself.`,
      ),
    );
  }
  if (takes.images === "mask_image_url") {
    const mask = picker(model, 1, "Mask image", problem);
    parts.push(mask.element, h("p", { class: "hint" }, "White marks what changes, on every frame; black is kept."));
    readers.push(() => {
      const [image] = mask.images();
      return image ? { input: { mask_image_url: image.url } } : { problem: "video_edit needs a mask image." };
    });
  }
  for (const parameter of takes.parameters) {
    if (parameter === "obj_or_bg") continue; // one per reference image, above
    const rule = video.parameters[parameter];
    const control = rule.choices ? choiceParameter(parameter, rule) : numberParameter(parameter, rule);
    parts.push(control.element);
    readers.push(() => {
      const { problem: said, ...value } = control.read();
      return said ? { problem: said } : { parameters: value };
    });
  }
  return {
    element: h("div", { class: "vace" }, parts),
    read() {
      const found = { input: { function: name }, parameters: {} };
      for (const read of readers) {
        const part = read();
        if (part.problem) return { problem: part.problem };
        Object.assign(found.input, part.input);
        Object.assign(found.parameters, part.parameters);
      }
      return found;
    },
  };
}

/**
 * The controls of a video model (an entry of loadModels with rules.video). preview: whether
 * its engine is the preview one (silent). Returns {inputs, parameters, endpoint, read(prompt,
 * negative) → {body} or {problem}}.
 */
export function videoControls(model, catalog, problem, preview) {
  const video = model.rules.video;
  const inputs = h("div", { class: "video-inputs" });
  const inputReaders = [];
  const parts = [h("p", { class: "hint" }, `${model.model}: ${MODES[video.mode]}, ${video.fps} fps.`)];
  const readers = [];

  if (video.mode === "i2v") {
    const image = picker(model, 1, "Input image", problem);
    inputs.append(image.element);
    inputReaders.push(() => {
      const [first] = image.images();
      return first ? { img_url: first.url } : { problem: `${model.model} needs an input image: the video starts from it.` };
    });
  } else if (video.mode === "kf2v") {
    const first = picker(model, 1, "First frame", problem);
    const last = picker(model, 1, "Last frame", problem);
    inputs.append(first.element, last.element);
    inputReaders.push(() => {
      const [a] = first.images();
      const [b] = last.images();
      if (!a || !b) return { problem: `${model.model} needs a first and a last frame.` };
      return { first_frame_url: a.url, last_frame_url: b.url };
    });
  } else if (video.mode === "vace") {
    const names = Object.keys(video.functions);
    const chooser = select(names.map((name) => [name, name]), names[0]);
    const slot = h("div");
    let current = null;
    const choose = () => {
      current = vaceFunction(model, chooser.value, problem);
      slot.replaceChildren(current.element);
    };
    chooser.addEventListener("change", choose);
    inputs.append(field("VACE function", chooser), slot);
    choose();
    inputReaders.push(() => current.read());
  }

  const size = video.mode === "t2v" || video.mode === "vace" ? sizeSelect(video) : resolutionSelect(video);
  parts.push(size.element);
  readers.push(size.read);

  const duration = select(video.durations.map((d) => [String(d), `${d} s`]), String(video.default_duration));
  parts.push(field("Duration", duration));
  readers.push(() => ({ duration: Number(duration.value) }));

  const seed = seedControl(catalog);
  parts.push(seed.element);
  readers.push(seed.read);

  const checks = promptChecks(model.rules.prompt_extend_default);
  readers.push(checks.read);
  if (video.sound) {
    const sound = checkbox("Sound (the model adds a soundtrack)", true);
    checks.element.append(sound.element);
    if (preview) checks.element.append(h("span", { class: "hint" }, "The preview engine makes silent videos: a preview has no sound."));
    readers.push(() => ({ audio: sound.box.checked }));
  }
  parts.push(checks.element);

  const endpoint = videoEndpoint(model);
  return {
    inputs,
    parameters: h("div", { class: "parameters" }, parts),
    endpoint,
    read(prompt, negative) {
      if (!prompt.trim() && (video.mode === "t2v" || video.mode === "vace")) return { problem: "Write a prompt: it says what happens in the video." };
      const input = { prompt };
      if (negative) input.negative_prompt = negative;
      const parameters = {};
      for (const read of inputReaders) {
        const { problem: said, parameters: own, ...values } = read();
        if (said) return { problem: said };
        Object.assign(input, values.input || values);
        Object.assign(parameters, own);
      }
      for (const read of readers) {
        const { problem: said, ...values } = read();
        if (said) return { problem: said };
        Object.assign(parameters, values);
      }
      return { body: { model: model.model, input, parameters } };
    },
  };
}
