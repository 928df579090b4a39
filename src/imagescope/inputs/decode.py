"""From bytes to a checked, decoded image: format sniffed from the content, pixel dimensions
read from the header and checked before any pixel is decoded (the decompression-bomb guard)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from imagescope.inputs import errors

MB = 1024 * 1024
FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF")


@dataclass(frozen=True)
class ImageRules:
    """What a model accepts as an input image (the caller's per-model bounds).

    ``max_pixels`` None: ``max_side ** 2``. ``formats``: Pillow format names, out of ``FORMATS``.
    """

    min_side: int
    max_side: int
    max_bytes: int = 10 * MB
    max_pixels: int | None = None
    formats: tuple[str, ...] = field(default=FORMATS)

    @property
    def pixel_limit(self) -> int:
        return self.max_pixels if self.max_pixels is not None else self.max_side**2


@dataclass(frozen=True)
class InputImage:
    data: bytes  # the bytes as fetched
    image: Image.Image  # decoded, first frame, EXIF orientation applied, in the mode asked for
    format: str  # JPEG, PNG, BMP, TIFF, WEBP or GIF
    width: int
    height: int
    has_alpha: bool  # the source had transparency (flattened unless mode "RGBA" was asked)


def sniff_format(data: bytes) -> str | None:
    """The image format from the magic bytes; the URL, file name or MIME type are not trusted."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, rules: ImageRules, mode: str = "RGB") -> InputImage:
    """``mode``: "RGB" (alpha flattened onto white), "RGBA", or "L" (masks)."""
    if len(data) > rules.max_bytes:
        raise errors.image_too_large(len(data), rules.max_bytes)
    fmt = sniff_format(data)
    if fmt is None:
        raise errors.not_an_image(rules.formats)
    if fmt not in rules.formats:
        raise errors.format_unsupported(fmt, rules.formats)
    try:
        # Only the sniffed format's plugin parses the bytes; open() reads the header alone.
        image: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise errors.image_too_many_pixels(None, None, rules.pixel_limit) from None
    except Exception:  # Pillow's plugins raise anything from SyntaxError to struct.error
        raise errors.image_corrupt() from None
    width, height = image.size
    if not (rules.min_side <= min(width, height) and max(width, height) <= rules.max_side):
        raise errors.image_side_out_of_range(width, height, rules.min_side, rules.max_side)
    if width * height > rules.pixel_limit:
        raise errors.image_too_many_pixels(width, height, rules.pixel_limit)
    try:
        image.seek(0)  # animated GIF / WEBP, multi-page TIFF: the first frame
        image.load()
    except Image.DecompressionBombError:
        raise errors.image_too_many_pixels(width, height, rules.pixel_limit) from None
    except Exception:
        raise errors.image_corrupt() from None
    try:
        ImageOps.exif_transpose(image, in_place=True)  # phone photos: upright, as viewers show
    except Exception:
        pass  # a broken EXIF block does not make a broken image
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    image = _to_mode(image, mode, has_alpha)
    return InputImage(data, image, fmt, image.width, image.height, has_alpha)


def _to_mode(image: Image.Image, mode: str, has_alpha: bool) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_8bit(image)
    if mode == "RGB" and has_alpha:
        # A transparent pixel's colour is arbitrary (often black); what a viewer shows, and so
        # what the user meant, is the image over a light page.
        over = Image.new("RGBA", image.size, (255, 255, 255, 255))
        over.alpha_composite(image.convert("RGBA"))
        image = over
    return image if image.mode == mode else image.convert(mode)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale (PNG, TIFF), which Pillow cannot convert to RGB itself."""
    values = np.asarray(image, dtype=np.float64)
    peak = float(values.max()) if values.size else 0.0
    if image.mode == "F" and peak <= 1.0:
        values = values * 255
    elif image.mode.startswith("I;16") or peak > 255:
        values = values / 257
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
