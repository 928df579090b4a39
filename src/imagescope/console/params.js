// The parameter controls of one model (and, for wanx2.1-imageedit, one function), built from
// the rules the server applies (/console/rules.json): only what the model takes, with its limits.

import { checkbox, field, h } from "./dom.js";

const SCALES = ["top_scale", "bottom_scale", "left_scale", "right_scale"];
const SCALE_LABELS = { top_scale: "Top scale", bottom_scale: "Bottom scale", left_scale: "Left scale", right_scale: "Right scale" };

function number(attrs) {
  return h("input", { type: "number", inputmode: "numeric", ...attrs });
}

/** The size rule in words, as the server would refuse it. */
export function sizeRuleWords(rule) {
  if (rule.kind === "total_pixels") {
    return `Total pixels between ${rule.min_side}*${rule.min_side} and ${rule.max_side}*${rule.max_side}, aspect ratio within 1:${rule.max_ratio} and ${rule.max_ratio}:1.`;
  }
  if (rule.kind === "side_range") return `Width and height each between ${rule.min_side} and ${rule.max_side}.`;
  return "";
}

function sizeProblem(rule, width, height) {
  if (rule.kind === "total_pixels") {
    const pixels = width * height;
    if (pixels < rule.min_side ** 2 || pixels > rule.max_side ** 2) return sizeRuleWords(rule);
    if (width > height * rule.max_ratio || height > width * rule.max_ratio) return sizeRuleWords(rule);
  }
  if (rule.kind === "side_range") {
    const inside = (side) => side >= rule.min_side && side <= rule.max_side;
    if (!inside(width) || !inside(height)) return sizeRuleWords(rule);
  }
  return null;
}

function sizeControls(rules, optional) {
  const rule = rules.sizes;
  const fallback = optional ? "follows the first input image" : rule.default.join("*");
  if (rule.kind === "fixed") {
    const select = h(
      "select",
      {},
      h("option", { value: "" }, `Default (${fallback})`),
      rule.allowed.map(([w, hgt]) => h("option", { value: `${w}*${hgt}` }, `${w}*${hgt}`)),
    );
    return { element: field("Size", select), read: () => ({ size: select.value || undefined }) };
  }
  // The widest a side can be: the whole pixel budget at the steepest aspect ratio allowed.
  const stretch = rule.kind === "total_pixels" ? Math.sqrt(rule.max_ratio) : 1;
  const bounds = { min: Math.ceil(rule.min_side / stretch), max: Math.floor(rule.max_side * stretch) };
  const width = number({ ...bounds, placeholder: optional ? "" : String(rule.default[0]) });
  const height = number({ ...bounds, placeholder: optional ? "" : String(rule.default[1]) });
  const presets = optional ? presetSelect(rules.size_presets, rule.default) : null;
  const element = h(
    "fieldset",
    { class: "size" },
    h("legend", {}, "Size"),
    presets ? presets.element : null,
    field("Width", width),
    field("Height", height),
    h("p", { class: "hint" }, `${sizeRuleWords(rule)} Empty: ${presets ? "the preset" : fallback}.`),
  );
  return {
    element,
    read() {
      const preset = presets ? presets.select.value : "";
      if (preset && (width.value || height.value)) return { problem: "Choose a size preset or give the width and height, not both." };
      if (preset) return { size: preset };
      if (!width.value && !height.value) return {};
      const [w, hgt] = [Number(width.value), Number(height.value)];
      if (!Number.isInteger(w) || !Number.isInteger(hgt) || !width.value || !height.value) {
        return { problem: "Give both the width and the height as whole numbers, or neither." };
      }
      const problem = sizeProblem(rule, w, hgt);
      return problem ? { problem: `Size ${w}*${hgt}: ${problem}` } : { size: `${w}*${hgt}` };
    },
  };
}

/**
 * wan2.6-image's named sizes (rules.size_presets: name → pixels): the first input image's
 * proportions at about that many pixels. The empty choice sends no size (the model's default).
 */
function presetSelect(presets, fallback) {
  if (!presets) return null;
  const standard = Object.keys(presets).find((name) => presets[name] === fallback[0] * fallback[1]);
  const words = (pixels) => `about ${Math.round(Math.sqrt(pixels))}*${Math.round(Math.sqrt(pixels))} pixels in the first input image's proportions`;
  const select = h(
    "select",
    {},
    h("option", { value: "" }, standard ? `Default (${standard})` : "Default"),
    Object.entries(presets).map(([name, pixels]) => h("option", { value: name }, `${name}: ${words(pixels)}`)),
  );
  return { select, element: h("div", { class: "preset" }, field("Size preset", select)) };
}

/** The seed field (empty: random) and its check; `hint` follows the range. */
export function seedControl(catalog, hint = "") {
  const seed = number({ min: 0, max: catalog.seedMax, placeholder: "random" });
  return {
    element: field("Seed", seed, h("span", { class: "hint" }, `0–${catalog.seedMax}${hint}`)),
    read() {
      if (seed.value === "") return {};
      const value = Number(seed.value);
      if (!Number.isInteger(value) || value < 0 || value > catalog.seedMax) {
        return { problem: `Seed must be a whole number from 0 to ${catalog.seedMax}.` };
      }
      return { seed: value };
    },
  };
}

