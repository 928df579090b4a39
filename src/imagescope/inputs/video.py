"""Input videos (VACE's clips and mask videos): MP4 bytes checked and decoded with PyAV.

The hosted limits (video-notes §2, VACE): an MP4 of at most 50 MB and 5 seconds. A clip that
PyAV cannot open, that holds no video stream, or that is longer is refused with the request's
400 InvalidParameter (the decoder's words stay in the log).

What a clip may cost in memory is bounded too, since 50 MB of H.264 can hold far more pixels
than its size suggests: at most ``MAX_VIDEO_FRAMES`` frames (5 s at 60 fps), each scaled down as
it is decoded to at most ``FRAME_SIDE`` pixels a side (VACE's outputs are at most 1280 wide;
engines fit every frame to the output size anyway). A clip of 300 frames then holds at most
about 1.5 GB as RGB, never the tens of GB a 4096*4096, 240 fps clip would decode to.
"""

from __future__ import annotations

import io
import logging

import av
from PIL import Image

from imagescope.errors import Refused, invalid_parameter

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 50 * 1024 * 1024
MAX_VIDEO_S = 5.0
_SLACK_S = 0.1  # containers round a clip's length up a little
MAX_VIDEO_SIDE = 4096
MAX_VIDEO_FRAMES = 306  # 5.1 s at 60 fps
FRAME_SIDE = 1280  # frames are decoded at most this many pixels a side
# The names of the VACE inputs that are clips (``EditInputs.take`` keeps them as videos).
VIDEO_INPUT_NAMES = frozenset({"video_url", "mask_video_url", "first_clip_url", "last_clip_url"})


def video_unreadable(name: str) -> Refused:
    return invalid_parameter(f"input.{name} must be an MP4 video (H.264) of at most {MAX_VIDEO_S:g} seconds")


def decode_video(data: bytes, name: str, mode: str = "RGB", check_only: bool = False) -> list[Image.Image]:
    """The clip's frames, in order; the request's error when it is not a usable clip. With
    ``check_only`` the same checks, no frame converted or kept: an empty list for a usable clip."""
    if len(data) > MAX_VIDEO_BYTES:
        raise invalid_parameter(f"input.{name} must be at most {MAX_VIDEO_BYTES // (1024 * 1024)} MB")
    frames: list[Image.Image] = []
    count = 0  # frames decoded (all of them kept unless check_only)
    try:
        with av.open(io.BytesIO(data), "r") as container:
            # An MP4 (or QuickTime) container: FFmpeg would also open a PNG or a GIF as "video".
            if "mp4" not in container.format.name.split(",") or not container.streams.video:
                raise video_unreadable(name)
            stream = container.streams.video[0]
            if stream.codec_context.width > MAX_VIDEO_SIDE or stream.codec_context.height > MAX_VIDEO_SIDE:
                raise invalid_parameter(f"input.{name}: each side must be at most {MAX_VIDEO_SIDE} pixels")
            for frame in container.decode(stream):
                if frame.time is not None and frame.time > MAX_VIDEO_S + _SLACK_S:
                    raise video_unreadable(name)
                if count >= MAX_VIDEO_FRAMES:
                    raise invalid_parameter(f"input.{name} must have at most {MAX_VIDEO_FRAMES} frames")
                count += 1
                if check_only:
                    continue
                width, height = _fitted(frame.width, frame.height)
                rgb = frame.to_ndarray(width=width, height=height, format="rgb24")
                frames.append(Image.fromarray(rgb).convert(mode))
    except Refused:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        log.info("input %s is not a readable video: %s", name, exc)
        raise video_unreadable(name) from None
    if not count:
        raise video_unreadable(name)
    return frames


def _fitted(width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down to at most ``FRAME_SIDE`` a side, proportions kept."""
    scale = min(1.0, FRAME_SIDE / max(width, height))
    return max(2, round(width * scale)), max(2, round(height * scale))
