"""The MP4 every video engine answers: H.264 in yuv420p, tagged BT.601 limited range, moov atom
first, written with PyAV (the FFmpeg and libx264 of its wheel: no system ffmpeg).

    mp4 = write_mp4(frames, width, height, fps)  # frames: yuv420p arrays, as Frame.ndarray()
    frame = rgb_frame(pixels)                     # an (h, w, 3) RGB array as one

The frames are consumed lazily, one at a time, so an engine can draw each as the encoder asks
for it and stop (raise ``Canceled``) between two; ``after_frame(i)`` runs once frame i (from 1)
is in the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import av
import numpy as np

from imagescope.engines.video.planes import U8

# x264's fastest preset: a frame of 832*480 in a few milliseconds; crf 23 is its default quality.
# A fixed thread count keeps the bytes the same on every machine (x264 is deterministic per count).
X264_OPTIONS = {"preset": "ultrafast", "crf": "23", "threads": "4"}
BT601 = 6  # FFmpeg's AVColorSpace, AVColorPrimaries and AVColorTransferCharacteristic: SMPTE 170M
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG: 16–235


def rgb_frame(rgb: U8) -> U8:
    """(h, w, 3) RGB, h and w even → the (h * 3/2, w) yuv420p array ``write_mp4`` takes: BT.601
    in limited range, what the stream is tagged with (and planes.py's conversion, within one
    level), by FFmpeg's scaler (a few milliseconds a 832*480 frame, a quarter of numpy's)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    converted = frame.reformat(
        format="yuv420p", src_colorspace="ITU601", dst_colorspace="ITU601", dst_color_range="MPEG"
    )
    out: U8 = np.asarray(converted.to_ndarray(), dtype=np.uint8)  # yuv420p: 8 bits
    return out


def write_mp4(
    frames: Iterable[U8],
    width: int,
    height: int,
    fps: int,
    after_frame: Callable[[int], None] | None = None,
) -> bytes:
    """The MP4 of ``frames`` (yuv420p arrays of ``width`` x ``height``, both even) at ``fps``."""
    # The moov atom goes first (faststart) so a browser plays while it downloads; FFmpeg's MP4
    # muxer rewrites the file to move it, so it writes to a file, not to a BytesIO.
    with tempfile.TemporaryDirectory(prefix="imagescope-video-") as folder:
        path = Path(folder) / "video.mp4"
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps, options=X264_OPTIONS)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            # Say which colours these are (planes.py: BT.601, limited range): untagged, a browser
            # may take HD video for BT.709 and shift every colour a little.
            context = stream.codec_context
            context.colorspace = context.color_primaries = context.color_trc = BT601
            context.color_range = LIMITED_RANGE
            for index, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p")
                frame.pts = index
                container.mux(stream.encode(frame))
                if after_frame is not None:
                    after_frame(index + 1)
            container.mux(stream.encode(None))
        return path.read_bytes()
