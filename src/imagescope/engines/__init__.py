"""Engines turn one image job into one picture. One engine per file."""

from imagescope.engines.base import (
    Canceled,
    EditEngine,
    EditJob,
    Engine,
    EngineConfigError,
    ImageJob,
    Progress,
    ShouldStop,
)
from imagescope.engines.preview import PreviewEngine
from imagescope.engines.superres import RealEsrganEngine

__all__ = [
    "Canceled", "EditEngine", "EditJob", "Engine", "EngineConfigError", "ImageJob", "PreviewEngine", "Progress",
    "RealEsrganEngine", "ShouldStop", "builtin_engines",
]


def builtin_engines() -> dict[str, Engine]:
    return {"preview": PreviewEngine(), "realesrgan": RealEsrganEngine()}
