// Input images for the editing models: picked or dropped files, read as data: URIs (no upload
// round trip; the API takes them up to the model's 10 MB per image), and the mask of
// description_edit_with_mask, drawn over the base image (white = edit, black = keep).

import { field, h } from "./dom.js";

const MIME_OF = { JPEG: ["image/jpeg"], PNG: ["image/png"], BMP: ["image/bmp"], TIFF: ["image/tiff"], WEBP: ["image/webp"], GIF: ["image/gif"] };

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("not an image"));
    image.src = src;
  });
}

/**
 * The picker of a model's input images (rules.images: min, max, min_side, max_side, max_bytes,
 * formats). onChange(images) after every change; images: [{name, url, width, height}].
 * label: the file input's (and the list's) accessible name.
 */
export function imagePicker(rules, onChange, problem, label = "Input images") {
  const accept = rules.formats.flatMap((format) => MIME_OF[format] || []).join(",");
  const input = h("input", { type: "file", accept, multiple: rules.max > 1 });
  const list = h("ul", { class: "thumbs", "aria-label": label === "Input images" ? "Chosen images" : `Chosen: ${label}` });
  const zone = h(
    "div",
    { class: "drop", tabindex: "-1" },
    `Drop ${rules.max > 1 ? `up to ${rules.max} images` : "an image"} here, or pick ${rules.max > 1 ? "them" : "it"}: `,
    h("span", { class: "hint" }, `${rules.formats.join(", ")}; sides ${rules.min_side}–${rules.max_side} px; up to ${Math.round(rules.max_bytes / 2 ** 20)} MB each.`),
  );
  let images = [];

  function render() {
    list.replaceChildren(
      ...images.map((image, index) =>
        h(
          "li",
          {},
          h("img", { src: image.url, alt: image.name }),
          h("span", {}, `${image.name} (${image.width}*${image.height})`),
          h("button", { type: "button", class: "quiet", on: { click: () => remove(index) } }, `Remove ${image.name}`),
        ),
      ),
    );
    onChange(images);
  }

  function remove(index) {
    images = images.filter((_, i) => i !== index);
    render();
  }

  async function add(files) {
    problem.show("");
    for (const file of files) {
      if (images.length >= rules.max) {
        problem.show(`This model takes at most ${rules.max} image${rules.max > 1 ? "s" : ""}: ${file.name} was left out.`);
        break;
      }
      if (file.size > rules.max_bytes) {
        problem.show(`${file.name} is larger than ${Math.round(rules.max_bytes / 2 ** 20)} MB.`);
        continue;
      }
      const url = await readAsDataUrl(file);
      let image;
      try {
        image = await loadImage(url);
      } catch {
        problem.show(`${file.name} could not be read as an image.`);
        continue;
      }
      const [width, height] = [image.naturalWidth, image.naturalHeight];
      if (Math.min(width, height) < rules.min_side || Math.max(width, height) > rules.max_side) {
        problem.show(`${file.name} is ${width}*${height}: each side must be ${rules.min_side}–${rules.max_side} px.`);
        continue;
      }
      images.push({ name: file.name, url, width, height });
    }
    render();
  }

  input.addEventListener("change", () => {
    add([...input.files]);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    add([...event.dataTransfer.files]);
  });
  zone.append(field(label, input));
  return { element: h("div", { class: "inputs" }, zone, list), images: () => images };
}

/**
 * The mask editor: a canvas of the base image's own size over that image, painted white where
 * the model should edit. dataUrl() → the mask as a PNG data: URI (black where nothing was drawn).
 */
export function maskEditor() {
  const canvas = h("canvas", { class: "mask", "aria-label": "Mask", role: "img", width: 1, height: 1 });
  const base = h("img", { alt: "", class: "mask-base" });
  const brush = h("input", { type: "range", min: 8, max: 200, value: "48" });
  const clear = h("button", { type: "button", class: "quiet" }, "Clear mask");
  const stage = h("div", { class: "mask-stage" }, base, canvas);
  const element = h(
    "fieldset",
    { class: "mask-editor", hidden: true },
    h("legend", {}, "Mask: paint where the image should change (white = edit)"),
    stage,
    h("div", { class: "mask-tools" }, field("Brush size", brush), clear),
  );
  const context = canvas.getContext("2d");
  let painted = false;
  let last = null;

  function reset() {
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    painted = false;
  }

  function at(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
  }

  function stroke(event) {
    const point = at(event);
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    context.strokeStyle = context.fillStyle = "#fff";
    context.lineCap = "round";
    context.lineWidth = Number(brush.value) * scale;
    context.beginPath();
    context.moveTo(...(last || point));
    context.lineTo(...point);
    context.stroke();
    last = point;
    painted = true;
  }

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = null;
    stroke(event);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (event.buttons & 1) stroke(event);
  });
  canvas.addEventListener("pointerup", () => (last = null));
  clear.addEventListener("click", reset);

  return {
    element,
    /** Show the editor over `image` ({url, width, height}), or hide it (null). */
    use(image) {
      element.hidden = !image;
      if (!image) return;
      if (base.src !== image.url || canvas.width !== image.width || canvas.height !== image.height) {
        base.src = image.url;
        canvas.width = image.width;
        canvas.height = image.height;
        reset();
      }
    },
    painted: () => painted,
    dataUrl: () => canvas.toDataURL("image/png"),
  };
}
