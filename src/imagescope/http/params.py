"""Reading request bodies: JSON objects, typed fields, ranges — with the hosted errors."""

from __future__ import annotations

import json
import secrets
from typing import Any, overload

from imagescope.errors import body_invalid, invalid_parameter, shown
from imagescope.models.catalog import SEED_MAX, ModelSpec


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object, or the hosted "Required body invalid" error: not JSON, not an object,
    nested too deep for the parser, or holding a lone surrogate (``"\\ud800"``), which no
    UTF-8 text — a database row, an error body — can carry."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise body_invalid() from None
    if not isinstance(body, dict) or not encodable(body):
        raise body_invalid()
    return body


def encodable(value: object) -> bool:
    """Whether every string (key or value) in a parsed JSON value is valid Unicode: no lone
    surrogates. Iterative, and ASCII strings (data: URIs) are not copied."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def obj(body: dict[str, Any], name: str, required: bool) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid_parameter(f"Field required: {name}")
        return {}
    if not isinstance(value, dict):
        raise invalid_parameter(f"{name} must be an object")
    return value


@overload
def integer(params: dict[str, Any], name: str, low: int, high: int, default: int) -> int: ...
@overload
def integer(params: dict[str, Any], name: str, low: int, high: int, default: None) -> int | None: ...


def integer(params: dict[str, Any], name: str, low: int, high: int, default: int | None) -> int | None:
    """The integer parameter ``name`` in [low, high]; absent: ``default`` (an int default: always an int)."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_parameter(f"parameters.{name} must be an integer, got {shown(value)}")
    if not low <= value <= high:
        raise invalid_parameter(f"parameters.{name} must be in [{low}, {high}], got {shown(value)}")
    return value


def boolean(params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_parameter(f"parameters.{name} must be a boolean, got {shown(value)}")
    return value


def text(container: dict[str, Any], path: str, name: str, required: bool, limit: int) -> str:
    value = container.get(name)
    if value is None or (required and value == ""):
        if required:
            raise invalid_parameter(f"Field required: {path}.{name}")
        return ""
    if not isinstance(value, str):
        raise invalid_parameter(f"{path}.{name} must be a string")
    return value[:limit]  # over-long prompts are truncated, never refused


def number(params: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_parameter(f"parameters.{name} must be a number, got {shown(value)}")
    if not low <= value <= high:
        raise invalid_parameter(f"parameters.{name} must be in [{low}, {high}], got {shown(value)}")
    return float(value)


def n_and_seed(params: dict[str, Any], spec: ModelSpec) -> tuple[int, int]:
    """``parameters.n`` within the model's range (its default when absent) and ``seed``
    (random when absent; image i then uses seed + i)."""
    asked = params.get("n")
    if spec.n_max == 1 and asked is not None and asked != 1:
        # The hosted service's own words for the qwen-image models (spec 001).
        raise invalid_parameter("num_images_per_prompt must be 1")
    n = integer(params, "n", 1, spec.n_max, spec.n_default)
    seed = integer(params, "seed", 0, SEED_MAX, None)
    return n, secrets.randbelow(SEED_MAX + 1) if seed is None else seed
