"""Wire format of the messages protocol (spec 001, 002, 000): ``multimodal-generation``
(synchronous, or streamed) and ``image-generation`` (asynchronous, wan2.6).

Request::

    {"model": "wan2.6-image",
     "input": {"messages": [{"role": "user", "content": [{"text": "..."}, {"image": "..."}]}]},
     "parameters": {"size": "1K", "n": 1, "seed": 42, "negative_prompt": "", "prompt_extend": true,
                    "watermark": false, "enable_interleave": false, "max_images": 5, "stream": false}}

Exactly one user message holding exactly one text element; image elements only for the
editing models (their number and each image checked per model), or one for wan2.6-image's
interleaved mode. Answer (``choices``)::

    qwen:   {"output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant",
                         "content": [{"image": url}]}}], "task_metric": {TOTAL, SUCCEEDED, FAILED}},
             "usage": {"width", "height", "image_count"}}
    wan2.6: {"output": {"choices": [... "content": [{"image": url, "type": "image"}, ...]],
                        "finished": true},
             "usage": {"image_count", "size": "W*H", "input_tokens", "output_tokens", "total_tokens"}}

Streamed (``X-DashScope-Sse: enable``; the docs add ``parameters.stream: true``, which the SDK
never sends, so the header decides unless ``stream`` is false), each part of the answer is one
event as soon as it is made — ``{"type": "text", "text"}`` or ``{"type": "image", "image"}``,
``finish_reason`` "null", ``finished`` false — and a last event carries ``finish_reason``
"stop", ``finished`` true and the usage.
"""

from __future__ import annotations

from typing import Any, Callable

from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, WAN26_INTERLEAVE_SIZES, ModelSpec, parse_size
from imagescope.errors import invalid_parameter
from imagescope.tasks.spec import (
    ErrorPart,
    GenerationRequest,
    ImagePart,
    InterleaveLimit,
    OutputArea,
    ResultPart,
    TaskKind,
    TextPart,
)
from imagescope.tasks.store import TERMINAL, TaskRecord, TaskStatus
from imagescope.http.params import boolean, integer, n_and_seed, obj, text
from imagescope.tasks.accept import TakeImage

UrlFor = Callable[[str], str]  # a stored result's key → its signed URL

INTERLEAVE_NEEDS_STREAM = (
    "enable_interleave=true requires streaming output: send the header X-DashScope-Sse: enable "
    "and set parameters.stream to true."
)


def read_message(inputs: dict) -> tuple[str, list[str]]:
    """The one user message: its one text, and its image references in order."""
    messages = inputs.get("messages")
    if not isinstance(messages, list) or len(messages) != 1:
        raise invalid_parameter(
            "input.messages must hold exactly one message: only single-turn conversations are supported."
        )
    message = messages[0]
    if not isinstance(message, dict) or message.get("role") != "user":
        raise invalid_parameter("input.messages[0].role must be user.")
    content = message.get("content")
    if not isinstance(content, list) or not content:
        raise invalid_parameter("input.messages[0].content must be a non-empty list.")
    texts, images = [], []
    for i, element in enumerate(content):
        kinds = [k for k in ("text", "image") if isinstance(element, dict) and k in element]
        if len(kinds) != 1 or not isinstance(element[kinds[0]], str):
            raise invalid_parameter(f"input.messages[0].content[{i}] must be one text or one image, as a string.")
        (texts if kinds[0] == "text" else images).append(element[kinds[0]])
    if len(texts) != 1 or not texts[0].strip():
        raise invalid_parameter("input.messages[0].content must hold exactly one non-empty text element.")
    return texts[0], images


