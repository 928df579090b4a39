"""Engines turn one image job into one picture. One engine per file."""

from imagescope.engines.base import (
    Canceled,
    EditEngine,
    EditJob,
    EngineConfigError,
    ImageEngine,
    ImageJob,
    InterleaveEngine,
    JobRefused,
    Progress,
    ShouldStop,
    TextToImageEngine,
)
from imagescope.engines.preview import PreviewEngine
from imagescope.engines.superres import RealEsrganEngine

__all__ = [
    "Canceled",
    "EditEngine",
    "EditJob",
    "EngineConfigError",
    "ImageEngine",
    "ImageJob",
    "InterleaveEngine",
    "JobRefused",
    "PreviewEngine",
    "Progress",
    "RealEsrganEngine",
    "ShouldStop",
    "TextToImageEngine",
    "builtin_engines",
]


def builtin_engines() -> dict[str, ImageEngine]:
    return {"preview": PreviewEngine(), "realesrgan": RealEsrganEngine()}
