"""The engine interface: the only thing a worker asks of a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol, runtime_checkable

from PIL import Image, ImageFont

from imagescope.tasks.spec import EditOptions, Function


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
    # Pictures of the image on its way to hand to ``partial`` (OpenAI's partial_images, 0–3),
    # at evenly spaced steps; an engine without steps hands none.
    partial_images: int = 0


@dataclass(frozen=True)
class EditJob:
    """One output image of an editing task: the inputs are decoded, the size decided."""

    model: str
    function: Function | None  # wanx2.1-imageedit's function; None: instruction editing, multi-image fusion
    prompt: str
    negative_prompt: str
    images: tuple[Image.Image, ...]  # RGB, in request order; images[0] is the base image
    mask: Image.Image | None  # "L", the base image's size; white = edit (description_edit_with_mask)
    width: int
    height: int
    seed: int
    index: int
    count: int
    options: EditOptions | None = None  # the function's parameters (None: it has none, or the hosted defaults)


Progress = Callable[[int, int], None]  # (step, total): called as the engine advances
ShouldStop = Callable[[], bool]  # True: the task was canceled, stop at the next step
Partial = Callable[[Image.Image], None]  # a picture of the image on its way, job.width x job.height


class EngineConfigError(Exception):
    """The engine cannot run as configured: weights missing or incomplete, unknown pipeline.
    The message is for the operator (it may name server paths): it is logged, never answered."""


class JobRefused(Exception):
    """The engine cannot do this job as asked (an input it cannot take, a function it does not
    run). The message is written for the API's user: it becomes the image's InvalidParameter.
    Any other exception an engine raises is the service's fault (InternalError, message logged)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Canceled(Exception):
    """``should_stop()`` said stop; raised between steps (nothing is returned)."""


# An engine has a name and one or more of the abilities below, which the worker checks with
# ``isinstance`` before it gives the engine a job: a binding that cannot serve a request is
# refused with a message, never an AttributeError half-way. Each ability raises JobRefused,
# EngineConfigError, or Canceled when ``should_stop()`` said so.


@runtime_checkable
class ImageEngine(Protocol):
    name: str  # what logs and the models listing call it


@runtime_checkable
class TextToImageEngine(ImageEngine, Protocol):
    def generate(
        self,
        job: ImageJob,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        partial: Partial | None = None,
    ) -> Image.Image:
        """An RGB image of exactly ``job.width`` x ``job.height``; raises on failure. Up to
        ``job.partial_images`` pictures on the way go to ``partial`` (an engine written before
        it may lack the keyword: the worker then passes none)."""


@runtime_checkable
class EditEngine(ImageEngine, Protocol):
    def edit(
        self, job: EditJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> Image.Image:
        """An RGB image of exactly ``job.width`` x ``job.height``; raises on failure."""


@runtime_checkable
class InterleaveEngine(ImageEngine, Protocol):
    """Interleaved answers (wan2.6-image): the engine writes the text parts; each image is then
    made from its part by ``generate`` (or ``edit``, given an input image)."""

    def interleave(self, prompt: str, count: int) -> list[str]:
        """The text parts: one paragraph before each of ``count`` images."""


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled font (Latin, CJK, kana, Hangul), so CJK renders on any machine."""
    ref = resources.files("imagescope.engines") / "fonts" / "WenQuanYiMicroHei-subset.ttf"
    with resources.as_file(ref) as path:
        return ImageFont.truetype(str(path), size)
