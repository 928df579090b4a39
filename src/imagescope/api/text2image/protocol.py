"""Wire format of ``POST /api/v1/services/aigc/text2image/image-synthesis`` (spec 001, 002).

Request::

    {"model": "...",
     "input": {"prompt": "...", "negative_prompt": "..."},
     "parameters": {"size": "W*H", "n": 1, "seed": 42, "prompt_extend": true, "watermark": false}}

Answer: ``{"output": {"task_id": "...", "task_status": "PENDING"}, "request_id": "..."}``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ...catalog import NEGATIVE_PROMPT_MAX, SEED_MAX, TEXT2IMAGE, Catalog, parse_size
from ...errors import body_invalid, invalid_parameter
from ...request import GenerationRequest


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise body_invalid() from None
    if not isinstance(body, dict):
        raise body_invalid()
    return body


def _object(body: dict, name: str, required: bool) -> dict:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid_parameter(f"Field required: {name}")
        return {}
    if not isinstance(value, dict):
        raise invalid_parameter(f"{name} must be an object")
    return value


def _int(params: dict, name: str, low: int, high: int, default: int | None) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_parameter(f"parameters.{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise invalid_parameter(f"parameters.{name} must be in [{low}, {high}], got {value}")
    return value


def _bool(params: dict, name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_parameter(f"parameters.{name} must be a boolean, got {value!r}")
    return value


def _text(container: dict, path: str, name: str, required: bool, limit: int) -> str:
    value = container.get(name)
    if value is None or (required and value == ""):
        if required:
            raise invalid_parameter(f"Field required: {path}.{name}")
        return ""
    if not isinstance(value, str):
        raise invalid_parameter(f"{path}.{name} must be a string")
    return value[:limit]  # over-long prompts are truncated, never refused


def to_generation_request(body: dict[str, Any], catalog: Catalog) -> GenerationRequest:
    spec = catalog.lookup(body.get("model"), TEXT2IMAGE)
    inputs = _object(body, "input", required=True)
    params = _object(body, "parameters", required=False)

    prompt = _text(inputs, "input", "prompt", required=True, limit=spec.prompt_max)
    negative = _text(inputs, "input", "negative_prompt", required=False, limit=NEGATIVE_PROMPT_MAX)
    width, height = parse_size(params.get("size"), spec.sizes)

    n = params.get("n")
    if spec.n_max == 1 and n is not None and n != 1:
        # The hosted service's own words for qwen-image (spec 001).
        raise invalid_parameter("num_images_per_prompt must be 1")
    n = _int(params, "n", 1, spec.n_max, spec.n_default)
    seed = _int(params, "seed", 0, SEED_MAX, None)
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
        prompt_extend=_bool(params, "prompt_extend", True),
        watermark=_bool(params, "watermark", False),
    )
