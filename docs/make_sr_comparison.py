"""Renders docs/images/sr-comparison.png: a photograph shrunk ×4, then enlarged ×4 again by
Lanczos and by the realesrgan engine, next to the original.

    python docs/make_sr_comparison.py

The photograph is tests/data/chelsea.png (CC0, from scikit-image's sample data).
"""

from pathlib import Path

from PIL import Image, ImageDraw

from imagescope.engines.base import font
from imagescope.engines.realesrgan import RealEsrganUpscaler

ROOT = Path(__file__).resolve().parent.parent
CROP = (100, 0, 400, 300)  # the cat's face, in full-size pixels
LABEL_HEIGHT, GAP = 34, 8


def main() -> None:
    original = Image.open(ROOT / "tests" / "data" / "chelsea.png").convert("RGB").crop((0, 0, 448, 300))
    small = original.resize((original.width // 4, original.height // 4), Image.Resampling.BOX)
    panels = [
        (
            f"input {small.width}×{small.height} (shown ×4, nearest)",
            small.resize(original.size, Image.Resampling.NEAREST),
        ),
        ("Lanczos ×4", small.resize(original.size, Image.Resampling.LANCZOS)),
        ("Real-ESRGAN x4plus ×4", RealEsrganUpscaler("photo").upscale(small, 4)),
        ("original", original),
    ]
    w, h = CROP[2] - CROP[0], CROP[3] - CROP[1]
    sheet = Image.new("RGB", (len(panels) * (w + GAP) + GAP, h + LABEL_HEIGHT + 2 * GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(panels):
        x = GAP + i * (w + GAP)
        sheet.paste(image.crop(CROP), (x, GAP))
        draw.text((x + w // 2, GAP + h + LABEL_HEIGHT // 2), label, font=font(16), fill="black", anchor="mm")
    out = ROOT / "docs" / "images" / "sr-comparison.png"
    sheet.save(out, optimize=True)
    print(out, f"{out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
