"""The engine interface: the only thing a worker asks of a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

from PIL import Image, ImageFont


@dataclass(frozen=True)
class ImageJob:
    """One image of a task: image ``index`` of ``count``, drawn with ``seed``."""

    model: str
    prompt: str  # the prompt the model draws: the rewritten one when prompt_extend is on
    negative_prompt: str
    width: int
    height: int
    seed: int
    index: int
    count: int


@dataclass(frozen=True)
class EditJob:
    """One output image of an editing task: the inputs are decoded, the size decided."""

    model: str
    function: str  # wanx2.1-imageedit's function, or "edit" (instruction editing, multi-image fusion)
    prompt: str
    negative_prompt: str
    images: tuple[Image.Image, ...]  # RGB, in request order; images[0] is the base image
    mask: Image.Image | None  # "L", the base image's size; white = edit (description_edit_with_mask)
    width: int
    height: int
    seed: int
    index: int
    count: int
    options: dict  # strength, top/bottom/left/right_scale, upscale_factor, is_sketch


Progress = Callable[[int, int], None]  # (step, total): called as the engine advances
ShouldStop = Callable[[], bool]  # True: the task was canceled, stop at the next step


class EngineConfigError(Exception):
    """The engine cannot run as configured: weights missing or incomplete, unknown pipeline."""


class Canceled(Exception):
    """``should_stop()`` said stop; raised between steps (nothing is returned)."""


class Engine(Protocol):
    """Engines raise ValueError for a job they cannot do as asked (the task's InvalidParameter),
    EngineConfigError when misconfigured, Canceled when ``should_stop()`` said so."""

    name: str

    def generate(
        self, job: ImageJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> Image.Image:
        """An RGB image of exactly ``job.width`` x ``job.height``; raises on failure."""


class EditEngine(Protocol):
    name: str

    def edit(
        self, job: EditJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> Image.Image:
        """An RGB image of exactly ``job.width`` x ``job.height``; raises on failure."""


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled font (Latin, CJK, kana, Hangul), so CJK renders on any machine."""
    ref = resources.files("imagescope.engines") / "fonts" / "WenQuanYiMicroHei-subset.ttf"
    with resources.as_file(ref) as path:
        return ImageFont.truetype(str(path), size)