/** The prompt_extend and watermark checkboxes, side by side (`extendOn`: the server's default). */
export function promptChecks(extendOn) {
  const extend = checkbox("Prompt extend (rewrite the prompt first)", extendOn);
  const watermark = checkbox("Watermark", false);
  return {
    element: h("div", { class: "checks" }, extend.element, watermark.element),
    read: () => ({ prompt_extend: extend.box.checked, watermark: watermark.box.checked }),
  };
}

function functionControls(names) {
  const parts = [];
  const readers = [];
  if (names.includes("strength")) {
    const strength = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: "0.5" });
    const shown = h("output", {}, "0.5");
    strength.addEventListener("input", () => (shown.textContent = strength.value));
    parts.push(field("Strength", strength, shown));
    readers.push(() => ({ strength: Number(strength.value) }));
  }
  if (names.includes("top_scale")) {
    const inputs = SCALES.map((name) => [name, number({ min: 1, max: 2, step: 0.1, value: "1" })]);
    parts.push(
      h(
        "fieldset",
        {},
        h("legend", {}, "Expand each side (1–2 times)"),
        inputs.map(([name, input]) => field(SCALE_LABELS[name], input)),
      ),
    );
    readers.push(() => Object.fromEntries(inputs.map(([name, input]) => [name, Number(input.value || 1)])));
  }
  if (names.includes("upscale_factor")) {
    const factor = number({ min: 1, max: 4, step: 1, value: "2" });
    parts.push(field("Upscale factor", factor, h("span", { class: "hint" }, "1–4: each side times this.")));
    readers.push(() => ({ upscale_factor: Number(factor.value || 1) }));
  }
  if (names.includes("is_sketch")) {
    const sketch = checkbox("The input is a sketch", false);
    parts.push(sketch.element);
    readers.push(() => ({ is_sketch: sketch.box.checked }));
  }
  return { parts, read: () => Object.assign({}, ...readers.map((read) => read())) };
}

/** wan2.6-image's interleaved mode: its own size range, and at most max_images pictures. */
function interleaveControls(rules) {
  const size = sizeControls({ sizes: rules.interleave.sizes }, false);
  const [low, high] = rules.interleave.max_images;
  const most = number({ min: low, max: high, value: String(high) });
  return {
    parts: [size.element, field("Most images", most, h("span", { class: "hint" }, `${low}–${high}: the answer's pictures, each after its text.`))],
    readers: [
      size.read,
      () => {
        const value = Number(most.value || high);
        if (!Number.isInteger(value) || value < low || value > high) return { problem: `Most images must be ${low} to ${high}.` };
        return { max_images: value };
      },
    ],
  };
}

/**
 * The controls of `model` (an entry of loadModels) for `func` (wanx2.1-imageedit's function or
 * null); interleave: wan2.6-image's streamed text-and-images mode. read() → {parameters,
 * problem}: a problem is said before anything is sent.
 */
export function parameterControls(model, catalog, func, endpoint, interleave = false) {
  const rules = model.rules;
  const edits = Boolean(rules.images);
  const parts = [];
  const readers = [];

  if (interleave) {
    const own = interleaveControls(rules);
    parts.push(...own.parts);
    readers.push(...own.readers);
  } else if (!rules.functions) {
    const size = sizeControls(rules, edits && endpoint !== "image2image");
    parts.push(size.element);
    readers.push(size.read);
  } else {
    parts.push(h("p", { class: "hint" }, "The output's size follows the input image (and the function)."));
  }

  if (!interleave) {
    const count = number({ min: 1, max: rules.n_max, value: String(rules.n_default) });
    parts.push(field("Number of images", count, h("span", { class: "hint" }, `1–${rules.n_max}`)));
    readers.push(() => {
      const n = Number(count.value || rules.n_default);
      if (!Number.isInteger(n) || n < 1 || n > rules.n_max) return { problem: `Number of images must be 1 to ${rules.n_max}.` };
      return { n };
    });
  }

  const seed = seedControl(catalog, "; image i uses seed + i.");
  parts.push(seed.element);
  readers.push(seed.read);

  // The server's default: on but for z-image-turbo (rules.json), and off on image2image (spec 003).
  const checks = promptChecks(endpoint !== "image2image" && rules.prompt_extend_default);
  parts.push(checks.element);
  readers.push(checks.read);

  if (func && rules.functions) {
    const own = functionControls(rules.functions[func] || []);
    parts.push(...own.parts);
    readers.push(own.read);
  }

  return {
    element: h("div", { class: "parameters" }, parts),
    read() {
      const parameters = {};
      for (const read of readers) {
        const { problem, ...values } = read();
        if (problem) return { problem };
        Object.assign(parameters, values);
      }
      return { parameters };
    },
  };
}
