// wan2.6-image's interleaved mode (enable_interleave): text paragraphs, each followed by its
// picture, answered only as a stream (multimodal-generation with X-DashScope-Sse: enable). The
// parts are shown as they arrive; the stream carries no task id, so Stop only stops reading.

import { stream } from "./api.js";
import { h } from "./dom.js";

const PATH = "/api/v1/services/aigc/multimodal-generation/generation";

/** The messages request of the interleaved mode (n is not sent: the mode makes one answer). */
export function interleavedBody(model, prompt, negative, images, parameters) {
  const { n: _n, negative_prompt: _negative, ...rest } = parameters;
  const content = [...images.map((image) => ({ image: image.url })), { text: prompt }];
  return {
    model: model.model,
    input: { messages: [{ role: "user", content }] },
    parameters: { ...rest, negative_prompt: negative, enable_interleave: true },
  };
}

/**
 * Sends `body` and appends each part to `into` as it arrives: a text as a paragraph, a picture
 * as a figure with its download link. Resolves to the answer's usage (null if none came).
 */
export async function streamInterleaved(body, into, signal) {
  let usage = null;
  let pictures = 0;
  await stream(
    PATH,
    body,
    (event) => {
      for (const choice of event.output?.choices || []) {
        for (const part of choice.message?.content || []) {
          if (part.image) {
            pictures += 1;
            into.append(
              h(
                "figure",
                { class: "result" },
                h("img", { src: part.image, alt: `Picture ${pictures}` }),
                h("figcaption", {}, h("a", { href: part.image, download: `picture-${pictures}.png` }, `Download picture ${pictures}`)),
              ),
            );
          } else if (typeof part.text === "string") {
            into.append(h("p", { class: "interleaved-text" }, part.text));
          }
        }
      }
      if (event.usage) usage = event.usage;
    },
    signal,
  );
  return usage;
}
