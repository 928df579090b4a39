"""The preview engine's VACE clips: cheap, labelled stand-ins built from the job's inputs.

Each function shows what it would do to its inputs, plainly and fast (no model):
- image_reference: the "bg" reference (or a seeded colour field) as the scene, the "obj"
  references drifting across it;
- video_repainting: the input clip, posterized and tinted by the seed, as much as ``strength``;
- video_edit: the input clip with its masked area (mask image, or a mask per frame) painted over;
- video_extension: the first clip (or first frame) played, then a cross-fade into the last
  frame (or last clip, or the seeded field);
- video_outpainting: the input clip shrunk into the centre of the canvas by the four scales,
  the border its own edge pixels, darkened.
A band across the top says ``PREVIEW · vace · <function>``. The input clip is stretched or cut
to the output's frame count (the model's 5 s at 30 fps). Frames are drawn in RGB with numpy (each
input frame fitted once) and converted by FFmpeg's scaler: a 5 s 1280*720 clip in about a second of CPU.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from imagescope.engines.base import font
from imagescope.engines.preview import LABEL, color_field
from imagescope.engines.video.base import VideoJob
from imagescope.engines.video.mp4 import rgb_frame
from imagescope.engines.video.planes import U8, U16
from imagescope.engines.video.preview import YELLOW, _rng
from imagescope.tasks.spec import VaceFunction, VaceOptions


def _fit(image: Image.Image, width: int, height: int) -> U8:
    fitted = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.BILINEAR)
    return np.asarray(fitted, dtype=np.uint8)


class VaceClip:
    """Everything drawn once for a VACE job; ``frame(i)`` gives output frame i."""

    def __init__(self, job: VideoJob):
        assert job.function is not None  # a VACE job (VideoEngine.edit_video's contract)
        self.job, self.function = job, job.function
        self.options = job.vace or VaceOptions()
        rng = _rng(job)
        w, h = job.width, job.height
        self.field = np.asarray(color_field(w, h, rng), dtype=np.uint8)
        self.tint = rng.integers(60, 255, size=3).astype(np.uint16)
        self.drift = [(float(rng.uniform(0, 1)), float(rng.uniform(0.2, 0.6))) for _ in range(3)]
        # The last input frame (and mask, and drawn frame) used: output frames come in order, so
        # consecutive ones share them when the clip is slower than the output.
        self._fitted: dict[int, U8] = {}
        self._masks: dict[int, U8] = {}
        self._drawn: dict[tuple[int, int], U8] = {}
        self.references = [_fit(image, w, h) for image in job.reference_images]
        self.objects = [
            np.asarray(ImageOps.contain(image.convert("RGB"), (w // 3, h // 3)), dtype=np.uint8)
            for image, role in zip(job.reference_images, self._roles(), strict=True)
            if role == "obj"
        ]
        self.last = _fit(job.last_frame, w, h) if job.last_frame is not None else None
        self.first = _fit(job.first_frame, w, h) if job.first_frame is not None else None
        band = self._band()
        alpha = band[..., 3:4].astype(np.uint16)
        # The band over a frame's top rows: (paint + row * keep) // 255, in 16 bits (at most 255 * 255).
        self.band_paint: U16 = band[..., :3] * alpha
        self.band_keep: U16 = 255 - alpha

    def _roles(self) -> tuple[str, ...]:
        roles = self.options.obj_or_bg
        return roles if len(roles) == len(self.job.reference_images) else ("obj",) * len(self.job.reference_images)

    def _band(self) -> U8:
        """The label band, RGBA."""
        w = self.job.width
        label_font = font(max(14, min(w, self.job.height) // 26))
        band = int(label_font.size * 1.6)
        layer = Image.new("RGBA", (w, band), (20, 20, 20, 200))
        draw = ImageDraw.Draw(layer)
        text = f"{LABEL} · vace · {self.function.value}"
        draw.text((band // 3, band // 2), text, font=label_font, fill=YELLOW, anchor="lm")
        if self.job.watermark:
            draw.text((w - band // 3, band // 2), self.job.watermark, font=label_font, fill="white", anchor="rm")
        return np.asarray(layer, dtype=np.uint8)

    def _clip_frame(self, index: int) -> U8:
        """Input clip frame for output frame ``index`` (the clip stretched or cut to the output)."""
        clip = self.job.video
        source = self._source(index, len(clip))
        if source not in self._fitted:
            self._fitted = {source: _fit(clip[source], self.job.width, self.job.height)}
        return self._fitted[source]

    def _mask(self, index: int) -> U8:
        """1 inside the mask (white) for output frame ``index``, else 0; (h, w, 1)."""
        masks = self.job.mask
        source = self._source(index, len(masks))
        if source not in self._masks:
            fitted = ImageOps.fit(masks[source].convert("L"), (self.job.width, self.job.height))
            self._masks = {source: (np.asarray(fitted) >= 128).astype(np.uint8)[..., None]}
        return self._masks[source]

    def _source(self, index: int, frames: int) -> int:
        return min(frames - 1, index * frames // self.job.frames)

    def frame(self, index: int) -> U8:
        """Output frame ``index`` as ``write_mp4`` takes it (yuv420p)."""
        progress = index / max(1, self.job.frames - 1)
        rgb = self._drawn_from_clip(index)
        if rgb is None:
            rgb = self._draw(index, progress)
        rows = self.band_paint.shape[0]
        rgb[:rows] = ((self.band_paint + rgb[:rows].astype(np.uint16) * self.band_keep) // 255).astype(np.uint8)
        bar = max(2, self.job.height // 90)
        rgb[-bar:, : max(1, round(self.job.width * (index + 1) / self.job.frames))] = YELLOW
        # FFmpeg's scaler (mp4.rgb_frame): the frames here are RGB through and through.
        return rgb_frame(rgb)

    def _drawn_from_clip(self, index: int) -> U8 | None:
        """Repainting, editing and outpainting draw from the clip (and mask) frame alone: a copy of
        the last drawing while those stay the same; None for the other functions."""
        clip_only = (VaceFunction.VIDEO_REPAINTING, VaceFunction.VIDEO_EDIT, VaceFunction.VIDEO_OUTPAINTING)
        if self.function not in clip_only:
            return None
        key = (self._source(index, len(self.job.video)), self._source(index, max(1, len(self.job.mask))))
        if key not in self._drawn:
            self._drawn = {key: self._draw(index, 0.0)}
        return self._drawn[key].copy()

    def _draw(self, index: int, progress: float) -> U8:
        o, f = self.options, self.function
        if f is VaceFunction.IMAGE_REFERENCE:
            return self._scene(progress)
        if f is VaceFunction.VIDEO_REPAINTING:
            frame = self._clip_frame(index).astype(np.uint16)
            painted = ((frame // 64) * 64 + 32) * self.tint // 255
            weight = round(256 * o.strength)
            return ((painted * weight + frame * (256 - weight)) >> 8).astype(np.uint8)
        if f is VaceFunction.VIDEO_EDIT:
            frame = self._clip_frame(index).astype(np.uint16)
            inside = self._mask(index).astype(np.uint16)
            edited = (frame * 64 + self.field.astype(np.uint16) * 192) >> 8
            return (edited * inside + frame * (1 - inside)).astype(np.uint8)
        if f is VaceFunction.VIDEO_OUTPAINTING:
            return self._outpaint(self._clip_frame(index))
        return self._extend(index, progress)

    def _scene(self, progress: float) -> U8:
        roles = self._roles()
        backgrounds = [ref for ref, role in zip(self.references, roles, strict=True) if role == "bg"]
        rgb = (backgrounds[0] if backgrounds else self.field).copy()
        h, w = rgb.shape[:2]
        for (phase, height), picture in zip(self.drift, self.objects, strict=False):
            ph, pw = picture.shape[:2]
            x = round((w - pw) * (0.5 + 0.5 * math.sin(2 * math.pi * (phase + 0.3 * progress))))
            y = round((h - ph) * height)
            rgb[y : y + ph, x : x + pw] = picture
        return rgb

    def _outpaint(self, frame: U8) -> U8:
        o = self.options
        h, w = frame.shape[:2]
        inner_w = max(2, round(w * 2 / (o.left_scale + o.right_scale)))
        inner_h = max(2, round(h * 2 / (o.top_scale + o.bottom_scale)))
        left = round((w - inner_w) * (o.left_scale - 1) / max(1e-6, o.left_scale + o.right_scale - 2))
        top = round((h - inner_h) * (o.top_scale - 1) / max(1e-6, o.top_scale + o.bottom_scale - 2))
        inner = np.asarray(Image.fromarray(frame).resize((inner_w, inner_h), Image.Resampling.BILINEAR))
        padded = np.pad(inner, ((top, h - inner_h - top), (left, w - inner_w - left), (0, 0)), mode="edge")
        darker = (padded.astype(np.uint16) * 160 >> 8).astype(np.uint8)
        darker[top : top + inner_h, left : left + inner_w] = inner
        return darker

    def _extend(self, index: int, progress: float) -> U8:
        """video_extension: the given start played or held, then a cross-fade into the end."""
        if self.job.video and self.first is None:
            start = self._clip_frame(min(index, self.job.frames // 2) * 2)  # the clip at double speed, then held
        else:
            start = self.first if self.first is not None else self.field
        end = self.last if self.last is not None else self.field
        weight = round(256 * max(0.0, progress - 0.5) * 2)
        mixed = (start.astype(np.uint16) * (256 - weight) + end.astype(np.uint16) * weight) >> 8
        return mixed.astype(np.uint8)
