"""Which endpoint a model is called on, and the body it takes there.

The hosted service serves its image models on four endpoint families, and a client must know
which (there is no listing on the hosted service to ask):

========================================  =============================================  ======
models                                    endpoint                                       call
========================================  =============================================  ======
wan2.x / wanx2.1 text-to-image, qwen-     ``services/aigc/text2image/image-synthesis``   async
image, qwen-image-plus
wanx2.1-imageedit, wan2.5-i2i-*           ``services/aigc/image2image/image-synthesis``  async
wan2.6-* (wan2.6-t2i, wan2.6-image)       ``services/aigc/image-generation/generation``  async
qwen-image-max, qwen-image-edit*,         ``services/aigc/multimodal-generation/         sync
z-image-turbo                             generation``
========================================  =============================================  ======

The last two speak the messages protocol (``input.messages``, answers in ``choices``); the
others the task protocol (``input.prompt``, answers in ``results``). A model of the built-in
catalog (models/catalog.py) is called where the catalog serves it; only a name the catalog does
not know (one the hosted service alone serves) is placed by the name rules below, else taken
for the first row (text-to-image) or the second (editing).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from imagescope.models.catalog import IMAGE_GENERATION, MULTIMODAL, Catalog

TEXT2IMAGE_PATH = "/services/aigc/text2image/image-synthesis"
IMAGE2IMAGE_PATH = "/services/aigc/image2image/image-synthesis"
IMAGE_GENERATION_PATH = "/services/aigc/image-generation/generation"
MULTIMODAL_PATH = "/services/aigc/multimodal-generation/generation"

# Names the built-in catalog does not know, by prefix:
SYNC_ONLY = ("qwen-image-max", "qwen-image-edit")  # the messages protocol, synchronous only
MESSAGES_ASYNC = ("wan2.6-",)  # the messages protocol on the asynchronous endpoint
FUNCTION_MODELS = ("wanx2.1-imageedit",)  # one base image, a `function`, an optional mask
MASKED_FUNCTION = "description_edit_with_mask"


@dataclass(frozen=True)
class Call:
    """One request to make: POST ``path`` with ``body``; ``asynchronous`` → a task to wait for,
    else the answer is the result (the messages protocol's synchronous call)."""

    path: str
    body: dict[str, Any]
    asynchronous: bool
    references_uploads: bool = False  # oss:// inputs: X-DashScope-OssResourceResolve: enable


@dataclass(frozen=True)
class Ask:
    """What the user asked for, whatever the protocol. ``images``: URLs, ``data:`` URIs or the
    ``oss://`` keys local files were uploaded to; ``mask`` likewise."""

    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    images: tuple[str, ...] = ()
    mask: str | None = None
    function: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


_BUILTIN = Catalog().models  # which endpoint families serve each model we know


def _messages(model: str) -> bool | None:
    """None: the task protocol; True: messages, synchronous; False: messages, asynchronous."""
    spec = _BUILTIN.get(model)
    if spec is not None:
        if spec.endpoints == {MULTIMODAL}:
            return True
        return False if IMAGE_GENERATION in spec.endpoints else None
    if model.startswith(SYNC_ONLY):
        return True
    if model.startswith(MESSAGES_ASYNC):
        return False
    return None


def _function_model(model: str) -> bool:
    """Whether the model edits one base image with a ``function`` (and an optional mask)."""
    spec = _BUILTIN.get(model)
    return bool(spec.functions) if spec is not None else model.startswith(FUNCTION_MODELS)


def text_to_image(ask: Ask) -> Call:
    sync = _messages(ask.model)
    if sync is None:
        inputs: dict[str, Any] = {"prompt": ask.prompt or ""}
        if ask.negative_prompt:
            inputs["negative_prompt"] = ask.negative_prompt
        return Call(TEXT2IMAGE_PATH, {"model": ask.model, "input": inputs, "parameters": ask.parameters}, True)
    return _messages_call(ask, sync)


def edit(ask: Ask) -> Call:
    """An editing call; raises ValueError (said to the user) for what no server would take."""
    uploads = any(ref.startswith("oss://") for ref in (*ask.images, ask.mask or ""))
    sync = _messages(ask.model)
    function_model = sync is None and _function_model(ask.model)
    if not function_model and (ask.mask is not None or ask.function is not None):
        raise ValueError(f"{ask.model} takes neither --mask nor --function (wanx2.1-imageedit does)")
    if sync is not None:
        return replace(_messages_call(ask, sync), references_uploads=uploads)
    inputs: dict[str, Any] = {}
    if ask.prompt is not None:
        inputs["prompt"] = ask.prompt
    if ask.negative_prompt:
        inputs["negative_prompt"] = ask.negative_prompt
    if function_model:
        if len(ask.images) != 1:
            raise ValueError(f"{ask.model} edits one image, got {len(ask.images)}")
        function = ask.function or (MASKED_FUNCTION if ask.mask is not None else None)
        if function is None:
            raise ValueError(f"{ask.model} needs --function (e.g. description_edit, super_resolution)")
        inputs["function"] = function
        inputs["base_image_url"] = ask.images[0]
        if ask.mask is not None:
            inputs["mask_image_url"] = ask.mask
    else:
        inputs["images"] = list(ask.images)
    body = {"model": ask.model, "input": inputs, "parameters": ask.parameters}
    return Call(IMAGE2IMAGE_PATH, body, True, uploads)


def _messages_call(ask: Ask, sync: bool) -> Call:
    content: list[dict[str, str]] = [{"image": image} for image in ask.images]
    content.append({"text": ask.prompt or ""})
    parameters = dict(ask.parameters)
    if ask.negative_prompt:
        parameters["negative_prompt"] = ask.negative_prompt
    body = {
        "model": ask.model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": parameters,
    }
    return Call(MULTIMODAL_PATH if sync else IMAGE_GENERATION_PATH, body, not sync)


def result_images(output: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    """``(url, None)`` per image made, ``(None, "code: message")`` per image that failed, in order,
    from either protocol's output (``results``, or the images in ``choices``)."""
    found: list[tuple[str | None, str | None]] = []
    for result in output.get("results") or []:
        if result.get("url"):
            found.append((str(result["url"]), None))
        else:
            found.append((None, f"{result.get('code')}: {result.get('message')}"))
    for choice in output.get("choices") or []:
        for part in (choice.get("message") or {}).get("content") or []:
            if isinstance(part, dict) and part.get("image"):
                found.append((str(part["image"]), None))
    return found
