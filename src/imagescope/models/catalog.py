"""Every public model name and its rules, as spec/ documents them.

The catalog answers: does this model exist, which endpoint families accept it, which
sizes, how many images, how long a prompt, which watermark text, which engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

from imagescope.errors import invalid_parameter, model_not_found, shown
from imagescope.inputs import ImageRules
from imagescope.models.video import VIDEO_FREE_SECONDS, VIDEO_IMAGE_INPUTS, VIDEO_MODELS, VideoMode, VideoRules
from imagescope.tasks.spec import Function

SEED_MAX = 2147483647
NEGATIVE_PROMPT_MAX = 500
_SIZE_RE = re.compile(r"^\s*([0-9]{1,5})\s*\*\s*([0-9]{1,5})\s*$")  # ASCII digits only: never "²"


class SizeRule(Protocol):
    @property
    def default(self) -> tuple[int, int]: ...

    def check(self, width: int, height: int) -> str | None:
        """None if allowed, else why not."""


@dataclass(frozen=True)
class FixedSizes:
    allowed: tuple[tuple[int, int], ...]
    default: tuple[int, int]

    def check(self, width: int, height: int) -> str | None:
        if (width, height) in self.allowed:
            return None
        names = ", ".join(f"{w}*{h}" for w, h in self.allowed)
        return f"must be one of {names}"


@dataclass(frozen=True)
class TotalPixels:
    """Total pixels between two squares, aspect ratio between 1:max_ratio and max_ratio:1."""

    min_side: int
    max_side: int
    max_ratio: int
    default: tuple[int, int]

    def check(self, width: int, height: int) -> str | None:
        if not self.min_side**2 <= width * height <= self.max_side**2:
            return f"total pixels must be between {self.min_side}*{self.min_side} and {self.max_side}*{self.max_side}"
        if width > height * self.max_ratio or height > width * self.max_ratio:
            return f"aspect ratio must be within [1:{self.max_ratio}, {self.max_ratio}:1]"
        return None


@dataclass(frozen=True)
class SideRange:
    """Each side between two bounds."""

    min_side: int
    max_side: int
    default: tuple[int, int]

    def check(self, width: int, height: int) -> str | None:
        if self.min_side <= width <= self.max_side and self.min_side <= height <= self.max_side:
            return None
        return f"width and height must each be between {self.min_side} and {self.max_side}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "qwen", "wan" or "zimage": the watermark text (Qwen-Image or AI-generated), the answers' look
    endpoints: frozenset[str]
    sizes: SizeRule
    prompt_max: int
    n_max: int
    n_default: int
    engine: str = "preview"
    unit_price: float = 0.0  # per successfully generated image, USD
    extend_price: float = 0.0  # per image when prompt_extend is on (z-image-turbo's "thinking"); 0: unit_price
    prompt_extend_default: bool = True  # prompt_extend when the request leaves it out (z-image-turbo: off)
    free_quota: int = 100  # images, per account
    free_quota_days: int = 90  # from the account's activation
    submit_rps: int = 2  # task submissions per second, per account
    concurrency: int = 2  # tasks RUNNING at once, per account
    # Editing models: what an input image may be, and how many a request may carry.
    input_rules: ImageRules | None = None
    images_min: int = 0
    images_max: int = 0
    functions: frozenset[Function] = frozenset()  # wanx2.1-imageedit's input.function values
    function_engines: tuple[tuple[Function, str], ...] = ()  # (function, engine) where not ``engine``
    # Editing through messages: with no ``size`` (or a named preset), the output keeps the first
    # input's proportions at about this many pixels.
    default_area: int = 0
    size_presets: tuple[tuple[str, int], ...] = ()  # ("1K", 1280*1280): size names → pixels
    interleave: bool = False  # wan2.6-image: enable_interleave (streamed text and images)
    # Every name of this model (wanx2.1-* and wan2.1-* are one model): they share one free quota.
    # Empty: the model has one name.
    names: tuple[str, ...] = ()
    # Video models (models/video.py): their rules. Their price, quota and ledger count seconds of video.
    video: VideoRules | None = None

    @property
    def quota_names(self) -> tuple[str, ...]:
        """The model names whose use counts against this model's free quota."""
        return self.names or (self.name,)

    @property
    def watermark_text(self) -> str:
        return "Qwen-Image" if self.family == "qwen" else "AI-generated"

    @property
    def image_rules(self) -> ImageRules:
        """The rules of this model's input images; a model that takes none refuses any."""
        if self.input_rules is None:
            raise invalid_parameter(f"{self.name} takes no input images.")
        return self.input_rules

    def engine_for(self, function: Function | None = None) -> str:
        """The engine serving ``function`` (None: the model's requests without one)."""
        if function is None:
            return self.engine
        return dict(self.function_engines).get(function, self.engine)


