"""Wire format of ``POST /api/v1/services/aigc/text2image/image-synthesis`` (spec 001, 002).

Request::

    {"model": "...",
     "input": {"prompt": "...", "negative_prompt": "..."},
     "parameters": {"size": "W*H", "n": 1, "seed": 42, "prompt_extend": true, "watermark": false}}

Answer: ``{"output": {"task_id": "...", "task_status": "PENDING"}, "request_id": "..."}``.
"""

from __future__ import annotations

from typing import Any

from imagescope.models.catalog import NEGATIVE_PROMPT_MAX, ModelSpec, parse_size
from imagescope.tasks.spec import GenerationRequest
from imagescope.http.params import boolean, n_and_seed, obj, text
from imagescope.tasks.accept import TakeImage


def to_generation_request(body: dict[str, Any], spec: ModelSpec, take_image: TakeImage) -> GenerationRequest:
    """``spec``: the body's model, looked up for this endpoint family; it takes no images."""
    inputs = obj(body, "input", required=True)
    params = obj(body, "parameters", required=False)

    prompt = text(inputs, "input", "prompt", required=True, limit=spec.prompt_max)
    negative = text(inputs, "input", "negative_prompt", required=False, limit=NEGATIVE_PROMPT_MAX)
    size = parse_size(params.get("size"), spec.sizes)
    n, seed = n_and_seed(params, spec)

    return GenerationRequest(
        model=spec.name,
        prompt=prompt,
        negative_prompt=negative,
        size=size,
        n=n,
        seed=seed,
        prompt_extend=boolean(params, "prompt_extend", True),
        watermark=boolean(params, "watermark", False),
    )
