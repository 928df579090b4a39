"""The engine interface: the only thing a worker asks of a model."""

from __future__ import annotations

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


class Engine(Protocol):
    name: str

    def generate(self, job: ImageJob) -> Image.Image:
        """An RGB image of exactly ``job.width`` x ``job.height``; raises on failure."""


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled font (Latin, CJK, kana, Hangul), so CJK renders on any machine."""
    ref = resources.files("imagescope.engines") / "fonts" / "WenQuanYiMicroHei-subset.ttf"
    with resources.as_file(ref) as path:
        return ImageFont.truetype(str(path), size)
