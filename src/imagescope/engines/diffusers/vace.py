"""wan(x)2.1-vace-plus's functions as WanVACEPipeline's inputs: the clip it is conditioned on
(``video``), where it may draw (``mask``: white = draw, black = keep), and ``reference_images``.

    function            video (model frames)                 mask                       references
    image_reference     none (grey)                          all white                  the 1-3 images
    video_edit          the input clip                       the job's mask, grown      any given
    video_extension     the first clip / first frame, then   black on the given frames  any given
                        grey (and the last frame, if given)  white elsewhere
    video_outpainting   the clip shrunk onto a grey canvas   white on the border        any given

Approximations, said in docs/models.md: ``video_edit``'s ``mask_type`` tracking follows nothing
(one mask image covers every frame, as ``fixed``; a mask clip gives each frame its own), and
``expand_mode`` hull grows the mask by ``expand_ratio`` of its extent rather than taking its
convex hull; ``image_reference``'s ``obj_or_bg`` is not told to the model (each picture is a
reference, drawn on white by the pipeline). ``video_repainting`` needs a pose, depth or scribble
annotator, which imagescope does not have: the engine does not offer it.

Every picture is fitted to the job's size (scaled to cover, centre-cropped, as the preview does)
and padded to the pipeline's size (a multiple of 16: the engine crops the result back); an input
clip's frames are taken to play at the job's frame rate (``frames.clip_to_model``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from imagescope.engines.base import JobRefused
from imagescope.engines.diffusers.frames import clip_to_model
from imagescope.engines.diffusers.sizes import fit, pad
from imagescope.engines.video.base import VideoJob
from imagescope.tasks.spec import VaceFunction, VaceOptions

RUNS = frozenset(
    {
        VaceFunction.IMAGE_REFERENCE,
        VaceFunction.VIDEO_EDIT,
        VaceFunction.VIDEO_EXTENSION,
        VaceFunction.VIDEO_OUTPAINTING,
    }
)
GREY = (127, 127, 127)  # 0 in the pipeline's [-1, 1]: nothing to keep


@dataclass(frozen=True)
class Canvas:
    """The pipeline's call: ``width`` x ``height`` (multiples of its size step), ``frames`` model
    frames at ``native_fps``; the job's picture is its centre ``job.width`` x ``job.height``."""

    width: int
    height: int
    frames: int
    native_fps: int


@dataclass(frozen=True)
class VaceInputs:
    video: list[Image.Image] | None
    mask: list[Image.Image] | None
    reference_images: list[Image.Image] | None


def vace_inputs(job: VideoJob, canvas: Canvas) -> VaceInputs:
    """The pipeline's inputs for ``job.function``; ``JobRefused`` for what the job lacks."""
    options = job.vace or VaceOptions()
    references = [image.convert("RGB") for image in job.reference_images] or None
    match job.function:
        case VaceFunction.IMAGE_REFERENCE:
            if not references:
                raise JobRefused("image_reference needs 1 to 3 reference images.")
            return VaceInputs(None, None, references)
        case VaceFunction.VIDEO_EDIT:
            return VaceInputs(*_edit(job, canvas, options), references)
        case VaceFunction.VIDEO_EXTENSION:
            return VaceInputs(*_extension(job, canvas), references)
        case VaceFunction.VIDEO_OUTPAINTING:
            return VaceInputs(*_outpainting(job, canvas, options), references)
        case _:
            raise JobRefused(f"This engine cannot run VACE's {job.function}.")


def fit_to_canvas(image: Image.Image, job: VideoJob, canvas: Canvas) -> Image.Image:
    """``image`` fitted to the job's size (RGB) and edge-padded to the canvas: it lands on the
    output's pixels once the engine crops the result back."""
    return pad(fit(image.convert("RGB"), job.width, job.height), canvas.width, canvas.height, "edge")


def _plain(canvas: Canvas, fill: int | tuple[int, int, int]) -> Image.Image:
    return Image.new("L" if isinstance(fill, int) else "RGB", (canvas.width, canvas.height), fill)


def _clip(job: VideoJob, canvas: Canvas) -> list[Image.Image]:
    if not job.video:
        raise JobRefused(f"{job.function} needs an input video.")
    return clip_to_model(job.video, job.fps, canvas.native_fps, canvas.frames)


