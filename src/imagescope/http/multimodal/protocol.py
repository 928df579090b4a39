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
    z-image: {"output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant",
                          "content": [{"image": url}, {"text": the prompt drawn}],
                          "reasoning_content": ""}}]},
              "usage": {"width", "height", "image_count": 1, "input_tokens": 0, "output_tokens": 0,
                        "total_tokens": 0}}

z-image-turbo (video-notes §4) answers its one image and the prompt it drew from (the rewritten
one with ``prompt_extend``, its "thinking", off by default there and billed double), and
``reasoning_content``: empty without prompt_extend; with it, a line saying the prompt was
rewritten (imagescope's rewriters give the prompt alone, no reasoning).

Streamed (``X-DashScope-Sse: enable``; the docs add ``parameters.stream: true``, which the SDK
never sends, so the header decides unless ``stream`` is false), each part of the answer is one
event as soon as it is made — ``{"type": "text", "text"}`` or ``{"type": "image", "image"}``,
``finish_reason`` "null", ``finished`` false — and a last event carries ``finish_reason``
"stop", ``finished`` true and the usage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from imagescope.errors import invalid_parameter
from imagescope.http.params import image_count, integer, seed_or_random
from imagescope.http.wire import Seed, SizeText, WireModel, checked_later, parse
from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, WAN26_INTERLEAVE_SIZES, ModelSpec, parse_size
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import (
    ErrorPart,
    GenerationRequest,
    ImagePart,
    InterleaveLimit,
    OutputArea,
    ResultPart,
    TaskKind,
    TextPart,
    VideoPart,
)
from imagescope.tasks.store import TERMINAL, TaskRecord, TaskStatus

UrlFor = Callable[[str], str]  # a stored result's key → its signed URL

# Models answering in Z-Image's shape (content: the image, then the prompt drawn; reasoning_content),
# with prompt_extend off unless asked.
ZIMAGE_REASONING = "The prompt was rewritten with more visual detail (prompt_extend); the image was drawn from it."

INTERLEAVE_NEEDS_STREAM = (
    "enable_interleave=true requires streaming output: send the header X-DashScope-Sse: enable "
    "and set parameters.stream to true."
)


def check_message(inputs: dict[str, Any]) -> None:
    """Exactly one user message holding exactly one non-empty text, and images as strings —
    in the hosted service's words."""
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
    texts = []
    for i, element in enumerate(content):
        kinds = [k for k in ("text", "image") if isinstance(element, dict) and k in element]
        if len(kinds) != 1 or not isinstance(element[kinds[0]], str):
            raise invalid_parameter(f"input.messages[0].content[{i}] must be one text or one image, as a string.")
        if kinds[0] == "text":
            texts.append(element["text"])
    if len(texts) != 1 or not texts[0].strip():
        raise invalid_parameter("input.messages[0].content must hold exactly one non-empty text element.")


class ContentElement(WireModel):
    """One element of the message: a text, or an image (URL, data: URI or oss:// upload)."""

    text: str | None = None
    image: str | None = None


class Message(WireModel):
    role: Literal["user"]
    content: list[ContentElement] = Field(description="One text; images only for the editing models.")


class MessagesInput(WireModel):
    messages: list[Message] = Field(description="Exactly one user message: single-turn only.")

    @model_validator(mode="before")
    @classmethod
    def _one_user_message(cls, data: Any) -> Any:
        if isinstance(data, dict):
            check_message(data)
        return data

    def text_and_images(self) -> tuple[str, list[str]]:
        """The message's text, and its image references in order."""
        content = self.messages[0].content
        text = next(element.text for element in content if element.text is not None)
        return text, [element.image for element in content if element.image is not None]


MAX_IMAGES = checked_later(
    {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "default": 5,
        "description": "enable_interleave: at most this many images.",
    }
)


class MessagesParameters(WireModel):
    size: SizeText | None = Field(
        None,
        description='width*height, or "1K"/"2K" for wan2.6-image; default: the '
        "model's (editing: the first image's proportions).",
    )
    n: int | None = Field(None, description="How many images: 1 for qwen-image, 1–4 (default 4) for wan2.6.")
    seed: Seed | None = Field(None, description="0–2147483647; image i uses seed + i. Default: random.")
    negative_prompt: str = Field("", description=f"Truncated beyond {NEGATIVE_PROMPT_MAX} characters.")
    prompt_extend: bool | None = Field(
        None,
        description="Rewrite the prompt first. Default true; false for z-image-turbo (its thinking, billed double).",
    )
    watermark: bool = Field(False, description="Draw the model's watermark bottom-right.")
    enable_interleave: bool = Field(
        False, description="wan2.6-image: text parts, each followed by its image (streamed only; n must be 1)."
    )
    max_images: Annotated[Any, MAX_IMAGES] = None
    stream: bool | None = Field(None, description="With X-DashScope-Sse: enable, false still asks for one answer.")

    def extend(self, spec: ModelSpec) -> bool:
        """``prompt_extend`` as given, else the model's default (on, but for z-image-turbo)."""
        return self.prompt_extend if self.prompt_extend is not None else spec.prompt_extend_default


class MessagesRequest(WireModel):
    model: str = Field(description="e.g. qwen-image-plus, wan2.6-t2i, qwen-image-edit-plus, wan2.6-image")
    input: MessagesInput
    parameters: MessagesParameters = Field(default_factory=MessagesParameters)

    def to_generation_request(self, spec: ModelSpec, take_image: TakeImage, streaming: bool) -> GenerationRequest:
        """``streaming``: the request asked for server-sent events (header and parameters.stream)."""
        given = self.parameters
        prompt, images = self.input.text_and_images()
        interleave = spec.interleave and given.enable_interleave
        if interleave and given.n not in (None, 1):
            raise invalid_parameter("parameters.n must be 1 when enable_interleave is true.")
        common: dict[str, Any] = dict(
            model=spec.name,
            prompt=prompt[: spec.prompt_max],
            negative_prompt=given.negative_prompt[:NEGATIVE_PROMPT_MAX],
            seed=seed_or_random(given.seed),
            prompt_extend=given.extend(spec),
            watermark=given.watermark,
        )
        n = image_count(given.n, spec)

        def take_all(low: int, high: int) -> tuple[str, ...]:
            if not low <= len(images) <= high:
                raise invalid_parameter(f"{spec.name} takes {low} to {high} images in the message, got {len(images)}.")
            return tuple(take_image(f"images[{i}]", ref.strip()) for i, ref in enumerate(images))

        if interleave:
            if not streaming:
                raise invalid_parameter(INTERLEAVE_NEEDS_STREAM)
            max_images = integer(given.max_images, "max_images", 1, 5, 5)
            return GenerationRequest(
                size=parse_size(given.size, WAN26_INTERLEAVE_SIZES),
                n=1,
                kind=TaskKind.INTERLEAVE,
                images=take_all(0, 1),
                options=InterleaveLimit(max_images),
                **common,
            )
        if spec.input_rules is None:  # text-to-image
            if images:
                raise invalid_parameter(f"{spec.name} makes images from text: the message takes no image elements.")
            return GenerationRequest(size=parse_size(given.size, spec.sizes), n=n, **common)
        refs = take_all(spec.images_min, spec.images_max)
        presets = dict(spec.size_presets)
        if given.size is None or given.size in presets:
            # The first input's proportions (known when it is read) at the preset's pixels.
            return GenerationRequest(
                size=None,
                n=n,
                kind=TaskKind.EDIT,
                images=refs,
                options=OutputArea(presets.get(given.size or "", spec.default_area)),
                **common,
            )
        return GenerationRequest(
            size=parse_size(given.size, spec.sizes), n=n, kind=TaskKind.EDIT, images=refs, **common
        )


def to_generation_request(
    body: dict[str, Any], spec: ModelSpec, take_image: TakeImage, streaming: bool
) -> GenerationRequest:
    """The routes' parser (tasks.accept.Parse, with ``streaming`` bound): the body as a
    MessagesRequest, converted."""
    return parse(MessagesRequest, body).to_generation_request(spec, take_image, streaming)


# --- answers ----------------------------------------------------------------------------


def _part(result: ResultPart, family: str, url_for: UrlFor) -> dict[str, Any] | None:
    """One content element of the answer; None for a failed image (counted in the usage)."""
    match result:
        case TextPart(text=paragraph):
            return {"type": "text", "text": paragraph}
        case ImagePart(file=key) if family in ("qwen", "zimage"):
            return {"image": url_for(key)}
        case ImagePart(file=key):
            return {"image": url_for(key), "type": "image"}
        case ErrorPart() | VideoPart():  # a failed image; a video is never a messages answer's
            return None


def _images(task: TaskRecord) -> list[ImagePart]:
    return [part for part in task.results if isinstance(part, ImagePart)]


def _usage(task: TaskRecord, family: str) -> dict[str, Any]:
    made = _images(task)
    # Only a SUCCEEDED task is rendered, so an image was made; (0, 0) is never shown.
    width, height = (made[0].width, made[0].height) if made else (task.request.size or (0, 0))
    if family == "qwen":
        return {"width": width, "image_count": len(made), "height": height}
    if family == "zimage":  # billed by the image: the token counts are fixed at 0
        return {
            "width": width,
            "height": height,
            "image_count": len(made),
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 0,
        }
    # Billed by the image: the token counts are fixed at 0 (spec 002).
    return {
        "image_count": len(made),
        "input_tokens": 0,
        "output_tokens": 0,
        "size": f"{width}*{height}",
        "total_tokens": 0,
    }


def _choice(content: list[dict[str, Any]], finish_reason: str) -> dict[str, Any]:
    return {"finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}


def _zimage_choice(task: TaskRecord, content: list[dict[str, Any]]) -> dict[str, Any]:
    """z-image's last choice: ``content`` then the prompt drawn, and the reasoning."""
    choice = _choice([*content, {"text": task.actual_prompt or task.request.prompt}], "stop")
    choice["message"]["reasoning_content"] = ZIMAGE_REASONING if task.actual_prompt is not None else ""
    return choice


def render_answer(task: TaskRecord, family: str, url_for: UrlFor) -> dict[str, Any]:
    """A SUCCEEDED task as the synchronous answer: ``{output, usage}``."""
    ordered = sorted(task.results, key=lambda part: part.index)
    content = [p for p in (_part(r, family, url_for) for r in ordered) if p is not None]
    if family == "zimage":
        return {"output": {"choices": [_zimage_choice(task, content)]}, "usage": _usage(task, family)}
    output: dict[str, Any] = {"choices": [_choice(content, "stop")]}
    if family == "qwen":
        succeeded = len(_images(task))
        output["task_metric"] = {"TOTAL": task.request.n, "FAILED": task.request.n - succeeded, "SUCCEEDED": succeeded}
    else:
        output["finished"] = True
    return {"output": output, "usage": _usage(task, family)}


def render_task_output(task: TaskRecord, url_for: UrlFor) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What the task query adds for an ``image-generation`` task (spec 002): ``finished``, and
    once SUCCEEDED the ``choices`` and the usage. Returns (output fields, usage or None)."""
    fields: dict[str, Any] = {"finished": task.status in TERMINAL}
    if task.status is not TaskStatus.SUCCEEDED:
        return fields, None
    answer = render_answer(task, "wan", url_for)
    return {**fields, "choices": answer["output"]["choices"]}, answer["usage"]


def render_chunk(result: ResultPart, family: str, url_for: UrlFor) -> dict[str, Any] | None:
    """One streamed part, as the event's ``{output}``; None for a failed image."""
    part = _part(result, family, url_for)
    if part is None:
        return None
    return {"output": {"choices": [_choice([part], "null")], "finished": False}}


def render_last_chunk(task: TaskRecord, family: str) -> dict[str, Any]:
    """The streamed answer's last event: nothing new (z-image: the prompt drawn), ``stop``, the usage."""
    choice = _zimage_choice(task, []) if family == "zimage" else _choice([], "stop")
    return {"output": {"choices": [choice], "finished": True}, "usage": _usage(task, family)}
