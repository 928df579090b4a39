"""``GET /``: the web console, static files shipped inside the package (``imagescope/console/``).

The console is plain ES modules and CSS: nothing is built at install time and nothing is
fetched from elsewhere at run time. It talks to the public API only, with the user's own key
(or the admin token), like any other client. Served here:

- ``GET /`` the page; ``GET /console/{name}`` its scripts and styles, by plain file name only;
- ``GET /console/rules.json`` each model's rules (sizes, n, prompt and negative prompt limits,
  seed range, input images, functions and their parameters; a video model's mode, sizes or
  resolution tiers, durations, fps, sound and VACE functions), from the catalog and
  ``models/video.py``, so the page shows limits the server really applies instead of a copy
  that drifts.

Every answer carries a Content-Security-Policy without inline script (the page holds none)
and ``Cache-Control: no-cache`` with an ETag: the browser asks again each time, an unchanged
file costs a 304, and an upgraded server's files take effect on the next load.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from imagescope.errors import url_not_found
from imagescope.http.deps import services_of
from imagescope.http.video.protocol import (
    CONTROLS,
    EXPAND_MODES,
    MASK_TYPES,
    SCALES,
    VACE_DEFAULTS,
    VACE_FUNCTION_PARAMETERS,
)
from imagescope.models.catalog import (
    NEGATIVE_PROMPT_MAX,
    SEED_MAX,
    WAN26_INTERLEAVE_SIZES,
    Catalog,
    FixedSizes,
    ModelSpec,
    SideRange,
    SizeRule,
    TotalPixels,
)
from imagescope.models.video import INPUT_VIDEO_MAX_BYTES, INPUT_VIDEO_MAX_S, TIER_SIZES, VideoMode, VideoRules
from imagescope.tasks.spec import MASK_FUNCTIONS, STRENGTH_FUNCTIONS, Function, VaceFunction

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# A plain file name of the console folder: no folders, no dots but the extension's.
ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(js|css|svg)$")

# The parameters a function of wanx2.1-imageedit reads besides the prompt (spec 003).
FUNCTION_PARAMETERS: dict[Function, tuple[str, ...]] = {
    **{f: ("strength",) for f in STRENGTH_FUNCTIONS},
    **{f: ("mask",) for f in MASK_FUNCTIONS},
    Function.EXPAND: ("top_scale", "bottom_scale", "left_scale", "right_scale"),
    Function.SUPER_RESOLUTION: ("upscale_factor",),
    Function.DOODLE: ("is_sketch",),
}

# What each VACE function of wan(x)2.1-vace-plus takes (http/video/protocol.py reads them):
# ``images`` the input.* field of its pictures, ``clips`` its input.* video URLs (the first one
# required), ``parameters`` its own parameters (VACE_PARAMETERS).
_VACE_MEDIA: dict[VaceFunction, dict[str, Any]] = {
    VaceFunction.IMAGE_REFERENCE: {"images": "ref_images_url", "clips": []},
    VaceFunction.VIDEO_REPAINTING: {"clips": ["video_url"]},
    VaceFunction.VIDEO_EDIT: {"images": "mask_image_url", "clips": ["video_url"]},
    VaceFunction.VIDEO_EXTENSION: {"clips": ["first_clip_url", "last_clip_url"]},
    VaceFunction.VIDEO_OUTPAINTING: {"clips": ["video_url"]},
}
VACE_INPUTS: dict[VaceFunction, dict[str, Any]] = {
    function: {**media, "parameters": list(VACE_FUNCTION_PARAMETERS[function])}
    for function, media in _VACE_MEDIA.items()
}
VACE_PARAMETERS: dict[str, dict[str, Any]] = {
    "obj_or_bg": {"choices": ["obj", "bg"], "default": "obj"},  # one per reference image
    "control_condition": {"choices": list(CONTROLS)},  # required: no default
    "strength": {"min": 0, "max": 1, "default": VACE_DEFAULTS.strength},
    "mask_type": {"choices": list(MASK_TYPES), "default": VACE_DEFAULTS.mask_type},
    "expand_ratio": {"min": 0, "max": 1, "default": VACE_DEFAULTS.expand_ratio},
    "expand_mode": {"choices": list(EXPAND_MODES), "default": VACE_DEFAULTS.expand_mode},
    **{side: {"min": 1, "max": 2, "default": getattr(VACE_DEFAULTS, side)} for side in SCALES},
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _assets() -> dict[str, Asset]:
    """Every file of the console folder, read once per process (they change only with an upgrade)."""
    assets = {}
    for path in (resources.files("imagescope") / "console").iterdir():
        suffix = path.name[path.name.rfind(".") :]
        if path.is_file() and suffix in MEDIA_TYPES:
            body = path.read_bytes()
            assets[path.name] = Asset(body, MEDIA_TYPES[suffix], _etag(body))
    return assets


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def security_policy(public_url: str) -> str:
    """Scripts, styles and connections from this origin only; images also as data:/blob: (the
    inputs and the mask the page draws) and from the public URL result links point at; videos
    (``<video>`` results) from wherever result images may come from."""
    images = "'self' data: blob:"
    if public_url:
        parts = urlsplit(public_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; "
        f"img-src {images}; media-src {images}; "
        "script-src 'self'; style-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _answer(request: Request, body: bytes, media_type: str, etag: str) -> Response:
    headers = {
        "Cache-Control": "no-cache",
        "ETag": etag,
        "Content-Security-Policy": security_policy(services_of(request).settings.public_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/")
def console_page(request: Request) -> Response:
    page = _asset_or_404("index.html")
    return _answer(request, page.body, page.media_type, page.etag)


@router.get("/console/rules.json")
def console_rules(request: Request) -> Response:
    body = _rules_json(services_of(request).catalog)
    return _answer(request, body, "application/json", _etag(body))


@router.get("/console/{name}")
def console_asset(name: str, request: Request) -> Response:
    if not ASSET_NAME.match(name):
        raise url_not_found()
    asset = _asset_or_404(name)
    return _answer(request, asset.body, asset.media_type, asset.etag)


def _asset_or_404(name: str) -> Asset:
    asset = _assets().get(name)
    if asset is None:
        raise url_not_found()
    return asset


@lru_cache(maxsize=4)  # one catalog per running app
def _rules_json(catalog: Catalog) -> bytes:
    rules = {"seed_max": SEED_MAX, "negative_prompt_max": NEGATIVE_PROMPT_MAX, "models": _model_rules(catalog)}
    return json.dumps(rules, separators=(",", ":")).encode()


def _model_rules(catalog: Catalog) -> dict[str, dict[str, Any]]:
    return {name: _rules_of(spec) for name, spec in catalog.models.items()}


def _rules_of(spec: ModelSpec) -> dict[str, Any]:
    rules: dict[str, Any] = {
        "endpoints": sorted(spec.endpoints),
        "sizes": _size_rule(spec.sizes),
        "prompt_max": spec.prompt_max,
        "n_max": spec.n_max,
        "n_default": spec.n_default,
        "free_quota": spec.free_quota,
        "free_quota_days": spec.free_quota_days,
        "unit_price": spec.unit_price,
        "prompt_extend_default": spec.prompt_extend_default,
    }
    if spec.input_rules is not None:
        given = spec.input_rules
        rules["images"] = {
            "min": spec.images_min,
            "max": spec.images_max,
            "min_side": given.min_side,
            "max_side": given.max_side,
            "max_bytes": given.max_bytes,
            "formats": list(given.formats),
        }
    if spec.functions:
        rules["functions"] = {f.value: list(FUNCTION_PARAMETERS.get(f, ())) for f in Function if f in spec.functions}
    if spec.size_presets:  # wan2.6-image's "1K"/"2K": the first input's proportions at this many pixels
        rules["size_presets"] = dict(spec.size_presets)
    if spec.interleave:
        rules["interleave"] = {"sizes": _size_rule(WAN26_INTERLEAVE_SIZES), "images_max": 1, "max_images": [1, 5]}
    if spec.video is not None:
        rules["video"] = _video_rules(spec.video)
    return rules


def _size_rule(rule: SizeRule) -> dict[str, Any]:
    default = list(rule.default)
    if isinstance(rule, FixedSizes):
        return {"kind": "fixed", "allowed": [list(size) for size in rule.allowed], "default": default}
    if isinstance(rule, TotalPixels):
        return {
            "kind": "total_pixels",
            "min_side": rule.min_side,
            "max_side": rule.max_side,
            "max_ratio": rule.max_ratio,
            "default": default,
        }
    if isinstance(rule, SideRange):
        return {"kind": "side_range", "min_side": rule.min_side, "max_side": rule.max_side, "default": default}
    return {"kind": "any", "default": default}


def _video_rules(video: VideoRules) -> dict[str, Any]:
    """A video model's rules: t2v and VACE name a ``size`` (listed with its tier), i2v and kf2v a
    ``resolution`` tier (the output keeps the input image's proportions)."""
    rules: dict[str, Any] = {
        "mode": video.mode.value,
        "tiers": list(video.tiers),
        "default_tier": video.default_tier,
        "durations": list(video.durations),
        "default_duration": video.default_duration,
        "fps": video.fps,
        "sound": video.sound,
    }
    if video.mode in (VideoMode.TEXT, VideoMode.VACE):
        tier_of = {size: tier for tier, sizes in TIER_SIZES.items() for size in sizes}
        rules["sizes"] = [{"size": list(size), "tier": tier_of.get(size, "720P")} for size in video.sizes]
        rules["default_size"] = list(video.default_size or video.sizes[0])
    if video.mode is VideoMode.VACE:
        rules["functions"] = {f.value: VACE_INPUTS[f] for f in VaceFunction}
        rules["parameters"] = VACE_PARAMETERS
        rules["clips"] = {"max_bytes": INPUT_VIDEO_MAX_BYTES, "max_seconds": INPUT_VIDEO_MAX_S}
    return rules
