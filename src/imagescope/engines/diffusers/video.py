"""diffusers video engines: Wan text-to-video, image-to-video (and first-and-last-frame), and VACE
video editing, each answering one MP4 (engines/video/base.py's abilities).

    t2v = WanTextToVideoEngine("wan-t2v", DiffusersOptions("/models/Wan2.1-T2V-14B-Diffusers", "WanPipeline"))
    mp4 = t2v.make(job)       # a VideoJob; the weights load on first use (t2v.load() loads now)
    i2v = WanImageToVideoEngine(
        "wan-flf2v", DiffusersOptions("/models/Wan2.1-FLF2V-14B-720P-Diffusers", "WanImageToVideoPipeline")
    )
    i2v.takes_last_frame      # read from the weights' configs, before they load
    vace = WanVideoEditEngine("wan-vace", DiffusersOptions("/models/Wan2.1-VACE-14B-diffusers", "WanVACEPipeline"))
    mp4 = vace.edit_video(job)  # job.function: a VaceFunction (vace.py)

The weights are shared as the image engines share theirs (``weights.py``: one copy per
directory, dtype, device and fast path; one call at a time under its lock).

Frames and rate (``frames.py``): the model is asked for the job's duration at its native rate
(``options.fps``; by default 16, or 24 for weights saved with ``expand_timesteps``: Wan2.2
TI2V-5B) in ``4k+1`` frames, and its frames are resampled in time to the job's
``round(fps * duration_s)`` at ``job.fps``, both ends exact. Size: the pipeline is asked for
the job's size rounded up to its 16-pixel step (32 for TI2V-5B) and the frames are
centre-cropped back (at most a step less a pixel per axis, no resampling); an input frame is
fitted to the job's size and edge-padded to the pipeline's, so it lands on the output's pixels.

First-and-last-frame (``takes_last_frame``): WanImageToVideoPipeline takes ``last_image`` with
any weights, but only some were trained to end on it. Read from the weights' configs
(:func:`last_frame_use`): weights with an image encoder (Wan 2.1: CLIP embeddings of the frames)
end on a frame when their transformer position-embeds two frames' embeddings
(``pos_embed_seq_len``: FLF2V), and then they must be given one (``needs_last_frame``: FLF2V
makes first-and-last-frame video only); weights without one (Wan 2.2 I2V-A14B: the frames are
latents only) may end on one, unless they condition on the first frame alone
(``expand_timesteps``: TI2V-5B). Wan 2.1 I2V and TI2V-5B never do: kf2v jobs are refused.

The job's ``watermark`` is drawn on every frame as on a picture (engines/watermark.py).

Progress is the denoising steps (``progress(step, steps)``); ``should_stop`` is asked before
the call and after every step, and a stop raises :class:`Canceled` (nothing is decoded).
Errors are the image engines': ``JobRefused`` for the user, ``EngineConfigError`` for the
operator.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagescope.engines.base import Canceled, EngineConfigError, JobRefused, Progress, ShouldStop
from imagescope.engines.diffusers.engine import _DiffusersEngine, guidance_arguments, step_callback
from imagescope.engines.diffusers.frames import model_frame_count, resampled
from imagescope.engines.diffusers.options import DiffusersOptions
from imagescope.engines.diffusers.sizes import round_up, size_step
from imagescope.engines.diffusers.vace import RUNS, Canvas, fit_to_canvas, vace_inputs
from imagescope.engines.diffusers.weights import shared_pipeline
from imagescope.engines.video.base import VideoJob
from imagescope.engines.video.mp4 import rgb_frame, write_mp4
from imagescope.engines.video.planes import U8
from imagescope.engines.watermark import apply_watermark
from imagescope.tasks.spec import VaceFunction

try:
    import torch
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "imagescope's diffusers engines need the 'diffusers' extra: pip install 'imagescope[diffusers]'"
    ) from exc

NATIVE_FPS = 16  # Wan 2.1 and Wan 2.2 A14B
EXPANDED_FPS = 24  # Wan 2.2 TI2V-5B (expand_timesteps)

# The arguments of one call for the loaded pipeline (``pipe``: untyped diffusers) and its canvas.
Arguments = Callable[[Any, Canvas], dict[str, Any]]


class _WanEngine(_DiffusersEngine):
    pipeline = ""  # the diffusers class the engine runs

    def __init__(self, name: str, options: DiffusersOptions):
        if options.pipeline != self.pipeline:
            raise EngineConfigError(f"{name}: {type(self).__name__} runs {self.pipeline}, not {options.pipeline}")
        if self.pipeline != "WanPipeline" and importlib.util.find_spec("ftfy") is None:
            # diffusers' Wan image-to-video and VACE pipelines clean every prompt with ftfy.
            raise EngineConfigError(f"{name}: {self.pipeline} needs ftfy: pip install 'imagescope[diffusers]'")
        super().__init__(name, options)

    def _render(
        self, job: VideoJob, arguments: Arguments, progress: Progress | None, should_stop: ShouldStop | None
    ) -> bytes:
        """One pipeline call for the job, its frames resampled and cropped to the job's, as an MP4."""
        pipe, lock = shared_pipeline(self.name, self.options)
        steps = self.options.steps
        with lock:
            if should_stop is not None and should_stop():
                raise Canceled(f"{self.name}: canceled before the first step")
            canvas = self._canvas(pipe, job)
            params = inspect.signature(type(pipe).__call__).parameters
            output = pipe(
                prompt=job.prompt,
                **guidance_arguments(self.options, params, job.negative_prompt),
                **arguments(pipe, canvas),
                width=canvas.width,
                height=canvas.height,
                num_frames=canvas.frames,
                num_inference_steps=steps,
                generator=torch.Generator(pipe.device).manual_seed(job.seed),
                output_type="np",
                callback_on_step_end=step_callback(self.name, steps, progress, should_stop),
            )
        frames = np.asarray(output.frames[0], dtype=np.float32)  # (frames, height, width, 3), 0-1
        return write_mp4(_cropped(resampled(frames, job.frames), job), job.width, job.height, job.fps)

    def _canvas(self, pipe: Any, job: VideoJob) -> Canvas:
        step = size_step(pipe)
        native = self.options.fps or (EXPANDED_FPS if pipe.config.get("expand_timesteps") else NATIVE_FPS)
        temporal = int(getattr(pipe, "vae_scale_factor_temporal", 4))
        frames = model_frame_count(job.duration_s, native, temporal)
        return Canvas(round_up(job.width, step), round_up(job.height, step), frames, native)