# Endpoint families, by their path under /api/v1/services/aigc/.
TEXT2IMAGE = "text2image"  # text2image/image-synthesis: asynchronous, prompt in input
IMAGE2IMAGE = "image2image"  # image2image/image-synthesis: asynchronous editing
MULTIMODAL = "multimodal-generation"  # synchronous (or streamed), messages in input
IMAGE_GENERATION = "image-generation"  # asynchronous, messages in input (wan2.6)

# wanx2.1-imageedit (spec 003). The input image rules are the hosted API reference's
# (spec 003 does not restate them): JPG/JPEG/PNG/BMP/TIFF/WEBP, sides 512–4096, ≤ 10 MB.
IMAGEEDIT_FUNCTIONS = frozenset(Function)
IMAGEEDIT_INPUTS = ImageRules(min_side=512, max_side=4096, formats=("JPEG", "PNG", "BMP", "TIFF", "WEBP"))
# wan2.5-i2i-preview (spec 004): JPEG/JPG/PNG/BMP/WEBP; sides 384–5000 and 1–3 images per
# the hosted API reference (spec 004's parameter table is collapsed).
WAN25_I2I_INPUTS = ImageRules(min_side=384, max_side=5000, formats=("JPEG", "PNG", "BMP", "WEBP"))
WAN25_I2I_SIZES = TotalPixels(min_side=768, max_side=1280, max_ratio=4, default=(1280, 1280))

QWEN_SIZES = FixedSizes(
    allowed=((1664, 928), (1472, 1140), (1328, 1328), (1140, 1472), (928, 1664)),
    default=(1328, 1328),
)
WAN25_SIZES = TotalPixels(min_side=768, max_side=1440, max_ratio=4, default=(1280, 1280))
WAN22_SIZES = SideRange(min_side=512, max_side=1440, default=(1024, 1024))
WAN26_T2I_SIZES = TotalPixels(min_side=768, max_side=1440, max_ratio=4, default=(1280, 1280))

# Qwen image editing (spec 000): JPG/JPEG/PNG/BMP/TIFF/WEBP and GIF (first frame), sides
# 384–3072, ≤ 10 MB, 1–3 images. Output: the first image's proportions at about 1024*1024,
# or a ``size`` of 512–2048 per side (the hosted qwen-image-edit-plus rule).
QWEN_EDIT_INPUTS = ImageRules(min_side=384, max_side=3072, formats=("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF"))
QWEN_EDIT_SIZES = SideRange(min_side=512, max_side=2048, default=(1024, 1024))
# wan2.6-image (spec 000): JPEG/JPG/PNG/BMP/WEBP, sides 240–8000, ≤ 10 MB; editing takes 1–4
# images and answers 1K (1280*1280, default) or 2K (2048*2048) in the first input's
# proportions, or a width*height of 768*768–2048*2048 pixels; interleaved output takes 0–1
# images and answers 768*768–1280*1280 pixels.
WAN26_IMAGE_INPUTS = ImageRules(min_side=240, max_side=8000, formats=("JPEG", "PNG", "BMP", "WEBP"))
WAN26_IMAGE_SIZES = TotalPixels(min_side=768, max_side=2048, max_ratio=4, default=(1280, 1280))
WAN26_INTERLEAVE_SIZES = TotalPixels(min_side=768, max_side=1280, max_ratio=4, default=(1280, 1280))
# z-image-turbo (video-notes §4): total pixels 512*512–2048*2048 [read]; the default 1024*1536
# and the 800-character prompt are third parties' [3P]; the aspect-ratio bound is ours (as wan2.5's).
ZIMAGE_SIZES = TotalPixels(min_side=512, max_side=2048, max_ratio=4, default=(1024, 1536))