def to_generation_request(
    body: dict[str, Any], spec: ModelSpec, take_image: TakeImage, streaming: bool
) -> GenerationRequest:
    """``streaming``: the request asked for server-sent events (header and parameters.stream)."""
    inputs = obj(body, "input", required=True)
    params = obj(body, "parameters", required=False)
    prompt, images = read_message(inputs)
    negative = text(params, "parameters", "negative_prompt", required=False, limit=NEGATIVE_PROMPT_MAX)
    interleave = spec.interleave and boolean(params, "enable_interleave", False)
    if interleave and params.get("n", 1) != 1:
        raise invalid_parameter("parameters.n must be 1 when enable_interleave is true.")
    n, seed = n_and_seed(params, spec)
    common = dict(
        model=spec.name, prompt=prompt[: spec.prompt_max], negative_prompt=negative, seed=seed,
        prompt_extend=boolean(params, "prompt_extend", True), watermark=boolean(params, "watermark", False),
    )

    def take_all(low: int, high: int) -> tuple[str, ...]:
        if not low <= len(images) <= high:
            raise invalid_parameter(f"{spec.name} takes {low} to {high} images in the message, got {len(images)}.")
        return tuple(take_image(f"images[{i}]", ref.strip()) for i, ref in enumerate(images))

    if interleave:
        if not streaming:
            raise invalid_parameter(INTERLEAVE_NEEDS_STREAM)
        max_images = integer(params, "max_images", 1, 5, 5)
        interleave_size = parse_size(params.get("size"), WAN26_INTERLEAVE_SIZES)
        return GenerationRequest(size=interleave_size, n=1, kind=TaskKind.INTERLEAVE, images=take_all(0, 1),
                                 options=InterleaveLimit(max_images), **common)
    if spec.input_rules is None:  # text-to-image
        if images:
            raise invalid_parameter(f"{spec.name} makes images from text: the message takes no image elements.")
        return GenerationRequest(size=parse_size(params.get("size"), spec.sizes), n=n, **common)
    refs = take_all(spec.images_min, spec.images_max)
    size, presets = params.get("size"), dict(spec.size_presets)
    if size is None or (isinstance(size, str) and size in presets):
        # The first input's proportions (known when it is read) at the preset's pixels.
        return GenerationRequest(size=None, n=n, kind=TaskKind.EDIT, images=refs,
                                 options=OutputArea(presets.get(size, spec.default_area)), **common)
    return GenerationRequest(size=parse_size(size, spec.sizes), n=n, kind=TaskKind.EDIT, images=refs, **common)


# --- answers ----------------------------------------------------------------------------


def _part(result: ResultPart, family: str, url_for: UrlFor) -> dict | None:
    """One content element of the answer; None for a failed image (counted in the usage)."""
    match result:
        case TextPart(text=paragraph):
            return {"type": "text", "text": paragraph}
        case ImagePart(file=key) if family == "qwen":
            return {"image": url_for(key)}
        case ImagePart(file=key):
            return {"image": url_for(key), "type": "image"}
        case ErrorPart():
            return None


def _images(task: TaskRecord) -> list[ImagePart]:
    return [part for part in task.results if isinstance(part, ImagePart)]


def _usage(task: TaskRecord, family: str) -> dict:
    made = _images(task)
    # Only a SUCCEEDED task is rendered, so an image was made; (0, 0) is never shown.
    width, height = (made[0].width, made[0].height) if made else (task.request.size or (0, 0))
    if family == "qwen":
        return {"width": width, "image_count": len(made), "height": height}
    # Billed by the image: the token counts are fixed at 0 (spec 002).
    return {"image_count": len(made), "input_tokens": 0, "output_tokens": 0, "size": f"{width}*{height}",
            "total_tokens": 0}


def _choice(content: list[dict], finish_reason: str) -> dict:
    return {"finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}


def render_answer(task: TaskRecord, family: str, url_for: UrlFor) -> dict:
    """A SUCCEEDED task as the synchronous answer: ``{output, usage}``."""
    ordered = sorted(task.results, key=lambda part: part.index)
    content = [p for p in (_part(r, family, url_for) for r in ordered) if p is not None]
    output: dict[str, Any] = {"choices": [_choice(content, "stop")]}
    if family == "qwen":
        succeeded = len(_images(task))
        output["task_metric"] = {"TOTAL": task.request.n, "FAILED": task.request.n - succeeded,
                                 "SUCCEEDED": succeeded}
    else:
        output["finished"] = True
    return {"output": output, "usage": _usage(task, family)}


def render_task_output(task: TaskRecord, url_for: UrlFor) -> tuple[dict, dict | None]:
    """What the task query adds for an ``image-generation`` task (spec 002): ``finished``, and
    once SUCCEEDED the ``choices`` and the usage. Returns (output fields, usage or None)."""
    fields: dict[str, Any] = {"finished": task.status in TERMINAL}
    if task.status is not TaskStatus.SUCCEEDED:
        return fields, None
    answer = render_answer(task, "wan", url_for)
    return {**fields, "choices": answer["output"]["choices"]}, answer["usage"]


def render_chunk(result: ResultPart, family: str, url_for: UrlFor) -> dict | None:
    """One streamed part, as the event's ``{output}``; None for a failed image."""
    part = _part(result, family, url_for)
    if part is None:
        return None
    return {"output": {"choices": [_choice([part], "null")], "finished": False}}


def render_last_chunk(task: TaskRecord, family: str) -> dict:
    """The streamed answer's last event: nothing new, ``stop``, the usage."""
    return {"output": {"choices": [_choice([], "stop")], "finished": True}, "usage": _usage(task, family)}