def _cropped(frames: Iterator[U8], job: VideoJob) -> Iterator[U8]:
    """Each (RGB) frame's centre ``job.width`` x ``job.height``, watermarked when the job says so,
    as a yuv420p frame."""
    for frame in frames:
        top, left = (frame.shape[0] - job.height) // 2, (frame.shape[1] - job.width) // 2
        picture = np.ascontiguousarray(frame[top : top + job.height, left : left + job.width])
        if job.watermark:
            picture = np.asarray(apply_watermark(Image.fromarray(picture, "RGB"), job.watermark), dtype=np.uint8)
        yield rgb_frame(picture)


class WanTextToVideoEngine(_WanEngine):
    """``make(job)`` with WanPipeline: a clip from the prompt (a ``TextToVideoEngine``)."""

    pipeline = "WanPipeline"

    def make(self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> bytes:
        if job.first_frame is not None or job.function is not None:
            raise JobRefused(f"{self.pipeline} makes video from text only.")
        return self._render(job, lambda pipe, canvas: {}, progress, should_stop)


class WanImageToVideoEngine(_WanEngine):
    """``make(job)`` with WanImageToVideoPipeline: a clip starting on ``job.first_frame`` and,
    where ``takes_last_frame``, ending on ``job.last_frame`` (an ``ImageToVideoEngine``)."""

    pipeline = "WanImageToVideoPipeline"

    @cached_property
    def last_frame(self) -> str:
        """never | optional | required: whether a job may (or must) give a last frame."""
        return last_frame_use(Path(self.options.weights).expanduser())

    @property
    def takes_last_frame(self) -> bool:
        return self.last_frame != "never"

    @property
    def needs_last_frame(self) -> bool:
        return self.last_frame == "required"

    def make(self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> bytes:
        first, last = job.first_frame, job.last_frame
        if first is None:
            raise JobRefused("Image-to-video needs a first frame.")
        if last is not None and not self.takes_last_frame:
            raise JobRefused(f"The engine of {job.model} cannot end a video on a given last frame.")
        if last is None and self.needs_last_frame:
            raise JobRefused(f"The engine of {job.model} makes first-and-last-frame video only: it needs a last frame.")

        def arguments(pipe: Any, canvas: Canvas) -> dict[str, Any]:
            args = {"image": fit_to_canvas(first, job, canvas)}
            if last is not None:
                args["last_image"] = fit_to_canvas(last, job, canvas)
            return args

        return self._render(job, arguments, progress, should_stop)


def last_frame_use(weights: Path) -> str:
    """never | optional | required: how the image-to-video weights in ``weights`` take a last
    frame (the module docstring says how it is told); never when their configs cannot be read."""
    try:
        index = json.loads((weights / "model_index.json").read_text())
        transformer = json.loads((weights / "transformer" / "config.json").read_text())
    except (OSError, ValueError):
        return "never"
    if index.get("expand_timesteps"):
        return "never"
    if transformer.get("image_dim") is None:
        return "optional"
    return "required" if transformer.get("pos_embed_seq_len") is not None else "never"


class WanVideoEditEngine(_WanEngine):
    """``edit_video(job)`` with WanVACEPipeline: VACE's functions (vace.py) as the pipeline's
    ``video``, ``mask`` and ``reference_images``; ``options.controlnet_conditioning_scale`` is
    its ``conditioning_scale`` (a ``VideoEditEngine``)."""

    pipeline = "WanVACEPipeline"
    functions: frozenset[VaceFunction] = RUNS

    def edit_video(
        self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> bytes:
        if job.function not in self.functions:
            raise JobRefused(
                f"VACE's {job.function} needs a pose, depth or scribble annotator, which this engine does not have."
                if job.function == VaceFunction.VIDEO_REPAINTING
                else f"This engine runs VACE's {', '.join(sorted(self.functions))}, not {job.function}."
            )

        def arguments(pipe: Any, canvas: Canvas) -> dict[str, Any]:
            inputs = vace_inputs(job, canvas)
            return {
                "video": inputs.video,
                "mask": inputs.mask,
                "reference_images": inputs.reference_images,
                "conditioning_scale": self.options.controlnet_conditioning_scale,
            }

        return self._render(job, arguments, progress, should_stop)


# The engine running each Wan video pipeline (the models file builds them by pipeline).
VIDEO_ENGINES: dict[str, type[_WanEngine]] = {
    engine.pipeline: engine for engine in (WanTextToVideoEngine, WanImageToVideoEngine, WanVideoEditEngine)
}
