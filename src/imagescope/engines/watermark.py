"""The visible watermark: the model family's text in the bottom-right corner, nowhere else."""

from __future__ import annotations

from PIL import Image, ImageDraw

from imagescope.engines.base import font


def watermark_box(width: int, height: int, text: str) -> tuple[int, int, int, int]:
    """The rectangle the watermark may touch (left, top, right, bottom)."""
    f = font(max(12, min(width, height) // 32))
    # Typed float (a stroke may be fractional); without one, whole pixels: round() keeps them.
    left, top, right, bottom = (round(v) for v in f.getbbox(text))
    margin = max(8, min(width, height) // 64)
    return (
        width - margin - (right - left) - 2,
        height - margin - (bottom - top) - 2,
        width - margin + 2,
        height - margin + 2,
    )


def apply_watermark(image: Image.Image, text: str) -> Image.Image:
    f = font(max(12, min(image.size) // 32))
    box_left, box_top, _, _ = watermark_box(*image.size, text)
    left, top, _, _ = f.getbbox(text)
    x, y = box_left + 2 - left, box_top + 2 - top
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.text((x + 1, y + 1), text, font=f, fill=(0, 0, 0, 140))  # shadow, for light backgrounds
    draw.text((x, y), text, font=f, fill=(255, 255, 255, 200))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
