"""The preview video engine: a real, labelled H.264 MP4 for every video model, on the CPU.

Like the image preview, a clip is a pure function of the job (model, prompt, negative prompt,
size, fps, duration, seed, input frames): the same job gives the same frames, and on the same
machine and PyAV build the same MP4 bytes (the encoder runs a fixed number of threads; x264 is
deterministic for a given thread count). Motion comes from the prompt and seed: the camera
drifts over a seeded colour field, soft orbs travel seeded paths, and a bar along the bottom
edge shows how far the clip has played. Text-to-video draws the label, the prompt and what made
the clip as the image preview does; image-to-video starts on the input frame (fitted to the
size) and drifts away from it; first-and-last-frame video cross-fades from the first frame to
the last, ending on it. The captions are thin bands there, so the input frames stay visible.

It must stay cheap (a 5 s 832*480 clip in well under a second of CPU per second of video:
benchmarks/bench_video_preview.py), so nothing is drawn per frame with Pillow: every layer is
drawn once and converted once to yuv420p (planes.py), then each frame is a window into a larger
background, a few small blends and the caption bands, handed to x264's fastest preset.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from imagescope.engines.base import Canceled, Progress, ShouldStop, font
from imagescope.engines.preview import LABEL, _wrap, color_field
from imagescope.engines.video.base import VideoJob
from imagescope.engines.video.mp4 import write_mp4
from imagescope.engines.video.planes import U8, U16, Frame, Overlay, Planes, color, to_planes
from imagescope.tasks.spec import VaceFunction

YELLOW = (255, 214, 10)


def _rng(job: VideoJob) -> np.random.Generator:
    digest = hashlib.sha256("\x00".join([job.model, job.prompt, job.negative_prompt]).encode()).digest()
    return np.random.default_rng([job.seed, int.from_bytes(digest[:8], "little")])


def _even(value: float) -> int:
    return 2 * int(round(value / 2))


@dataclass(frozen=True)
class _Orb:
    """A soft disc: its alpha (0–256) at full and half size, its colour, and its path."""

    alpha: tuple[U16, U16]
    color: tuple[int, int, int]
    center: tuple[float, float]  # where it circles, as fractions of (width, height)
    radius: tuple[float, float]  # how far it swings, as fractions of (width, height)
    speed: tuple[float, float]  # cycles per second, horizontally and vertically
    phase: tuple[float, float]


def _orbs(job: VideoJob, rng: np.random.Generator) -> list[_Orb]:
    orbs = []
    unit = min(job.width, job.height)
    for _ in range(int(rng.integers(3, 6))):
        size = max(4, _even(unit * rng.uniform(0.12, 0.3)))
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
        distance = np.hypot(axis[None, :], axis[:, None])
        alpha = (np.clip(1 - distance, 0, 1) ** 0.7 * 200).astype(np.uint16)  # soft edge, never opaque
        half = (alpha.reshape(size // 2, 2, size // 2, 2).sum(axis=(1, 3)) // 4).astype(np.uint16)
        red, green, blue = (int(v) for v in rng.integers(40, 256, size=3))
        orbs.append(
            _Orb(
                alpha=(alpha, half),
                color=color(red, green, blue),
                center=(float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.3, 0.7))),
                radius=(float(rng.uniform(0.1, 0.35)), float(rng.uniform(0.1, 0.3))),
                speed=(float(rng.uniform(0.08, 0.3)), float(rng.uniform(0.08, 0.3))),
                phase=(float(rng.uniform(0, 1)), float(rng.uniform(0, 1))),
            )
        )
    return orbs


def _draw_orb(frame: Frame, orb: _Orb, seconds: float, strength: int) -> None:
    """Blend ``orb`` where its path puts it at ``seconds``; ``strength`` 0–256 scales its alpha."""
    width, height = frame.planes.width, frame.planes.height
    size = orb.alpha[0].shape[0]
    x = width * (orb.center[0] + orb.radius[0] * math.sin(2 * math.pi * (orb.speed[0] * seconds + orb.phase[0])))
    y = height * (orb.center[1] + orb.radius[1] * math.sin(2 * math.pi * (orb.speed[1] * seconds + orb.phase[1])))
    top, left = _even(y - size / 2), _even(x - size / 2)
    for i, plane in enumerate(frame.triple):
        scale = 1 if i == 0 else 2
        mask = orb.alpha[0 if i == 0 else 1]
        t, lf = top // scale, left // scale
        t0, l0 = max(t, 0), max(lf, 0)
        t1, l1 = min(t + mask.shape[0], plane.shape[0]), min(lf + mask.shape[1], plane.shape[1])
        if t0 >= t1 or l0 >= l1:
            return
        part = mask[t0 - t : t1 - t, l0 - lf : l1 - lf]
        if strength < 256:
            part = ((part * strength) >> 8).astype(np.uint16)
        rows = plane[t0:t1, l0:l1]
        mixed = rows * (256 - part)
        mixed += part * orb.color[i]
        rows[...] = mixed >> 8


def _fit(image: Image.Image, job: VideoJob) -> U8:
    """An input frame resized and centre-cropped to the output size (as the model would see it)."""
    fitted = ImageOps.fit(image.convert("RGB"), (job.width, job.height), Image.Resampling.LANCZOS)
    return np.asarray(fitted, dtype=np.uint8)


def _field(width: int, height: int, rng: np.random.Generator) -> Planes:
    """Soft colour fields, as the image preview's background: a 4×4 grid of seeded colours, smoothed."""
    return to_planes(np.asarray(color_field(width, height, rng), dtype=np.uint8))


