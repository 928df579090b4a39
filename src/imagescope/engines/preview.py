"""The preview engine: instant, deterministic stand-in pictures for every model.

A preview is a pure function of (model, prompt, negative prompt, size, seed, inputs), as a
model's output is: same job → identical pixels; another seed or prompt → another picture.
Image i of a task is simply the picture of seed + i, so image 1 of seed 42 is image 0 of
seed 43. Each picture shows the prompt text, the model, its seed and size, and a "PREVIEW"
label so nobody mistakes it for a model's output.

A preview is on the path of every preview task (submit → SUCCEEDED → PNG downloaded), so it is
made cheap to draw and to encode: the colour field is computed at a quarter of the size
and blown up into flat 4×4 cells (a step of a couple of levels between cells, invisible, and
rows that repeat, which deflate swallows), and text is measured from cached glyph advances.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from imagescope.engines.base import EditJob, ImageJob, JobRefused, Partial, Progress, ShouldStop, font
from imagescope.tasks.spec import NO_EXPANSION, Doodle, ExpandScales, Function, Strength, VaceFunction

if TYPE_CHECKING:  # engines/video/preview.py draws with this module's label: imported where used
    from imagescope.engines.video import VideoJob

LABEL = "PREVIEW · imagescope"


def _rng(job: ImageJob) -> np.random.Generator:
    digest = hashlib.sha256("\x00".join([job.model, job.prompt, job.negative_prompt]).encode()).digest()
    return np.random.default_rng([job.seed, int.from_bytes(digest[:8], "little")])


# The colour field's cell: smooth at 1/CELL of the size, then flat CELL×CELL squares. Bicubic at
# full size cost 7 ms at 1328*1328 and its every pixel differed from its neighbours, which
# doubled the PNG encoding; the cells cost 1 ms and leave 3 rows in 4 equal to the row above.
CELL = 4


def color_field(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """Soft colour fields: a 4×4 grid of seeded colours (40–229) blown up bicubic to ``width`` x
    ``height`` (the image preview's background, its cartoon scene and the video previews' field)."""
    grid = rng.integers(40, 230, size=(4, 4, 3), dtype=np.uint8)
    return Image.fromarray(grid, "RGB").resize((width, height), Image.Resampling.BICUBIC)


def _background(job: ImageJob, rng: np.random.Generator) -> Image.Image:
    small = (-(-job.width // CELL), -(-job.height // CELL))  # rounded up: cells at the edges may be cut
    return color_field(*small, rng).resize((job.width, job.height), Image.Resampling.NEAREST)


@lru_cache(maxsize=8192)
def _advance(f: ImageFont.FreeTypeFont, char: str) -> float:
    """How far ``char`` moves the pen (fonts come from ``font``'s cache, so they are few)."""
    return f.getlength(char)


def _length(f: ImageFont.FreeTypeFont, text: str) -> float:
    """The width of ``text`` as the sum of its glyphs' advances. The bundled font's kerning only
    narrows pairs, so this is never less than Pillow's measure of the whole line: a line that
    fits here fits when drawn (tests/test_preview_engine.py pins it)."""
    return sum(_advance(f, char) for char in text)


def _wrap(text: str, f: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """Greedy line breaking that works for both spaced (Latin) and unspaced (CJK) text."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, length = "", 0.0  # length: the width of line, kept as it grows (measuring it anew is quadratic)
        for char in paragraph:
            advance = _advance(f, char)
            if length + advance <= width:
                line += char
                length += advance
                continue
            cut = line.rfind(" ")
            if char != " " and cut > len(line) // 2:  # break at a space when one is close
                lines.append(line[:cut])
                line = line[cut + 1 :] + char
            else:
                lines.append(line)
                line = char.lstrip()
            length = _length(f, line)
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
    """Every ability: a ``TextToImageEngine``, an ``EditEngine`` and an ``InterleaveEngine``, and
    the video ones (``TextToVideoEngine``, ``ImageToVideoEngine``, ``VideoEditEngine``)."""

    name = "preview"

    def generate(
        self,
        job: ImageJob,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
        partial: Partial | None = None,
    ) -> Image.Image:
        """Instant: one step, nothing to cancel half-way, no picture on the way (``partial`` unused)."""
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
        # int(): Pillow's stubs say a font's size is a float; ours are ints, so this changes nothing.
        max_lines = max(1, int(panel_bottom - panel_top - pad) // line_height)
        lines = _wrap(job.prompt, body_font, w - 4 * pad, max_lines)
        text_h = len(lines) * line_height
        draw.rectangle((pad, panel_top, w - pad, panel_top + text_h + pad), fill=(0, 0, 0, 120))
        for i, line in enumerate(lines):
            draw.text((2 * pad, panel_top + pad // 2 + i * line_height), line, font=body_font, fill="white")

        # What made this picture.
        info = f"{job.model} · seed {job.seed} · {w}*{h}"  # never the index: seed + i is the picture
        draw.text(
            (pad, h - pad),
            info,
            font=info_font,
            fill=(255, 255, 255),
            anchor="ld",
            stroke_width=max(1, info_font.size // 12),
            stroke_fill=(0, 0, 0),
        )
        return image

    # --- editing: outputs visibly made from the inputs ---------------------------------

    def edit(
        self, job: EditJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> Image.Image:
        rng = np.random.default_rng([job.seed, *_text_digest(_label(job), job.prompt)])
        draw_fn = _EDITS.get(job.function, _fuse) if job.function is not None else _fuse
        image = draw_fn(job, rng).convert("RGB")
        if image.size != (job.width, job.height):
            image = image.resize((job.width, job.height), Image.Resampling.LANCZOS)
        _caption(image, job)
        return image

    # --- interleaved text and images (wan2.6-image, enable_interleave) ------------------

    def interleave(self, prompt: str, count: int) -> list[str]:
        """The text parts of an interleaved answer: one paragraph before each of ``count``
        images (each image is then drawn from its paragraph). A preview says it is one."""
        return [f"[PREVIEW] Part {i + 1} of {count}: {prompt}" for i in range(count)]

    # --- video (engines/video/preview.py): the built-in binding serves the video models too ----

    takes_last_frame = True  # first-and-last-frame video
    functions = frozenset(VaceFunction)  # VACE: every function

    def make(self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> bytes:
        """A ``TextToVideoEngine`` and an ``ImageToVideoEngine``: the preview video engine's MP4."""
        from imagescope.engines.video.preview import PreviewVideoEngine

        return PreviewVideoEngine().make(job, progress, should_stop)

    def edit_video(
        self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> bytes:
        """A ``VideoEditEngine`` (VACE): the preview video engine's clip."""
        from imagescope.engines.video.preview import PreviewVideoEngine

        return PreviewVideoEngine().edit_video(job, progress, should_stop)


def _text_digest(*parts: str) -> tuple[int, int]:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:8], "little")


def _tint(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in rng.integers(60, 240, size=3))
    return red, green, blue


def _base(job: EditJob) -> Image.Image:
    return job.images[0].convert("RGB")


def _label(job: EditJob) -> str:
    """What the caption says was asked: the function, or "edit" (instruction editing, fusion)."""
    return job.function or "edit"


def _strength(job: EditJob) -> float:
    return job.options.strength if isinstance(job.options, Strength) else 0.5  # spec 003's default


def _stylize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A flat-colour, inked look in a seed-chosen palette."""
    poster = ImageOps.posterize(image, 2)
    edges = ImageOps.invert(image.convert("L").filter(ImageFilter.FIND_EDGES)).point(lambda v: 0 if v < 200 else 255)
    colored = ImageOps.colorize(poster.convert("L"), black=(30, 20, 40), white=_tint(rng), mid=_tint(rng))
    return Image.composite(colored, Image.new("RGB", image.size, (15, 15, 15)), edges)


def _stylization_all(job: EditJob, rng: np.random.Generator) -> Image.Image:
    base = _base(job)
    return Image.blend(base, _stylize(base, rng), _strength(job))


def _stylization_local(job: EditJob, rng: np.random.Generator) -> Image.Image:
    base = _base(job)
    w, h = base.size
    region = Image.new("L", base.size, 0)
    ImageDraw.Draw(region).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=255)
    return Image.composite(_stylize(base, rng), base, region.filter(ImageFilter.GaussianBlur(max(2, w // 60))))


def _description_edit(job: EditJob, rng: np.random.Generator) -> Image.Image:
    base = _base(job)
    return Image.blend(base, Image.new("RGB", base.size, _tint(rng)), 0.6 * _strength(job))


def _with_mask(job: EditJob, rng: np.random.Generator) -> Image.Image:
    """Inside the mask: a hatched, tinted fill; outside: the base untouched; the mask's edge drawn."""
    if job.mask is None:  # the API requires one; a caller that skipped it is answered as by diffusers
        raise JobRefused(f"{Function.DESCRIPTION_EDIT_WITH_MASK} needs a mask")
    base = _base(job)
    mask = job.mask.point(lambda v: 255 if v >= 128 else 0)
    fill = Image.blend(base, Image.new("RGB", base.size, _tint(rng)), 0.7)
    hatch = ImageDraw.Draw(fill)
    step = max(8, min(base.size) // 40)
    for x in range(-base.height, base.width, step):
        hatch.line((x, 0, x + base.height, base.height), fill=(255, 255, 255), width=max(1, step // 4))
    out = Image.composite(fill, base, mask)
    edge = mask.filter(ImageFilter.FIND_EDGES).filter(ImageFilter.MaxFilter(3))
    out.paste((255, 214, 10), (0, 0), edge)
    return out


def _remove_watermark(job: EditJob, rng: np.random.Generator) -> Image.Image:
    return _base(job).filter(ImageFilter.MedianFilter(5))


def _expand(job: EditJob, rng: np.random.Generator) -> Image.Image:
    """The base image centred on the larger canvas (placed by the four scales), the new area
    filled from a blurred stretch of it, the original's border outlined."""
    base = _base(job)
    w, h = base.size
    scales = job.options if isinstance(job.options, ExpandScales) else NO_EXPANSION
    canvas = base.resize((job.width, job.height)).filter(ImageFilter.GaussianBlur(max(4, min(w, h) // 25)))
    canvas = Image.blend(canvas, Image.new("RGB", canvas.size, _tint(rng)), 0.25)
    left = round(w * (scales.left_scale - 1) / 2)
    top = round(h * (scales.top_scale - 1) / 2)
    canvas.paste(base, (left, top))
    ImageDraw.Draw(canvas).rectangle(
        (left, top, left + w - 1, top + h - 1), outline=(255, 214, 10), width=max(2, min(w, h) // 200)
    )
    return canvas


def _super_resolution(job: EditJob, rng: np.random.Generator) -> Image.Image:
    upscaled = _base(job).resize((job.width, job.height), Image.Resampling.LANCZOS)
    return upscaled.filter(ImageFilter.UnsharpMask(radius=2, percent=120, threshold=2))


def _colorization(job: EditJob, rng: np.random.Generator) -> Image.Image:
    gray = _base(job).convert("L")
    return ImageOps.colorize(gray, black=(20, 10, 30), white=(255, 250, 235), mid=_tint(rng))


def _doodle(job: EditJob, rng: np.random.Generator) -> Image.Image:
    base = _base(job)
    sketch = isinstance(job.options, Doodle) and job.options.is_sketch
    lines = (
        base.convert("L")
        if sketch
        else ImageOps.invert(base.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: min(255, v * 4)))
    )
    # The drawing follows the input's lines, coloured in a wash of its own colours.
    paper = Image.blend(Image.new("RGB", base.size, _tint(rng)), base.filter(ImageFilter.BoxBlur(8)), 0.6)
    ink = lines.point(lambda v: 255 if v > 128 else 0)
    return Image.composite(paper, Image.new("RGB", base.size, (25, 25, 25)), ink)


def _cartoon(job: EditJob, rng: np.random.Generator) -> Image.Image:
    """A new scene (seeded colour field) with the reference character inset."""
    base = _base(job)
    field = color_field(base.width, base.height, rng)
    scene = Image.blend(field, base.filter(ImageFilter.BoxBlur(6)), 0.7)  # the input stays the larger part
    inset = ImageOps.posterize(base, 3).resize((base.width // 2, base.height // 2))
    scene.paste(inset, (base.width // 4, base.height // 3))
    return scene


def _fuse(job: EditJob, rng: np.random.Generator) -> Image.Image:
    """Instruction editing / multi-image fusion: every input as a panel, in order, numbered."""
    canvas = Image.new("RGB", (job.width, job.height), _tint(rng))
    count = len(job.images)
    panel_w = job.width // count
    label = font(max(12, min(job.width, job.height) // 24))
    draw = ImageDraw.Draw(canvas)
    for i, source in enumerate(job.images):
        panel = ImageOps.fit(source.convert("RGB"), (panel_w, job.height))
        canvas.paste(panel, (i * panel_w, 0))
        draw.text(
            (i * panel_w + 8, job.height // 2),
            f"image {i + 1}",
            font=label,
            fill=(255, 255, 255),
            anchor="lm",
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return canvas


_EDITS: dict[Function, Callable[[EditJob, np.random.Generator], Image.Image]] = {
    Function.STYLIZATION_ALL: _stylization_all,
    Function.STYLIZATION_LOCAL: _stylization_local,
    Function.DESCRIPTION_EDIT: _description_edit,
    Function.DESCRIPTION_EDIT_WITH_MASK: _with_mask,
    Function.REMOVE_WATERMARK: _remove_watermark,
    Function.EXPAND: _expand,
    Function.SUPER_RESOLUTION: _super_resolution,
    Function.COLORIZATION: _colorization,
    Function.DOODLE: _doodle,
    Function.CONTROL_CARTOON_FEATURE: _cartoon,
}


def _caption(image: Image.Image, job: EditJob) -> None:
    """The PREVIEW label and what was asked, in thin bands that leave the picture visible."""
    draw = ImageDraw.Draw(image, "RGBA")
    w, h = image.size
    unit = min(w, h)
    label_font = font(max(12, unit // 28))
    band = int(label_font.size * 1.6)
    draw.rectangle((0, 0, w, band), fill=(20, 20, 20, 200))
    draw.text((band // 3, band // 2), f"{LABEL} · {_label(job)}", font=label_font, fill=(255, 214, 10), anchor="lm")
    info_font = font(max(10, unit // 40))
    line = _wrap(job.prompt, info_font, w - band, 1)[0] if job.prompt else ""
    info = f"{job.model} · seed {job.seed} · {w}*{h}"  # never the index: seed + i is the picture
    bottom = int(info_font.size * 1.5) * (2 if line else 1)
    draw.rectangle((0, h - bottom, w, h), fill=(0, 0, 0, 150))
    if line:
        draw.text((band // 3, h - bottom), line, font=info_font, fill="white")
    draw.text((band // 3, h - 2), info, font=info_font, fill=(255, 255, 255), anchor="ld")
