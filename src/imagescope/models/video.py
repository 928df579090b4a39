"""The video models (video-notes §2) and their rules: sizes or resolution tiers, durations, frame
rates, prompt limits, sound, VACE's functions, and prices per second of video.

Kept apart from ``catalog.py`` (the image models): a video model is a ``ModelSpec`` like any
other (so lookup, limits, free quota and the models file treat it the same) whose ``video``
holds what only video has. ``wanx2.1-*`` (China) and ``wan2.1-*`` (international) are the same
models under two names, and both are registered.

Where the notes are unsure, the choice is named here and pinned by tests/test_video_rules.py:
- default sizes: wanx2.1-t2v-plus 1280*720 [I]; wan2.6-t2v 1920*1080 (its largest tier, as
  wan2.2 and wan2.5 default to theirs); wan2.6 i2v 1080P.
- wan2.6 durations 2-15 s (the newer page), default 5; wan2.6-i2v(-flash) 30 fps.
- wan2.5 prompts up to 2,000 characters; every other video model 800 (wan2.6 1,500).
- VACE makes 5 s (its clip limit) at 30 fps; 1-3 reference images.
- Prices (USD per second of video): the Singapore ones where the notes read them (wan2.1 turbo
  $0.036, plus $0.10, wan2.6 $0.10/$0.15, flash $0.05/$0.075 with sound, $0.025/$0.0375 silent);
  wan2.5 $0.05/$0.10/$0.15 [M]; wan2.2 and kf2v as wan2.1's tiers; VACE as plus. Any of them
  can be set with ``IMAGESCOPE_PRICES`` (``MODEL=PRICE`` every tier, ``MODEL@TIER=PRICE`` one).
- Free quota: 50 seconds of video per model, from the same activation as the images' quota.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from imagescope.inputs import ImageRules

VIDEO_GENERATION = "video-generation"  # video-generation/video-synthesis: t2v, i2v, VACE
IMAGE2VIDEO = "image2video"  # image2video/video-synthesis: first-and-last-frame (kf2v)

VIDEO_FREE_SECONDS = 50
INPUT_VIDEO_MAX_BYTES = 50 * 1024 * 1024  # VACE's input clips (video-notes §2 [R S4])
INPUT_VIDEO_MAX_S = 5.0


class VideoMode(StrEnum):
    TEXT = "t2v"  # from a prompt; ``size`` from a list
    IMAGE = "i2v"  # from input.img_url; ``resolution``, the output in the image's proportions
    KEYFRAMES = "kf2v"  # from first_frame_url (and last_frame_url); as i2v
    VACE = "vace"  # video editing: input.function


# The t2v size lists per tier (video-notes §2 [R S2 tables]) and a tier's pixel count, which an
# i2v output keeps in its input image's proportions.
TIER_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "480P": ((832, 480), (480, 832), (624, 624)),
    "720P": ((1280, 720), (720, 1280), (960, 960), (1088, 832), (832, 1088)),
    "1080P": ((1920, 1080), (1080, 1920), (1440, 1440), (1632, 1248), (1248, 1632)),
}
TIER_AREA = {"480P": 832 * 480, "720P": 1280 * 720, "1080P": 1920 * 1080}
VACE_SIZES = ((1280, 720), (720, 1280), (960, 960), (832, 1088), (1088, 832))

# i2v/kf2v inputs and VACE's reference images: JPEG, PNG, BMP or WEBP, sides 360-2000, ≤ 10 MB.
VIDEO_IMAGE_INPUTS = ImageRules(min_side=360, max_side=2000, formats=("JPEG", "PNG", "BMP", "WEBP"))


@dataclass(frozen=True)
class VideoRules:
    mode: VideoMode
    tiers: tuple[str, ...]  # t2v: the size lists offered; i2v/kf2v: the resolution values
    default_tier: str
    durations: tuple[int, ...]  # seconds the model makes; another is accepted, and the task fails
    default_duration: int
    fps: int
    default_size: tuple[int, int] | None = None  # t2v and VACE
    sound: bool = False  # wan2.5/2.6: sound by default (``parameters.audio`` false: silent)
    tier_prices: tuple[tuple[str, float], ...] = ()  # USD per second of video, per tier

    @property
    def sizes(self) -> tuple[tuple[int, int], ...]:
        """The sizes ``size`` may name (t2v, VACE); i2v and kf2v take ``resolution`` instead."""
        if self.mode is VideoMode.VACE:
            return VACE_SIZES
        return tuple(size for tier in self.tiers for size in TIER_SIZES[tier])

    def price(self, tier: str, unit_price: float) -> float:
        """USD per second at ``tier``; ``unit_price`` (the model's) where the tier has none."""
        return dict(self.tier_prices).get(tier, unit_price)

    def with_prices(self, prices: dict[str, float]) -> VideoRules:
        """The rules with some tiers' prices replaced (``IMAGESCOPE_PRICES`` MODEL@TIER=PRICE)."""
        merged = {**dict(self.tier_prices), **prices}
        return replace(self, tier_prices=tuple(sorted(merged.items())))


def size_tier(size: tuple[int, int]) -> str:
    """The tier of a t2v or VACE size (VACE's are all 720P-class)."""
    for tier, sizes in TIER_SIZES.items():
        if size in sizes:
            return tier
    return "720P"


def tier_size(tier: str, width: int, height: int, step: int = 16, max_ratio: float = 4.0) -> tuple[int, int]:
    """An i2v/kf2v output: about the tier's pixels in the proportions of ``width``:``height``
    (clamped to 1:4-4:1), each side a multiple of ``step`` (even for H.264; 16 for the models)."""
    ratio = min(max(width / height, 1 / max_ratio), max_ratio)
    area = TIER_AREA[tier]
    w = max(step, round((area * ratio) ** 0.5 / step) * step)
    h = max(step, round((area / ratio) ** 0.5 / step) * step)
    return w, h


@dataclass(frozen=True)
class VideoModel:
    """One row of the video models' table; ``names`` share it (wan2.1-* and wanx2.1-*)."""

    names: tuple[str, ...]
    endpoint: str
    prompt_max: int
    rules: VideoRules
    unit_price: float  # USD per second, where a tier has no price of its own


def _rules(mode: VideoMode, tiers: str, default: str, durations: tuple[int, ...], fps: int, **kw: object) -> VideoRules:
    names = tuple(tiers.split())
    default_duration = 5 if 5 in durations else durations[0]
    size = kw.pop("size", None)
    if mode is VideoMode.TEXT and size is None:
        size = TIER_SIZES[default][0]
    return VideoRules(mode, names, default, durations, default_duration, fps, default_size=size, **kw)  # type: ignore[arg-type]


T2V, I2V, KF2V, VACE = VideoMode.TEXT, VideoMode.IMAGE, VideoMode.KEYFRAMES, VideoMode.VACE
WAN21 = (("480P", 0.036), ("720P", 0.036))  # turbo: one price per second at both tiers
WAN_PLUS = (("480P", 0.10), ("720P", 0.10), ("1080P", 0.10))
WAN25 = (("480P", 0.05), ("720P", 0.10), ("1080P", 0.15))
WAN26 = (("720P", 0.10), ("1080P", 0.15))
WAN26_FLASH = (("720P", 0.05), ("1080P", 0.075))
TWO_TO_15 = tuple(range(2, 16))

VIDEO_MODELS = (
    VideoModel(("wanx2.1-t2v-turbo", "wan2.1-t2v-turbo"), VIDEO_GENERATION, 800,
               _rules(T2V, "480P 720P", "720P", (5,), 30, tier_prices=WAN21), 0.036),
    VideoModel(("wanx2.1-t2v-plus", "wan2.1-t2v-plus"), VIDEO_GENERATION, 800,
               _rules(T2V, "720P", "720P", (5,), 30, tier_prices=WAN_PLUS), 0.10),
    VideoModel(("wan2.2-t2v-plus",), VIDEO_GENERATION, 800,
               _rules(T2V, "480P 1080P", "1080P", (5,), 30, tier_prices=WAN_PLUS), 0.10),
    VideoModel(("wan2.5-t2v-preview",), VIDEO_GENERATION, 2000,
               _rules(T2V, "480P 720P 1080P", "1080P", (5, 10), 24, sound=True, tier_prices=WAN25), 0.10),
    VideoModel(("wan2.6-t2v",), VIDEO_GENERATION, 1500,
               _rules(T2V, "720P 1080P", "1080P", TWO_TO_15, 30, sound=True, tier_prices=WAN26), 0.10),
    VideoModel(("wanx2.1-i2v-turbo", "wan2.1-i2v-turbo"), VIDEO_GENERATION, 800,
               _rules(I2V, "480P 720P", "720P", (3, 4, 5), 30, tier_prices=WAN21), 0.036),
    VideoModel(("wanx2.1-i2v-plus", "wan2.1-i2v-plus"), VIDEO_GENERATION, 800,
               _rules(I2V, "720P", "720P", (5,), 30, tier_prices=WAN_PLUS), 0.10),
    VideoModel(("wan2.2-i2v-flash",), VIDEO_GENERATION, 800,
               _rules(I2V, "480P 720P 1080P", "720P", (5,), 30, tier_prices=WAN21), 0.036),
    VideoModel(("wan2.2-i2v-plus",), VIDEO_GENERATION, 800,
               _rules(I2V, "480P 1080P", "1080P", (5,), 30, tier_prices=WAN_PLUS), 0.10),
    VideoModel(("wan2.5-i2v-preview",), VIDEO_GENERATION, 2000,
               _rules(I2V, "480P 720P 1080P", "1080P", (5, 10), 24, sound=True, tier_prices=WAN25), 0.10),
    VideoModel(("wan2.6-i2v",), VIDEO_GENERATION, 1500,
               _rules(I2V, "720P 1080P", "1080P", TWO_TO_15, 30, sound=True, tier_prices=WAN26), 0.10),
    VideoModel(("wan2.6-i2v-flash",), VIDEO_GENERATION, 1500,
               _rules(I2V, "720P 1080P", "1080P", TWO_TO_15, 30, sound=True, tier_prices=WAN26_FLASH), 0.05),
    VideoModel(("wanx2.1-kf2v-plus", "wan2.1-kf2v-plus"), IMAGE2VIDEO, 800,
               _rules(KF2V, "720P", "720P", (5,), 30, tier_prices=WAN_PLUS), 0.10),
    VideoModel(("wan2.2-kf2v-flash",), IMAGE2VIDEO, 800,
               _rules(KF2V, "480P 720P 1080P", "720P", (5,), 30, tier_prices=WAN21), 0.036),
    VideoModel(("wanx2.1-vace-plus", "wan2.1-vace-plus"), VIDEO_GENERATION, 800,
               _rules(VACE, "720P", "720P", (5,), 30, size=(1280, 720), tier_prices=WAN_PLUS), 0.10),
)  # fmt: skip
VIDEO_MODEL_NAMES = frozenset(name for model in VIDEO_MODELS for name in model.names)
# Silent wan2.6 flash costs half (video-notes §2 [3P]): the price of a task asked without sound.
SILENT_DISCOUNT = {"wan2.6-i2v-flash": 0.5}
