"""Video engines turn one video job into one MP4. One engine per file; planes.py is their yuv420p
drawing surface."""

from imagescope.engines.video.base import (
    ImageToVideoEngine,
    TextToVideoEngine,
    VideoEditEngine,
    VideoEngine,
    VideoJob,
)
from imagescope.engines.video.preview import PreviewVideoEngine

__all__ = [
    "ImageToVideoEngine",
    "PreviewVideoEngine",
    "TextToVideoEngine",
    "VideoEditEngine",
    "VideoEngine",
    "VideoJob",
]
