"""Wire format of OpenAI's ``POST /v1/images/generations`` and ``GET /v1/models``.

Request (OpenAI's fields; DashScope's ``seed``, ``negative_prompt``, ``prompt_extend``,
``watermark`` as extra fields of the same object)::

    {"model": "wan2.2-t2i-flash", "prompt": "...", "n": 1, "size": "1024x1024",
     "response_format": "url", "seed": 42}

``model``: any model of the catalog that makes images from text (the text2image family, or the
messages protocol's text-to-image models); default ``qwen-image-plus`` (OpenAI's default,
dall-e-2, is not ours). ``n`` defaults to 1 (OpenAI's default; DashScope's wan models make 4).
``size``: ``"WxH"`` within the model's rules, or ``"auto"`` (absent: the
model's default). ``prompt_extend`` defaults to false here: OpenAI clients do not expect their
prompt rewritten. ``quality``, ``style``, ``user``, ``background``, ``output_format``,
``output_compression``, ``moderation`` are accepted and ignored.

OpenAI's sizes on a model with a fixed size list: OpenAI clients send OpenAI's own sizes
(``OPENAI_SIZES``). One the model does not take becomes the model's size of the nearest aspect
ratio (nearest in log(width/height)); a WxH the model takes is used as is; any other WxH is
refused with the model's rule. For the qwen-image family (1664x928, 1472x1140, 1328x1328,
1140x1472, 928x1664):

    ========================================  =========
    OpenAI size                               drawn at
    ========================================  =========
    256x256, 512x512, 1024x1024               1328x1328
    1536x1024 (3:2)                           1472x1140
    1024x1536 (2:3)                           1140x1472
    1792x1024 (7:4)                           1664x928
    1024x1792 (4:7)                           928x1664
    ========================================  =========

Models with a pixel range (wan) keep their checks: 1024x1024 is drawn as asked, 256x256 refused.

``stream: true``: server-sent events instead of one answer (``streaming.py``): with
``partial_images`` 1–3, pictures of each image on its way (engines with denoising steps), then
each image's ``image_generation.completed``. ``partial_images`` must be 0–3 (default 0),
streaming or not; without ``stream`` it makes nothing.

Answer: ``{"created": unix, "data": [{"url": ...} or {"b64_json": ...}, "revised_prompt"?]}``
with the images that were made (``revised_prompt`` when prompt_extend rewrote the prompt).
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from imagescope.errors import Refused, shown
from imagescope.http.openai.errors import ErrorDetail, InvalidRequest, UnknownModel, about
from imagescope.http.params import image_count, seed_or_random
from imagescope.http.wire import RequiredText, Seed, WireModel
from imagescope.models.catalog import (
    MULTIMODAL,
    NEGATIVE_PROMPT_MAX,
    TEXT2IMAGE,
    Catalog,
    FixedSizes,
    ModelSpec,
    parse_size,
)
from imagescope.tasks.spec import GenerationRequest

DEFAULT_MODEL = "qwen-image-plus"
SIZE_RE = re.compile(r"^\s*([0-9]{1,5})\s*[xX*]\s*([0-9]{1,5})\s*$")  # "1024x1024" (or DashScope's "1024*1024")
# The sizes OpenAI's image models take (dall-e-2, dall-e-3, gpt-image-1): what OpenAI clients send.
OPENAI_SIZES = frozenset({(256, 256), (512, 512), (1024, 1024), (1536, 1024), (1024, 1536), (1792, 1024), (1024, 1792)})
PARTIAL_IMAGES_MAX = 3  # OpenAI's range of partial_images: 0–3


class ImagesRequest(WireModel):
    model: str = Field(DEFAULT_MODEL, description="Any text-to-image model of GET /v1/models; default qwen-image-plus.")
    prompt: RequiredText = Field(description="What to draw. Truncated beyond the model's limit, never refused.")
    n: int = Field(1, description="How many images, within the model's range (wan: 1–4); default 1, as OpenAI's.")
    size: str | None = Field(None, description='"WIDTHxHEIGHT" within the model\'s rules, or "auto" (its default).')
    response_format: Literal["url", "b64_json"] = Field("url", description="A signed URL (24 h), or the PNG in base64.")
    stream: bool = Field(False, description="Server-sent events: partial images, then each image's completed event.")
    partial_images: int | None = Field(
        None, description="With stream: 0–3 pictures of each image on its way (engines with steps); default 0."
    )
    quality: str | None = Field(None, description="Accepted and ignored.")
    style: str | None = Field(None, description="Accepted and ignored.")
    user: str | None = Field(None, description="Accepted and ignored.")
    background: str | None = Field(None, description="Accepted and ignored.")
    output_format: str | None = Field(None, description="Accepted and ignored: the images are PNG.")
    output_compression: int | None = Field(None, description="Accepted and ignored.")
    moderation: str | None = Field(None, description="Accepted and ignored.")
    # DashScope's parameters, as extra fields of the body.
    seed: Seed | None = Field(None, description="0–2147483647; image i uses seed + i. Default: random.")
    negative_prompt: str = Field("", description=f"Truncated beyond {NEGATIVE_PROMPT_MAX} characters.")
    prompt_extend: bool = Field(False, description="Rewrite the prompt first (revised_prompt). Default false here.")
    watermark: bool = Field(False, description="Draw the model's watermark bottom-right.")

    def to_generation_request(self, spec: ModelSpec) -> GenerationRequest:
        """``spec``: this request's model (see ``endpoint_of``)."""
        partial_images = self.partial_images or 0
        if not 0 <= partial_images <= PARTIAL_IMAGES_MAX:
            raise InvalidRequest(
                f"partial_images must be between 0 and {PARTIAL_IMAGES_MAX}, got {shown(partial_images)}",
                "partial_images",
            )
        with about("n"):
            n = image_count(self.n, spec)
        return GenerationRequest(
            model=spec.name,
            prompt=self.prompt[: spec.prompt_max],  # over-long prompts are truncated, never refused
            negative_prompt=self.negative_prompt[:NEGATIVE_PROMPT_MAX],
            size=self._size(spec),
            n=n,
            seed=seed_or_random(self.seed),
            prompt_extend=self.prompt_extend,
            watermark=self.watermark,
            partial_images=partial_images if self.stream else 0,
        )

    def _size(self, spec: ModelSpec) -> tuple[int, int]:
        if self.size is None or self.size == "auto":
            return spec.sizes.default
        match = SIZE_RE.match(self.size)
        if match is None:
            raise InvalidRequest(f'size must be "auto" or WIDTHxHEIGHT, got {shown(self.size)}', "size")
        asked = (int(match[1]), int(match[2]))
        if isinstance(spec.sizes, FixedSizes) and asked in OPENAI_SIZES and asked not in spec.sizes.allowed:
            return nearest_aspect(asked, spec.sizes.allowed)
        return checked_size(match, spec)


