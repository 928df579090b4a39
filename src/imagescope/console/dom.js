// Building elements from text only. Nothing the API answers or the user types is ever parsed
// as HTML: children are text nodes, attributes go through setAttribute, handlers are functions.

/**
 * h("p", {class: "note", on: {click: f}}, "text", otherElement, [more, children])
 * Attributes whose value is null, undefined or false are left out; true sets them empty.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (name === "value" || name === "checked") {
      element[name] = value;
    } else if (value !== null && value !== undefined && value !== false) {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replace every child of element with children. */
export function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

let nextId = 0;
/** A labelled control: <label for=id>text</label> + control (given the id). */
export function field(text, control, ...after) {
  if (!control.id) control.id = `f${++nextId}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, text), control, ...after);
}

/** A checkbox inside its label. */
export function checkbox(text, checked, attrs = {}) {
  const box = h("input", { type: "checkbox", checked, ...attrs });
  return { box, element: h("label", { class: "check" }, box, " ", text) };
}

export function table(headers, rows, caption) {
  return h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** An alert next to what caused it: empty text hides it. */
export function alertBox() {
  const box = h("p", { class: "error", role: "alert", hidden: true });
  return {
    element: box,
    show(text) {
      box.textContent = text || "";
      box.hidden = !text;
    },
  };
}

export function formatTime(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toLocaleString();
}
