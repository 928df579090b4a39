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

Image references are checked for form here; their content is read by ``take_image``,
which api/submit.py supplies (data: and oss: are checked and stored now, http(s) when the task runs).
"""

from __future__ import annotations

from typing import Any

from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, ModelSpec, parse_size
from imagescope.errors import invalid_parameter, shown
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
from imagescope.http.params import boolean, integer, n_and_seed, number, obj, text
from imagescope.tasks.accept import TakeImage


def _reference(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid_parameter(f"Field required: {path}")
    return value.strip()


def _function_options(function: Function, params: dict) -> EditOptions | None:
    """The parameters spec 003 gives each function; others are ignored, as the hosted API does."""
    if function in STRENGTH_FUNCTIONS:
        return Strength(number(params, "strength", 0.0, 1.0, 0.5))
    if function is Function.EXPAND:
        def scale(name: str) -> float:
            return number(params, name, 1.0, 2.0, 1.0)

        # Read top, bottom, left, right: the first bad scale in this order is the one the error names.
        return ExpandScales(scale("top_scale"), scale("bottom_scale"), scale("left_scale"), scale("right_scale"))
    if function is Function.SUPER_RESOLUTION:
        return Upscale(integer(params, "upscale_factor", 1, 4, 1))
    if function is Function.DOODLE:
        return Doodle(boolean(params, "is_sketch", False))
    return None


def to_edit_request(body: dict[str, Any], spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
    """``spec``: the body's model, looked up for this endpoint family."""
    inputs = obj(body, "input", required=True)
    params = obj(body, "parameters", required=False)
    negative = text(inputs, "input", "negative_prompt", required=False, limit=NEGATIVE_PROMPT_MAX)
    n, seed = n_and_seed(params, spec)
    common = dict(
        model=spec.name, negative_prompt=negative, n=n, seed=seed,
        prompt_extend=boolean(params, "prompt_extend", False), watermark=boolean(params, "watermark", False),
    )

    if spec.functions:  # wanx2.1-imageedit
        given = inputs.get("function")
        if not isinstance(given, str) or given not in spec.functions:
            raise invalid_parameter(
                f"input.function must be one of {', '.join(sorted(spec.functions))}, got {shown(given)}"
            )
        function = Function(given)
        # The prompt may be empty (spec 003: colorization, removing small objects with a mask).
        prompt = text(inputs, "input", "prompt", required=False, limit=spec.prompt_max)
        options = _function_options(function, params)
        base = take_image("base_image_url", _reference(inputs.get("base_image_url"), "input.base_image_url"))
        mask = ""
        if function in MASK_FUNCTIONS:
            mask = take_image("mask_image_url", _reference(inputs.get("mask_image_url"), "input.mask_image_url"))
        # The output size follows the base image (and the function): known when it is read.
        return GenerationRequest(prompt=prompt, size=None, kind=TaskKind.EDIT, function=function, images=(base,),
                                 mask=mask, options=options, **common)

    prompt = text(inputs, "input", "prompt", required=True, limit=spec.prompt_max)
    images = inputs.get("images")
    if not isinstance(images, list) or not spec.images_min <= len(images) <= spec.images_max:
        raise invalid_parameter(
            f"input.images must be a list of {spec.images_min} to {spec.images_max} images"
        )
    refs = tuple(take_image(f"images[{i}]", _reference(v, f"input.images[{i}]")) for i, v in enumerate(images))
    size = parse_size(params.get("size"), spec.sizes)
    return GenerationRequest(prompt=prompt, size=size, kind=TaskKind.EDIT, images=refs, **common)
