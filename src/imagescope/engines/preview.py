"""The preview engine: instant, deterministic stand-in pictures for every model.

Same job → identical pixels; another seed or prompt → another picture. Each picture
shows the prompt text, the model, seed and image index, and a "PREVIEW" label so nobody
mistakes it for a model's output.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import ImageJob, font

LABEL = "PREVIEW · imagescope"


def _rng(job: ImageJob) -> np.random.Generator:
    digest = hashlib.sha256(
        "\x00".join([job.model, job.prompt, job.negative_prompt]).encode()
    ).digest()
    return np.random.default_rng([job.seed, int.from_bytes(digest[:8], "little")])


def _background(job: ImageJob, rng: np.random.Generator) -> Image.Image:
    # A coarse grid of random colours blown up with a smooth filter: soft colour fields.
    grid = rng.integers(40, 230, size=(4, 4, 3), dtype=np.uint8)
    return Image.fromarray(grid, "RGB").resize((job.width, job.height), Image.Resampling.BICUBIC)


def _wrap(text: str, f: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """Greedy line breaking that works for both spaced (Latin) and unspaced (CJK) text."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for char in paragraph:
            if f.getlength(line + char) <= width:
                line += char
                continue
            cut = line.rfind(" ")
            if char != " " and cut > len(line) // 2:  # break at a space when one is close
                lines.append(line[:cut])
                line = line[cut + 1 :] + char
            else:
                lines.append(line)
                line = char.lstrip()
            if len(lines) > max_lines:
                break
        lines.append(line)
        if len(lines) > max_lines:
            break
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, len(lines[-1]) - 1)] + "…"
    return lines


class PreviewEngine:
    name = "preview"

    def generate(self, job: ImageJob) -> Image.Image:
        rng = _rng(job)
        image = _background(job, rng)
        draw = ImageDraw.Draw(image, "RGBA")
        w, h = job.width, job.height
        unit = min(w, h)
        pad = unit // 20

        # The label: a dark band across the top, unmistakable at any size.
        label_font = font(max(14, unit // 14))
        band = label_font.size + 2 * (pad // 2)
        draw.rectangle((0, 0, w, band), fill=(20, 20, 20, 215))
        draw.text((pad, band // 2), LABEL, font=label_font, fill=(255, 214, 10), anchor="lm")

        # The prompt, wrapped into a translucent panel.
        body_font = font(max(12, unit // 30))
        line_height = int(body_font.size * 1.35)
        info_font = font(max(10, unit // 40))
        panel_top = band + pad
        panel_bottom = h - pad - 2 * info_font.size - pad
        max_lines = max(1, (panel_bottom - panel_top - pad) // line_height)
        lines = _wrap(job.prompt, body_font, w - 4 * pad, max_lines)
        text_h = len(lines) * line_height
        draw.rectangle(
            (pad, panel_top, w - pad, panel_top + text_h + pad), fill=(0, 0, 0, 120)
        )
        for i, line in enumerate(lines):
            draw.text(
                (2 * pad, panel_top + pad // 2 + i * line_height), line, font=body_font, fill="white"
            )

        # What made this picture.
        info = f"{job.model} · seed {job.seed} · image {job.index + 1}/{job.count} · {w}*{h}"
        draw.text((pad, h - pad), info, font=info_font, fill=(255, 255, 255), anchor="ld",
                  stroke_width=max(1, info_font.size // 12), stroke_fill=(0, 0, 0))
        return image