def _edit(job: VideoJob, canvas: Canvas, options: VaceOptions) -> tuple[list[Image.Image], list[Image.Image]]:
    """The clip, redrawn where the mask (one image for every frame, or a clip of them) is white."""
    if not job.mask:
        raise JobRefused("video_edit needs a mask image or a mask video.")
    video = [fit_to_canvas(frame, job, canvas) for frame in _clip(job, canvas)]
    masks = [_mask(m, job, canvas, options) for m in job.mask]
    if len(masks) == 1:
        return video, masks * canvas.frames
    return video, clip_to_model(masks, job.fps, canvas.native_fps, canvas.frames)


def _mask(mask: Image.Image, job: VideoJob, canvas: Canvas, options: VaceOptions) -> Image.Image:
    fitted = np.asarray(fit(mask.convert("L"), job.width, job.height), dtype=np.uint8) > 127
    grown = grow(fitted, options.expand_ratio, options.expand_mode)
    return pad(Image.fromarray((grown * 255).astype(np.uint8), "L"), canvas.width, canvas.height, 0)


def grow(mask: NDArray[np.bool_], ratio: float, mode: str) -> NDArray[np.bool_]:
    """``mask`` grown by ``ratio`` of its extent: ``original`` as it is; ``bbox`` its bounding box,
    grown; ``hull`` (and any other mode) the mask itself, grown by a square of that radius."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if mode == "original" or not len(rows):
        return mask
    extent = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    radius = math.ceil(ratio * extent)
    if mode == "bbox":
        out = np.zeros_like(mask)
        out[max(0, rows[0] - radius) : rows[-1] + radius + 1, max(0, cols[0] - radius) : cols[-1] + radius + 1] = True
        return out
    return _dilate(_dilate(mask, radius, axis=0), radius, axis=1)


def _dilate(mask: NDArray[np.bool_], radius: int, axis: int) -> NDArray[np.bool_]:
    """True wherever a True lies within ``radius`` along ``axis`` (a running sum: any radius, one pass)."""
    if radius <= 0:
        return mask
    length = mask.shape[axis]
    sums = np.cumsum(mask, axis=axis, dtype=np.int32)
    sums = np.concatenate([np.zeros_like(np.take(sums, [0], axis=axis)), sums], axis=axis)
    upper = np.take(sums, np.minimum(np.arange(length) + radius + 1, length), axis=axis)
    lower = np.take(sums, np.maximum(np.arange(length) - radius, 0), axis=axis)
    grown: NDArray[np.bool_] = (upper - lower) > 0
    return grown


def _extension(job: VideoJob, canvas: Canvas) -> tuple[list[Image.Image], list[Image.Image]]:
    """The given frames kept (the first clip from the start, or the first frame; the last frame
    at the end), the rest drawn from grey."""
    kept: dict[int, Image.Image] = {}
    if job.video:
        seconds = len(job.video) / job.fps
        count = min(canvas.frames, max(1, round(seconds * canvas.native_fps)))
        kept.update(enumerate(_clip(job, canvas)[:count]))
    elif job.first_frame is not None:
        kept[0] = job.first_frame
    if job.last_frame is not None:
        kept[canvas.frames - 1] = job.last_frame
    if not kept:
        raise JobRefused("video_extension needs a first clip, a first frame or a last frame.")
    grey, keep, draw = _plain(canvas, GREY), _plain(canvas, 0), _plain(canvas, 255)
    video = [fit_to_canvas(kept[i], job, canvas) if i in kept else grey for i in range(canvas.frames)]
    return video, [keep if i in kept else draw for i in range(canvas.frames)]


def _outpainting(job: VideoJob, canvas: Canvas, options: VaceOptions) -> tuple[list[Image.Image], list[Image.Image]]:
    """The clip shrunk to leave each side's share of the frame (a side's scale grows it about the
    centre, as wanx2.1-imageedit's expand), the border drawn."""
    scales = (options.left_scale, options.top_scale, options.right_scale, options.bottom_scale)
    if any(not 1 <= scale <= 4 for scale in scales):
        raise JobRefused("video_outpainting's scales must each be between 1 and 4.")
    left_s, top_s, right_s, bottom_s = scales
    inner_w = max(2, round(job.width * 2 / (left_s + right_s)))
    inner_h = max(2, round(job.height * 2 / (top_s + bottom_s)))
    left = round(inner_w * (left_s - 1) / 2) + (canvas.width - job.width) // 2
    top = round(inner_h * (top_s - 1) / 2) + (canvas.height - job.height) // 2
    mask = _plain(canvas, 255)
    mask.paste(0, (left, top, left + inner_w, top + inner_h))
    video = []
    for frame in _clip(job, canvas):
        picture = _plain(canvas, GREY)
        picture.paste(fit(frame.convert("RGB"), inner_w, inner_h), (left, top))
        video.append(picture)
    return video, [mask] * canvas.frames
