// The console's frame: sign in with an API key, then the Playground, Tasks, Usage and Admin
// pages, one at a time, chosen by the address's #fragment.

import { ApiError, describe, loadModels, session } from "./api.js";
import { alertBox, field, fill, h } from "./dom.js";
import { mountAdmin } from "./admin.js";
import { mountPlayground } from "./playground.js";
import { mountTasks } from "./tasks.js";
import { mountUsage } from "./usage.js";

const PAGES = {
  playground: { title: "Playground", mount: mountPlayground },
  tasks: { title: "Tasks", mount: mountTasks },
  usage: { title: "Usage", mount: mountUsage },
  admin: { title: "Admin", mount: mountAdmin },
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let catalog = null; // {models, seedMax, negativeMax} once signed in
let leave = null; // the current page's clean-up (stops its polling)

function signInPage(message) {
  nav.hidden = true;
  fill(who);
  const key = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const problem = alertBox();
  problem.show(message);
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin" },
    h("h2", {}, "Sign in"),
    h("p", {}, "Paste an API key: ", h("code", {}, "imagescope serve"), " prints one on its first start."),
    field("API key", key),
    submit,
    problem.element,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    problem.show("");
    try {
      catalog = await loadModels(key.value.trim());
      session.key = key.value.trim();
      start();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        problem.show(`This API key was not accepted: ${error.message}`);
      } else {
        problem.show(describe(error));
      }
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  key.focus();
}

function signOut() {
  session.key = "";
  session.adminToken = "";
  catalog = null;
  if (leave) leave();
  leave = null;
  history.replaceState(null, "", "#");
  signInPage("");
}

function start() {
  nav.hidden = false;
  fill(
    nav,
    Object.entries(PAGES).map(([name, page]) => h("a", { href: `#${name}`, "data-page": name }, page.title)),
  );
  fill(who, h("button", { type: "button", class: "quiet", on: { click: signOut } }, "Sign out"));
  if (!PAGES[location.hash.slice(1)]) history.replaceState(null, "", "#playground");
  show();
}

function show() {
  if (!catalog) return;
  const name = PAGES[location.hash.slice(1)] ? location.hash.slice(1) : "playground";
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (leave) leave();
  const container = h("section", { class: "page", "aria-label": PAGES[name].title });
  fill(main, container);
  leave = PAGES[name].mount(container, catalog) || null;
}

window.addEventListener("hashchange", show);

async function boot() {
  if (!session.key) return signInPage("");
  try {
    catalog = await loadModels(session.key);
    start();
  } catch (error) {
    session.key = "";
    signInPage(error instanceof ApiError && error.status === 401 ? "That API key is no longer accepted." : describe(error));
  }
}

boot();