def checked_size(match: re.Match[str], spec: ModelSpec) -> tuple[int, int]:
    """A ``SIZE_RE`` match within the model's size rule, refused in OpenAI's words."""
    try:
        return parse_size(f"{match[1]}*{match[2]}", spec.sizes)
    except Refused as refusal:
        why = refusal.message.partition(" is invalid: ")[2]
        raise InvalidRequest(f"size {match[1]}x{match[2]} is invalid for {spec.name}: {why}", "size") from None


def nearest_aspect(size: tuple[int, int], sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The one of ``sizes`` whose aspect ratio is nearest ``size``'s (the first of equals)."""
    ratio = math.log(size[0] / size[1])
    return min(sizes, key=lambda candidate: abs(math.log(candidate[0] / candidate[1]) - ratio))


def endpoint_of(catalog: Catalog, name: str) -> str:
    """The endpoint family a model makes images from text on: text2image where it is served
    (its limits and prices), else the messages protocol's; models that take input images are
    not served here."""
    spec = catalog.models.get(name)
    if spec is not None and TEXT2IMAGE in spec.endpoints:
        return TEXT2IMAGE
    if spec is not None and MULTIMODAL in spec.endpoints and spec.input_rules is None:
        return MULTIMODAL
    raise UnknownModel(name)


# --- answers (documentation: the route builds them as dicts) --------------------------------


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class Image(Answer):
    url: str | None = Field(None, description="response_format url: the signed URL of the PNG, valid 24 h.")
    b64_json: str | None = Field(None, description="response_format b64_json: the PNG, base64-encoded.")
    revised_prompt: str | None = Field(None, description="The prompt the model drew, when prompt_extend rewrote it.")


class ImagesResponse(Answer):
    created: int = Field(description="Unix seconds: when the images were made.")
    data: list[Image] = Field(description="The images that were made (a failed one is left out).")


class Model(Answer):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Answer):
    object: Literal["list"]
    data: list[Model]


# --- stream events (``stream: true``; the route sends them as server-sent events) -------------


class ImageEvent(BaseModel):
    """What both events of an image stream carry, as the ``openai`` SDK's
    ``ImageGenPartialImageEvent`` and ``ImageGenCompletedEvent`` read them."""

    b64_json: str = Field(description="The PNG, base64-encoded.")
    created_at: int = Field(description="Unix seconds: when the event was sent.")
    size: str = Field(description='The picture\'s "WIDTHxHEIGHT", e.g. "1328x1328".')
    quality: Literal["auto"] = "auto"
    background: Literal["opaque"] = Field("opaque", description="The PNGs are RGB: never transparent.")
    output_format: Literal["png"] = "png"


class PartialImageEvent(ImageEvent):
    type: Literal["image_generation.partial_image"] = "image_generation.partial_image"
    partial_image_index: int = Field(description="0-based, per image: its pictures on the way, in order.")


class InputTokens(BaseModel):
    image_tokens: int = 0
    text_tokens: int = 0


class ImageUsage(BaseModel):
    """OpenAI's token usage, which the SDK requires; no tokens are counted here: all zero."""

    input_tokens: int = 0
    input_tokens_details: InputTokens = Field(default_factory=InputTokens)
    output_tokens: int = 0
    total_tokens: int = 0


class CompletedEvent(ImageEvent):
    type: Literal["image_generation.completed"] = "image_generation.completed"
    usage: ImageUsage = Field(default_factory=ImageUsage)


class ErrorEvent(BaseModel):
    """A failure after the stream began (before, the answer is the error envelope and its
    status): the SDK raises ``APIError`` with ``error`` as its body."""

    type: Literal["error"] = "error"
    error: ErrorDetail
