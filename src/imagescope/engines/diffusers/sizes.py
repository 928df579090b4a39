"""Sizes of the diffusers pipelines: they work in 16-pixel steps (8x VAE, 2x2 latent patches)
and round other sizes down, so the engines ask for the size rounded *up* and centre-crop the
result (``fit``), and pad a picture to repaint to that size first (``pad``, the inverse)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps


def size_step(pipe: Any) -> int:
    """The pixel step of the pipeline's sizes: the VAE's scale times the 2x2 latent patches."""
    spatial = getattr(pipe, "vae_scale_factor_spatial", None)  # video pipelines (Wan) also scale time
    scale = spatial if spatial else getattr(pipe, "vae_scale_factor", 8)
    return 2 * int(scale)


def round_up(size: int, step: int) -> int:
    return -(-size // step) * step


def fit(image: Image.Image, width: int, height: int, step: int = 1) -> Image.Image:
    """Exactly width x height: a centre crop when ``image`` is at most a size step larger,
    else scaled to cover and centre-cropped (aspect kept)."""
    if image.size == (width, height):
        return image
    if width <= image.width < width + step and height <= image.height < height + step:
        left, top = (image.width - width) // 2, (image.height - height) // 2
        return image.crop((left, top, left + width, top + height))
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)


def pad(image: Image.Image, width: int, height: int, fill: int | Literal["edge"]) -> Image.Image:
    """``image`` centred on a width x height canvas (the inverse of ``fit``'s crop)."""
    if image.size == (width, height):
        return image
    left, top = (width - image.width) // 2, (height - image.height) // 2
    pixels = np.asarray(image)
    widths = [(top, height - image.height - top), (left, width - image.width - left)]
    widths += [(0, 0)] * (pixels.ndim - 2)
    if fill == "edge":
        padded = np.pad(pixels, widths, mode="edge")
    else:
        padded = np.pad(pixels, widths, mode="constant", constant_values=fill)
    return Image.fromarray(padded, image.mode)
