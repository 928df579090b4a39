"""Wire format of ``POST /api/v1/services/aigc/text2image/image-synthesis`` (spec 001, 002).

Request::

    {"model": "...",
     "input": {"prompt": "...", "negative_prompt": "..."},
     "parameters": {"size": "W*H", "n": 1, "seed": 42, "prompt_extend": true, "watermark": false}}

Answer: ``{"output": {"task_id": "...", "task_status": "PENDING"}, "request_id": "..."}``.
"""

from __future__ import annotations

import secrets
from typing import Any

from ...catalog import NEGATIVE_PROMPT_MAX, SEED_MAX, TEXT2IMAGE, Catalog, parse_size
from ...errors import invalid_parameter
from ...request import GenerationRequest
from ..fields import boolean, integer, obj, text


def to_generation_request(body: dict[str, Any], catalog: Catalog) -> GenerationRequest:
    spec = catalog.lookup(body.get("model"), TEXT2IMAGE)
    inputs = obj(body, "input", required=True)
    params = obj(body, "parameters", required=False)

    prompt = text(inputs, "input", "prompt", required=True, limit=spec.prompt_max)
    negative = text(inputs, "input", "negative_prompt", required=False, limit=NEGATIVE_PROMPT_MAX)
    width, height = parse_size(params.get("size"), spec.sizes)

    n = params.get("n")
    if spec.n_max == 1 and n is not None and n != 1:
        # The hosted service's own words for qwen-image (spec 001).
        raise invalid_parameter("num_images_per_prompt must be 1")
    n = integer(params, "n", 1, spec.n_max, spec.n_default)
    seed = integer(params, "seed", 0, SEED_MAX, None)
    if seed is None:
        seed = secrets.randbelow(SEED_MAX + 1)

    return GenerationRequest(
        model=spec.name,
        prompt=prompt,
        negative_prompt=negative,
        width=width,
        height=height,
        n=n,
        seed=seed,
        prompt_extend=boolean(params, "prompt_extend", True),
        watermark=boolean(params, "watermark", False),
    )