def _builtin_models() -> dict[str, ModelSpec]:
    t2i = frozenset({TEXT2IMAGE})
    qwen_t2i = frozenset({TEXT2IMAGE, MULTIMODAL})
    messages = frozenset({MULTIMODAL, IMAGE_GENERATION})
    specs = [
        # Prices: spec 001, Singapore region. qwen-image-max has none in spec/: set one with
        # IMAGESCOPE_PRICES. It answers only synchronously, as the hosted one does.
        ModelSpec("qwen-image", "qwen", qwen_t2i, QWEN_SIZES, prompt_max=800, n_max=1, n_default=1, unit_price=0.035),
        ModelSpec(
            "qwen-image-plus", "qwen", qwen_t2i, QWEN_SIZES, prompt_max=800, n_max=1, n_default=1, unit_price=0.03
        ),
        ModelSpec("qwen-image-max", "qwen", frozenset({MULTIMODAL}), QWEN_SIZES, prompt_max=800, n_max=1, n_default=1),
        # Synchronous only, one image per call; $0.015, or $0.03 with prompt_extend ("thinking").
        ModelSpec(
            "z-image-turbo",
            "zimage",
            frozenset({MULTIMODAL}),
            ZIMAGE_SIZES,
            prompt_max=800,
            n_max=1,
            n_default=1,
            unit_price=0.015,
            extend_price=0.03,
            prompt_extend_default=False,
        ),
        ModelSpec("wan2.6-t2i", "wan", messages, WAN26_T2I_SIZES, prompt_max=2100, n_max=4, n_default=4),
        # qwen-image-edit makes one image (as qwen-image); -plus up to six (the hosted rule).
        ModelSpec(
            "qwen-image-edit",
            "qwen",
            frozenset({MULTIMODAL}),
            QWEN_EDIT_SIZES,
            prompt_max=800,
            n_max=1,
            n_default=1,
            input_rules=QWEN_EDIT_INPUTS,
            images_min=1,
            images_max=3,
            default_area=1024 * 1024,
        ),
        ModelSpec(
            "qwen-image-edit-plus",
            "qwen",
            frozenset({MULTIMODAL}),
            QWEN_EDIT_SIZES,
            prompt_max=800,
            n_max=6,
            n_default=1,
            input_rules=QWEN_EDIT_INPUTS,
            images_min=1,
            images_max=3,
            default_area=1024 * 1024,
        ),
        ModelSpec(
            "wan2.6-image",
            "wan",
            messages,
            WAN26_IMAGE_SIZES,
            prompt_max=2000,
            n_max=4,
            n_default=4,
            input_rules=WAN26_IMAGE_INPUTS,
            images_min=1,
            images_max=4,
            default_area=1280 * 1280,
            size_presets=(("1K", 1280 * 1280), ("2K", 2048 * 2048)),
            interleave=True,
        ),
        ModelSpec("wan2.5-t2i-preview", "wan", t2i, WAN25_SIZES, prompt_max=2000, n_max=4, n_default=4),
    ]
    for name in ("wan2.2-t2i-flash", "wan2.2-t2i-plus", "wanx2.1-t2i-turbo", "wanx2.1-t2i-plus"):
        specs.append(ModelSpec(name, "wan", t2i, WAN22_SIZES, prompt_max=800, n_max=4, n_default=4))
    i2i = frozenset({IMAGE2IMAGE})
    specs += [
        # Output size follows the input image (spec 003); price: spec 003.
        ModelSpec(
            "wanx2.1-imageedit",
            "wan",
            i2i,
            WAN22_SIZES,
            prompt_max=800,
            n_max=4,
            n_default=1,
            unit_price=0.020070,
            input_rules=IMAGEEDIT_INPUTS,
            images_min=1,
            images_max=1,
            functions=IMAGEEDIT_FUNCTIONS,
            function_engines=((Function.SUPER_RESOLUTION, "realesrgan"),),
        ),
        ModelSpec(
            "wan2.5-i2i-preview",
            "wan",
            i2i,
            WAN25_I2I_SIZES,
            prompt_max=2000,
            n_max=4,
            n_default=4,
            input_rules=WAN25_I2I_INPUTS,
            images_min=1,
            images_max=3,
        ),
    ]
    specs += list(_video_models())
    return {s.name: s for s in specs}


