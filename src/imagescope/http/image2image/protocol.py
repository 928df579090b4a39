"""Wire format of ``POST /api/v1/services/aigc/image2image/image-synthesis`` (spec 003, 004).

wanx2.1-imageedit (spec 003)::

    {"model": "wanx2.1-imageedit",
     "input": {"function": "expand", "prompt": "...", "base_image_url": "...", "mask_image_url": "..."},
     "parameters": {"n": 1, "seed": 42, "strength": 0.5, "top_scale": 1.5, "upscale_factor": 2,
                    "is_sketch": false, "watermark": false}}

wan2.5-i2i-preview (spec 004)::

    {"model": "wan2.5-i2i-preview",
     "input": {"prompt": "...", "negative_prompt": "...", "images": ["...", "..."]},
     "parameters": {"size": "1280*1280", "n": 4, "seed": 42, "prompt_extend": false, "watermark": false}}

Image references are checked for form here; their content is read by ``take_image``, which
tasks/accept.py supplies (data: and oss: are checked and stored now, http(s) when the task runs).
A function's own parameters are read only under that function, as the hosted API does.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from imagescope.errors import invalid_parameter, shown
from imagescope.http.params import boolean, image_count, integer, number, reference, seed_or_random
from imagescope.http.wire import Seed, SizeText, WireModel, checked_later, parse
from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, ModelSpec, parse_size
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import (
    MASK_FUNCTIONS,
    STRENGTH_FUNCTIONS,
    Doodle,
    EditOptions,
    ExpandScales,
    Function,
    GenerationRequest,
    Strength,
    TaskKind,
    Upscale,
)

IMAGE = {"type": "string", "description": "An http(s) URL, a data:{mime};base64,… URI, or an oss:// upload."}
SCALE = checked_later(
    {"type": "number", "minimum": 1, "maximum": 2, "default": 1, "description": "expand: grow this side."}
)
FUNCTION = checked_later(
    {"type": "string", "enum": [f.value for f in Function], "description": "wanx2.1-imageedit only: what to do."}
)
BASE = checked_later({**IMAGE, "description": "wanx2.1-imageedit: the image to edit. " + IMAGE["description"]})
MASK = checked_later({**IMAGE, "description": "description_edit_with_mask: white = edit, the base image's size."})
IMAGES = checked_later(
    {
        "type": "array",
        "items": IMAGE,
        "minItems": 1,
        "maxItems": 3,
        "description": "wan2.5-i2i-preview: 1–3 images to edit or fuse, in order.",
    }
)
STRENGTH = checked_later(
    {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "default": 0.5,
        "description": "stylization_all, description_edit: how much changes.",
    }
)
UPSCALE = checked_later(
    {
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "default": 1,
        "description": "super_resolution: each side times this.",
    }
)
SKETCH = checked_later({"type": "boolean", "default": False, "description": "doodle: the input is a sketch."})


class ImageEditInput(WireModel):
    function: Annotated[Any, FUNCTION] = None
    prompt: str = Field(
        "",
        description="The instruction (required for wan2.5-i2i; may be empty for "
        "colorization and masked removal). Truncated beyond the model's limit.",
    )
    negative_prompt: str = Field("", description=f"Truncated beyond {NEGATIVE_PROMPT_MAX} characters.")
    base_image_url: Annotated[Any, BASE] = None
    mask_image_url: Annotated[Any, MASK] = None
    images: Annotated[Any, IMAGES] = None


class ImageEditParameters(WireModel):
    size: SizeText | None = Field(None, description="wan2.5-i2i: width*height; wanx2.1: follows the input.")
    n: int | None = Field(None, description="1–4 images; default 1 (wanx2.1) or 4 (wan2.5).")
    seed: Seed | None = Field(None, description="0–2147483647; image i uses seed + i. Default: random.")
    prompt_extend: bool = Field(False, description="Rewrite the prompt first.")
    watermark: bool = Field(False, description='Draw "AI-generated" bottom-right.')
    strength: Annotated[Any, STRENGTH] = None
    top_scale: Annotated[Any, SCALE] = None
    bottom_scale: Annotated[Any, SCALE] = None
    left_scale: Annotated[Any, SCALE] = None
    right_scale: Annotated[Any, SCALE] = None
    upscale_factor: Annotated[Any, UPSCALE] = None
    is_sketch: Annotated[Any, SKETCH] = None

    def options_for(self, function: Function) -> EditOptions | None:
        """The parameters spec 003 gives ``function``; the others are ignored."""
        if function in STRENGTH_FUNCTIONS:
            return Strength(number(self.strength, "strength", 0.0, 1.0, 0.5))
        if function is Function.EXPAND:
            # Read top, bottom, left, right: the first bad scale in this order is the one the error names.
            scales = [
                number(getattr(self, name), name, 1.0, 2.0, 1.0)
                for name in ("top_scale", "bottom_scale", "left_scale", "right_scale")
            ]
            return ExpandScales(*scales)
        if function is Function.SUPER_RESOLUTION:
            return Upscale(integer(self.upscale_factor, "upscale_factor", 1, 4, 1))
        if function is Function.DOODLE:
            return Doodle(boolean(self.is_sketch, "is_sketch", False))
        return None


class ImageEditRequest(WireModel):
    model: str = Field(description="wanx2.1-imageedit or wan2.5-i2i-preview")
    input: ImageEditInput
    parameters: ImageEditParameters = Field(default_factory=ImageEditParameters)

    def to_generation_request(self, spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
        """``spec``: this request's model, looked up for the endpoint family."""
        given, inputs = self.parameters, self.input
        common: dict[str, Any] = dict(
            model=spec.name,
            negative_prompt=inputs.negative_prompt[:NEGATIVE_PROMPT_MAX],
            n=image_count(given.n, spec),
            seed=seed_or_random(given.seed),
            prompt_extend=given.prompt_extend,
            watermark=given.watermark,
            kind=TaskKind.EDIT,
        )
        if spec.functions:  # wanx2.1-imageedit
            if not isinstance(inputs.function, str) or inputs.function not in spec.functions:
                raise invalid_parameter(
                    f"input.function must be one of {', '.join(sorted(spec.functions))}, got {shown(inputs.function)}"
                )
            function = Function(inputs.function)
            options = given.options_for(function)
            base = take_image("base_image_url", reference(inputs.base_image_url, "input.base_image_url"))
            mask = ""
            if function in MASK_FUNCTIONS:
                mask = take_image("mask_image_url", reference(inputs.mask_image_url, "input.mask_image_url"))
            # The prompt may be empty (spec 003: colorization, removing small objects with a mask). The
            # output size follows the base image (and the function): known when it is read.
            return GenerationRequest(
                prompt=inputs.prompt[: spec.prompt_max],
                size=None,
                function=function,
                images=(base,),
                mask=mask,
                options=options,
                **common,
            )

        if inputs.prompt == "":
            raise invalid_parameter("Field required: input.prompt")
        images = inputs.images
        if not isinstance(images, list) or not spec.images_min <= len(images) <= spec.images_max:
            raise invalid_parameter(f"input.images must be a list of {spec.images_min} to {spec.images_max} images")
        refs = tuple(take_image(f"images[{i}]", reference(v, f"input.images[{i}]")) for i, v in enumerate(images))
        return GenerationRequest(
            prompt=inputs.prompt[: spec.prompt_max], size=parse_size(given.size, spec.sizes), images=refs, **common
        )


def to_edit_request(body: dict[str, Any], spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
    """The route's parser (tasks.accept.Parse): the body as an ImageEditRequest, converted."""
    return parse(ImageEditRequest, body).to_generation_request(spec, take_image)
