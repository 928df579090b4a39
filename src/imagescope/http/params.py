"""Reading request bodies: the JSON object itself, and the model-dependent rules the wire
models (``http/wire.py``) cannot know — with the hosted errors."""

from __future__ import annotations

import json
import secrets
from typing import Any

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


def image_count(n: int | None, spec: ModelSpec) -> int:
    """``parameters.n`` within the model's range; absent: the model's default."""
    if spec.n_max == 1 and n is not None and n != 1:
        # The hosted service's own words for the qwen-image models (spec 001).
        raise invalid_parameter("num_images_per_prompt must be 1")
    if n is None:
        return spec.n_default
    if not 1 <= n <= spec.n_max:
        raise invalid_parameter(f"parameters.n must be in [1, {spec.n_max}], got {shown(n)}")
    return n


def seed_or_random(seed: int | None) -> int:
    """The request's seed; absent: a random one (image i then uses seed + i)."""
    return secrets.randbelow(SEED_MAX + 1) if seed is None else seed


def query_integer(value: str | None, name: str, low: int, high: int, default: int) -> int:
    """A whole number from a query string, in [low, high]; absent: ``default``."""
    if value is None:
        return default
    # ASCII digits, and few enough of them: int() refuses "²" and 5,000-digit numbers.
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(high))) or not low <= int(value) <= high:
        raise invalid_parameter(f"{name} must be an integer in [{low}, {high}], got {shown(value)}")
    return int(value)


# --- parameters only some requests read (wanx2.1-imageedit's per-function ones) ---------------
# The hosted API ignores a function's parameters under another function, so they are checked
# only when read, with the same words as the typed fields.


def integer(value: Any, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_parameter(f"parameters.{name} must be an integer, got {shown(value)}")
    if not low <= value <= high:
        raise invalid_parameter(f"parameters.{name} must be in [{low}, {high}], got {shown(value)}")
    return value


def number(value: Any, name: str, low: float, high: float, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_parameter(f"parameters.{name} must be a number, got {shown(value)}")
    if not low <= value <= high:
        raise invalid_parameter(f"parameters.{name} must be in [{low}, {high}], got {shown(value)}")
    return float(value)


def boolean(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_parameter(f"parameters.{name} must be a boolean, got {shown(value)}")
    return value


def choice(value: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise invalid_parameter(f"parameters.{name} must be one of {', '.join(allowed)}, got {shown(value)}")
    return str(value)


def reference(value: Any, path: str) -> str:
    """An input reference (URL, data: URI, oss:// key) given at ``path``, e.g. ``input.img_url``."""
    if not isinstance(value, str) or not value.strip():
        raise invalid_parameter(f"Field required: {path}")
    return value.strip()