def _video_models() -> list[ModelSpec]:
    """models/video.py's table as specs: one image input for i2v, two for kf2v, VACE's 1-3 references."""
    images = {VideoMode.TEXT: 0, VideoMode.IMAGE: 1, VideoMode.KEYFRAMES: 2, VideoMode.VACE: 3}
    specs = []
    for model in VIDEO_MODELS:
        rules = model.rules
        default = rules.default_size or (1280, 720)
        for name in model.names:
            specs.append(
                ModelSpec(
                    name,
                    "wan",
                    frozenset({model.endpoint}),
                    FixedSizes(rules.sizes, default),
                    prompt_max=model.prompt_max,
                    n_max=1,
                    n_default=1,
                    unit_price=model.unit_price,
                    free_quota=VIDEO_FREE_SECONDS,
                    input_rules=VIDEO_IMAGE_INPUTS if images[rules.mode] else None,
                    images_max=images[rules.mode],
                    video=rules,
                    names=model.names,
                )
            )
    return specs


class Catalog:
    def __init__(self, models: dict[str, ModelSpec] | None = None):
        self.models = models if models is not None else _builtin_models()

    def with_deployment_values(self, overrides: dict[str, dict[str, float]]) -> Catalog:
        """A copy with per-model values replaced; model "*" applies to every model."""
        models = {}
        for name, spec in self.models.items():
            values = {**overrides.get("*", {}), **overrides.get(name, {})}
            # A video model's price per tier: "unit_price@720P". A plain unit_price of the model's
            # own sets every tier (a "*" one does not: it is not that model's price list).
            tiers = {key.partition("@")[2]: float(values.pop(key)) for key in list(values) if "@" in key}
            if spec.video is not None and (tiers or "unit_price" in overrides.get(name, {})):
                plain = overrides.get(name, {}).get("unit_price")
                base = {tier: float(plain) for tier, _ in spec.video.tier_prices} if plain is not None else {}
                spec = replace(spec, video=spec.video.with_prices({**base, **tiers}))
            # Deployment values are numbers (limits, quota, price): dataclasses.replace checks the names.
            models[name] = replace(spec, **values) if values else spec  # type: ignore[arg-type]
        return Catalog(models)

    def lookup(self, name: object, endpoint: str) -> ModelSpec:
        """The model's spec, or the hosted service's model-not-found error.

        A model that exists but is not served by this endpoint family reads the same
        way, as it does on the hosted service.
        """
        if not isinstance(name, str) or not name:
            raise invalid_parameter("Field required: model")
        spec = self.models.get(name)
        if spec is None or endpoint not in spec.endpoints:
            raise model_not_found()
        return spec


def parse_size(value: object, rule: SizeRule) -> tuple[int, int]:
    """``"W*H"`` checked against the model's rule; absent → the model's default."""
    if value is None:
        return rule.default
    match = _SIZE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise invalid_parameter(f"parameters.size must be a string of the form width*height, got {shown(value)}")
    width, height = int(match[1]), int(match[2])
    if (why := rule.check(width, height)) is not None:
        raise invalid_parameter(f"parameters.size {width}*{height} is invalid: {why}")
    return width, height
