"""Renders docs/images/video-preview-sheet.png: frames of what the preview video engine makes.

    python scripts/video_preview_sheet.py

Three 832*480, 30 fps, 5 s clips (text-to-video, image-to-video from the test photograph, and
first-and-last-frame from the photograph to a flipped, recoloured copy of it), each decoded back
from its MP4 with PyAV, five frames a row at 0, 1.25, 2.5, 3.75 and 5 s (the last frame).
"""

from __future__ import annotations

import io
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageOps

from imagescope.engines.base import font
from imagescope.engines.video import PreviewVideoEngine, VideoJob

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "data" / "chelsea.png"
TILE = (320, 184)  # 832*480 scaled down; 184: even, and the aspect ratio within a pixel
GAP = 8
HEADER = 28


def frames(mp4: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(mp4)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def main() -> None:
    photo = Image.open(PHOTO).convert("RGB")
    other = ImageOps.colorize(ImageOps.mirror(photo).convert("L"), black=(10, 20, 60), white=(255, 230, 180))
    base = dict(negative_prompt="", width=832, height=480, fps=30, duration_s=5, seed=42)
    rows = [
        ("text-to-video", VideoJob("wan2.1-t2v-turbo", "一只橘猫在海滩上奔跑 an orange cat on a beach", **base)),
        ("image-to-video", VideoJob("wan2.1-i2v-turbo", "the cat turns its head", first_frame=photo, **base)),
        ("first-and-last-frame", VideoJob("wan2.1-kf2v-plus", "day turns to dusk", first_frame=photo,
                                          last_frame=other, **base)),
    ]  # fmt: skip
    engine = PreviewVideoEngine()
    columns = 5
    width = columns * TILE[0] + (columns + 1) * GAP
    sheet = Image.new("RGB", (width, len(rows) * (TILE[1] + HEADER + GAP) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (title, job) in enumerate(rows):
        decoded = frames(engine.make(job))
        top = GAP + r * (TILE[1] + HEADER + GAP)
        title = f"{title} · {job.model} · {job.width}*{job.height}, {job.fps} fps, {len(decoded)} frames"
        title += " · frames at 0, 1.25, 2.5, 3.75 and 5 s (the last)"
        draw.text((GAP, top + HEADER // 2), title, font=font(16), fill="black", anchor="lm")
        for c in range(columns):
            index = min(len(decoded) - 1, round(c * (len(decoded) - 1) / (columns - 1)))
            tile = decoded[index].resize(TILE, Image.Resampling.LANCZOS)
            left = GAP + c * (TILE[0] + GAP)
            sheet.paste(tile, (left, top + HEADER))
    out = ROOT / "docs" / "images" / "video-preview-sheet.png"
    # 256 colours, dithered (gradients would band without it): under half the bytes of full colour.
    palette = sheet.quantize(256, method=Image.Quantize.MEDIANCUT)
    sheet.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
