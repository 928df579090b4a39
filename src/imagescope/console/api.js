// The public API, called as any client calls it: with the signed-in key, or the admin token
// for /admin/v1. Errors keep the server's code and message so the page can say them in words.

const KEY = "imagescope.apiKey";
const ADMIN = "imagescope.adminToken";

// Kept in this tab's sessionStorage only: never a cookie, never logged, gone with the tab.
export const session = {
  get key() {
    return sessionStorage.getItem(KEY) || "";
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
  get adminToken() {
    return sessionStorage.getItem(ADMIN) || "";
  },
  set adminToken(value) {
    if (value) sessionStorage.setItem(ADMIN, value);
    else sessionStorage.removeItem(ADMIN);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** The error in words: the server's message, then its code. */
  get words() {
    return this.code ? `${this.message} (${this.code})` : this.message;
  }
}

/** An error of any kind, as a sentence to show. */
export function describe(error) {
  if (error instanceof ApiError) return error.words;
  return "Something went wrong in the console; reload the page and try again.";
}

/**
 * call("POST", "/api/v1/…", {body, token, async: true}) → the parsed JSON body.
 * token: the API key (default: the signed-in one) or the admin token; oss: the body names
 * oss:// uploads, which the server resolves only when asked (X-DashScope-OssResourceResolve).
 */
export async function call(method, path, options = {}) {
  const headers = { Authorization: `Bearer ${options.token ?? session.key}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.async) headers["X-DashScope-Async"] = "enable";
  if (options.oss) headers["X-DashScope-OssResourceResolve"] = "enable";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "", "The server could not be reached. Is imagescope still running?");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    // Aborted while the body was read (the view moved on): not an answer to show.
    if (error.name === "AbortError" || options.signal?.aborted) throw error;
    body = null;
  }
  if (!response.ok) throw failure(response.status, body);
  return body;
}

/** An error answer's body as an ApiError. */
function failure(status, body) {
  const code = body?.code || body?.error?.code || `HTTP ${status}`;
  const message = body?.message || body?.error?.message || `The server answered ${status}.`;
  return new ApiError(status, code, message);
}

/**
 * A streamed call (X-DashScope-Sse: enable): onEvent(data) for each server-sent event's JSON as
 * it arrives; an error event (or an error answer) throws ApiError. Ends with the stream.
 */
export async function stream(path, body, onEvent, signal) {
  const headers = { Authorization: `Bearer ${session.key}`, "Content-Type": "application/json", "X-DashScope-Sse": "enable" };
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "", "The server could not be reached. Is imagescope still running?");
  }
  if (!response.ok) throw failure(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const lines = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const field = (name) => lines.find((line) => line.startsWith(`${name}:`))?.slice(name.length + 1);
      const data = field("data");
      if (data === undefined) continue;
      const parsed = JSON.parse(data);
      if (field("event") === "error") throw failure(Number(field("status")) || 500, parsed);
      onEvent(parsed);
    }
  }
}

/** The console's view of the models: the API's listing joined with the catalog's rules. */
export async function loadModels(token) {
  const [listing, rules] = await Promise.all([
    call("GET", "/api/v1/models", { token }),
    fetch("/console/rules.json", { cache: "no-cache" }).then((r) => r.json()),
  ]);
  const models = listing.data
    .filter((entry) => rules.models[entry.model])
    .map((entry) => ({ ...entry, rules: rules.models[entry.model] }));
  return { models, seedMax: rules.seed_max, negativeMax: rules.negative_prompt_max };
}

export const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"]);

/** A task's result images in either wire format: results[] or choices[].message.content[]. */
export function resultsOf(output) {
  if (Array.isArray(output.results)) return output.results;
  const parts = [];
  for (const choice of output.choices || []) {
    for (const part of choice.message?.content || []) {
      if (part.image) parts.push({ url: part.image });
    }
  }
  return parts;
}
