"""From what a Wan model makes to what the hosted service answers: frame counts and timing.

The open-weight Wan pipelines make ``4k+1`` frames (the VAE packs 4 frames per latent after
the first) meant to play at the model's native rate: 16 fps (Wan 2.1, Wan 2.2 A14B), 24 fps
(Wan 2.2 TI2V-5B). The hosted models answer 24 or 30 fps. So an engine

1. asks the model for the job's duration at its native rate (:func:`model_frame_count`: the
   fewest ``4k+1`` frames covering ``native_fps * duration_s`` intervals; 5 s at 16 fps → 81),
2. resamples them in time to the job's ``round(fps * duration_s)`` frames (:func:`resampled`):
   output frame ``i`` shows the model's frame position ``i * (n - 1) / (N - 1)``, a linear blend
   of the two model frames around it. Both ends are exact (an image-to-video clip starts on its
   input frame, first-and-last-frame ends on its last); the clip plays at the model's speed
   within one output frame's time over the clip (5 s at 30 fps: 0.7 % fast), never the 16/30
   slow motion of relabelling the frames, never the judder of repeating them.

An input clip (VACE) goes the other way (:func:`clip_to_model`): its frames are taken to play at
the job's rate, and each model frame is the input frame at the same time (nearest, not blended:
a blend would smear the mask it is edited under).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T")
Frames = NDArray[np.float32]  # (frames, height, width, 3), values 0-1: what the pipelines answer as "np"


def model_frame_count(duration_s: float, native_fps: int, temporal: int = 4) -> int:
    """The fewest frames of the form ``temporal * k + 1`` covering ``duration_s`` at ``native_fps``."""
    intervals = max(1, math.ceil(native_fps * duration_s - 1e-9))
    return temporal * math.ceil(intervals / temporal) + 1


def positions(count: int, available: int) -> list[float]:
    """Where each of ``count`` output frames falls among ``available`` model frames (0 to
    ``available - 1``, evenly spaced, both ends included)."""
    if count == 1 or available == 1:
        return [0.0] * count
    step = (available - 1) / (count - 1)
    return [i * step for i in range(count)]


def resampled(frames: Frames, count: int) -> Iterator[NDArray[np.uint8]]:
    """``count`` RGB frames from the model's ``frames``, one at a time: each the linear blend at
    its position (so only the model's frames are held in memory, never the output's)."""
    last = len(frames) - 1
    for position in positions(count, len(frames)):
        low = min(int(position), last)
        weight = position - low
        if weight < 1e-6 or low == last:
            pixels = frames[low]
        else:
            pixels = frames[low] * (1 - weight) + frames[low + 1] * weight
        yield np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)


def clip_to_model(clip: Sequence[T], fps: int, native_fps: int, count: int) -> list[T]:
    """``count`` model frames from an input clip playing at ``fps``: model frame ``j`` (at
    ``j / native_fps`` s) is the clip's frame at that time, the last one once the clip has ended."""
    return [clip[min(len(clip) - 1, round(j * fps / native_fps))] for j in range(count)]
