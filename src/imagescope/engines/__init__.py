"""Engines turn one image job into one picture. One engine per file."""

from .base import EditEngine, EditJob, Engine, ImageJob
from .preview import PreviewEngine
from .superres import RealEsrganEngine

__all__ = ["EditEngine", "EditJob", "Engine", "ImageJob", "PreviewEngine", "RealEsrganEngine", "builtin_engines"]


def builtin_engines() -> dict[str, Engine]:
    return {"preview": PreviewEngine(), "realesrgan": RealEsrganEngine()}
