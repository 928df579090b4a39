"""The video engine interface: what the video worker will ask of a model.

Shaped like the image abilities in ``engines/base.py``: a job in, the finished file out, with
``progress`` and ``should_stop`` between frames (or denoising steps), and the same exceptions
(``JobRefused``, ``EngineConfigError``, ``Canceled``). A video engine answers the whole MP4 at
once: the hosted service stores one ``video_url`` per task, never a partial clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

from imagescope.engines.base import Progress, ShouldStop
from imagescope.tasks.spec import VaceFunction, VaceOptions


@dataclass(frozen=True)
class VideoJob:
    """One video of a task: the size, frame rate and length are decided (the model's rules were
    applied before), the input frames decoded. ``frames`` is round(fps * duration_s)."""

    model: str
    prompt: str  # the prompt the model draws: the rewritten one when prompt_extend is on
    negative_prompt: str
    width: int
    height: int
    fps: int
    duration_s: float
    seed: int
    first_frame: Image.Image | None = None  # i2v and kf2v: the video starts from it (any size; fitted)
    last_frame: Image.Image | None = None  # kf2v: the video ends at it
    # VACE (video editing): the function and its inputs, decoded. ``video`` is the input clip's
    # frames (video_repainting, video_edit, video_outpainting; video_extension's first clip), RGB,
    # any size (fitted like first_frame); ``mask`` one "L" image (white = edit) for every frame, or
    # one per frame (a mask video); ``reference_images`` image_reference's 1-3 pictures.
    function: VaceFunction | None = None
    video: tuple[Image.Image, ...] = ()
    mask: tuple[Image.Image, ...] = ()
    reference_images: tuple[Image.Image, ...] = ()
    vace: VaceOptions | None = None  # the function's parameters (None: their defaults)
    watermark: str = ""  # drawn bottom right on every frame when set (the request's watermark: true)

    def __post_init__(self) -> None:
        # H.264 in yuv420p halves the colour planes, so both sides must be even; every hosted
        # size is. An odd side here is the caller's bug (a size rule not applied), not the user's.
        for side in ("width", "height"):
            value = getattr(self, side)
            if value <= 0 or value % 2:
                raise ValueError(f"{side} must be a positive even number of pixels, got {value}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.frames < 1:
            raise ValueError(f"duration_s {self.duration_s} at {self.fps} fps makes no frame")
        if self.last_frame is not None and self.first_frame is None:
            raise ValueError("last_frame needs first_frame (first-and-last-frame video)")
        if self.function is None and (self.video or self.mask or self.reference_images or self.vace):
            raise ValueError("input clips, masks, reference images and VACE options are a VACE job's")

    @property
    def frames(self) -> int:
        return round(self.fps * self.duration_s)


@runtime_checkable
class VideoEngine(Protocol):
    name: str  # what logs and the models listing call it


@runtime_checkable
class TextToVideoEngine(VideoEngine, Protocol):
    def make(self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> bytes:
        """The MP4 (H.264, yuv420p) of exactly ``job.width`` x ``job.height``, ``job.fps`` and
        ``job.frames`` frames. ``progress(done, total)`` as it advances; ``Canceled`` when
        ``should_stop()`` said so."""


@runtime_checkable
class VideoEditEngine(VideoEngine, Protocol):
    """VACE video editing (``job.function`` set). ``functions`` names the VACE functions the
    engine runs; the worker checks it before it hands a job, so an engine that cannot run a
    function refuses with a message, not half-way."""

    functions: frozenset[VaceFunction]

    def edit_video(
        self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> bytes:
        """As ``TextToVideoEngine.make``, from the job's function and inputs."""


@runtime_checkable
class ImageToVideoEngine(VideoEngine, Protocol):
    """Image-to-video (``job.first_frame``) and, where ``takes_last_frame``, first-and-last-frame
    video (kf2v: ``job.last_frame`` too). The worker checks ``takes_last_frame`` before it hands a
    kf2v job, so an engine that cannot end on a frame refuses with a message, not half-way."""

    takes_last_frame: bool

    def make(self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> bytes:
        """As ``TextToVideoEngine.make``; the first frame is ``job.first_frame`` fitted to the
        size (and the last ``job.last_frame``, kf2v)."""