def _canvas(rgb: U8, margin: int) -> Planes:
    """The picture with ``margin`` pixels of its own edge around it: room for the camera to drift."""
    return to_planes(np.pad(rgb, ((margin, margin), (margin, margin), (0, 0)), mode="edge"))


def _captions(job: VideoJob, compact: bool) -> list[Overlay]:
    """The label, the prompt and what made the clip, drawn once, as bands of translucent rows."""
    w, h = job.width, job.height
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    unit = min(w, h)
    info = f"{job.model} · seed {job.seed} · {w}*{h} · {job.fps} fps · {job.duration_s:g} s"
    if compact:  # i2v / kf2v: thin bands, as the image preview captions its edits
        label_font = font(max(12, unit // 28))
        band = int(label_font.size * 1.6)
        kind = "kf2v" if job.last_frame is not None else "i2v"
        draw.rectangle((0, 0, w, band), fill=(20, 20, 20, 200))
        draw.text((band // 3, band // 2), f"{LABEL} · {kind}", font=label_font, fill=YELLOW, anchor="lm")
        info_font = font(max(10, unit // 40))
        line = _wrap(job.prompt, info_font, w - band, 1)[0] if job.prompt else ""
        bottom = int(info_font.size * 1.5) * (2 if line else 1)
        draw.rectangle((0, h - bottom, w, h), fill=(0, 0, 0, 150))
        if line:
            draw.text((band // 3, h - bottom), line, font=info_font, fill="white")
        draw.text((band // 3, h - 2), info, font=info_font, fill="white", anchor="ld")
    else:  # t2v: the image preview's layout
        pad = unit // 20
        label_font = font(max(14, unit // 14))
        band = int(label_font.size) + 2 * (pad // 2)
        draw.rectangle((0, 0, w, band), fill=(20, 20, 20, 215))
        draw.text((pad, band // 2), LABEL, font=label_font, fill=YELLOW, anchor="lm")
        body_font = font(max(12, unit // 30))
        line_height = int(body_font.size * 1.35)
        info_font = font(max(10, unit // 40))
        panel_top = band + pad
        panel_bottom = h - pad - 2 * int(info_font.size) - pad
        lines = _wrap(job.prompt, body_font, w - 4 * pad, max(1, (panel_bottom - panel_top - pad) // line_height))
        draw.rectangle((pad, panel_top, w - pad, panel_top + len(lines) * line_height + pad), fill=(0, 0, 0, 120))
        for i, text in enumerate(lines):
            draw.text((2 * pad, panel_top + pad // 2 + i * line_height), text, font=body_font, fill="white")
        stroke = max(1, int(info_font.size) // 12)
        draw.text(
            (pad, h - pad), info, font=info_font, fill="white", anchor="ld", stroke_width=stroke, stroke_fill="black"
        )
    if job.watermark:  # the hosted mark ("AI-generated"), bottom right, above the progress bar
        mark_font = font(max(12, unit // 24))
        edge = max(4, unit // 30)
        draw.text((w - edge, h - edge), job.watermark, font=mark_font, fill=(255, 255, 255, 220), anchor="rd")
    return _bands(np.asarray(layer, dtype=np.uint8))


def _bands(rgba: U8) -> list[Overlay]:
    """The runs of rows that hold any paint (rounded out to even rows), one overlay each."""
    painted = (rgba[..., 3] > 0).reshape(-1, 2).any(axis=1)  # per pair of rows
    edges = np.flatnonzero(np.diff(np.concatenate([[0], painted.astype(np.int8), [0]])))
    return [Overlay.from_rgba(rgba[2 * a : 2 * b], 2 * a) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class _Clip:
    """Everything drawn once for a job; ``draw(i)`` composes frame i from it."""

    def __init__(self, job: VideoJob):
        rng = _rng(job)
        self.job = job
        self.total = job.frames
        self.frame = Frame(job.width, job.height)
        self.margin = max(2, _even(min(job.width, job.height) * 0.08))
        angle = rng.uniform(0, 2 * math.pi)
        self.direction = (math.cos(angle), math.sin(angle))  # where the camera drifts
        self.speed = float(rng.uniform(0.08, 0.2))  # cycles per second of the text-to-video pan
        if job.first_frame is None:
            self.start = _field(job.width + 2 * self.margin, job.height + 2 * self.margin, rng)
        else:
            self.start = _canvas(_fit(job.first_frame, job), self.margin)
        self.end = None if job.last_frame is None else _canvas(_fit(job.last_frame, job), self.margin)
        self.orbs = _orbs(job, rng)
        self.captions = _captions(job, compact=job.first_frame is not None)
        self.bar = max(2, _even(min(job.width, job.height) / 90))
        self.bar_color = color(*YELLOW)

    def _window(self, canvas: Planes, reach: float) -> Planes:
        """The frame-sized view ``reach`` (−1 to 1) of the margin along the drift direction."""
        m = self.margin
        top, left = _even(m + reach * m * self.direction[1]), _even(m + reach * m * self.direction[0])
        return canvas.window(top, left, self.job.height, self.job.width)

    def draw(self, index: int) -> U8:
        progress = index / max(1, self.total - 1)  # 0 on the first frame, 1 on the last
        seconds = index / self.job.fps
        if self.job.first_frame is None:  # text-to-video: the camera sways over the colour field
            self.frame.fill(self._window(self.start, math.sin(2 * math.pi * self.speed * seconds)))
            strength = 256
        elif self.end is None:  # image-to-video: from the input frame, drifting away from it
            self.frame.fill(self._window(self.start, progress * progress * (3 - 2 * progress)))
            strength = round(256 * min(1.0, 4 * progress))  # the orbs fade in: frame 0 is the input
        else:  # first-and-last-frame: both drift and cross-fade; the ends are the inputs exactly
            swing = 0.5 * math.sin(math.pi * progress)
            weight = round(256 * progress * progress * (3 - 2 * progress))
            self.frame.mix(self._window(self.start, swing), self._window(self.end, -swing), weight)
            strength = round(256 * math.sin(math.pi * progress))
        if strength:
            for orb in self.orbs:
                _draw_orb(self.frame, orb, seconds, strength)
        for caption in self.captions:
            caption.draw(self.frame)
        played = _even(self.job.width * (index + 1) / self.total)
        for i, (plane, value) in enumerate(zip(self.frame.triple, self.bar_color, strict=True)):
            scale = 1 if i == 0 else 2  # the chroma planes are half the size
            plane[plane.shape[0] - self.bar // scale :, : played // scale] = value
        return self.frame.ndarray()


class PreviewVideoEngine:
    """A ``TextToVideoEngine``, an ``ImageToVideoEngine`` (first-and-last-frame too) and a
    ``VideoEditEngine`` (VACE: every function, vace.py)."""

    name = "preview"
    takes_last_frame = True
    functions = frozenset(VaceFunction)

    def make(self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> bytes:
        clip = _Clip(job)
        return write_mp4(frames_of(job, clip.draw, should_stop), job.width, job.height, job.fps, _after(job, progress))

    def edit_video(
        self, job: VideoJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> bytes:
        from imagescope.engines.video.vace import VaceClip  # vace.py draws with this module's parts

        clip = VaceClip(job)
        return write_mp4(frames_of(job, clip.frame, should_stop), job.width, job.height, job.fps, _after(job, progress))


def frames_of(job: VideoJob, draw: Callable[[int], U8], should_stop: ShouldStop | None) -> Iterator[U8]:
    """``draw(i)`` for each frame of ``job``, as the encoder asks; ``Canceled`` between two when
    ``should_stop()`` says so."""
    for index in range(job.frames):
        if should_stop is not None and should_stop():
            raise Canceled()
        yield draw(index)


def _after(job: VideoJob, progress: Progress | None) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress  # narrowed, for the closure
    return lambda done: report(done, job.frames)
