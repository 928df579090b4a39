"""Pictures as yuv420p planes, the encoder's own format, so a frame is composed without a
colour conversion: each layer is converted once, then every frame is slices and blends of them.

The conversion is BT.601 in limited range, what FFmpeg's scaler assumes for an untagged
stream, so a decoder (and PyAV's ``to_ndarray``) turns the frames back into the same RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
U16 = NDArray[np.uint16]

_Y = np.array([65.481, 128.553, 24.966], dtype=np.float32) / 255
_U = np.array([-37.797, -74.203, 112.0], dtype=np.float32) / 255
_V = np.array([112.0, -93.786, -18.214], dtype=np.float32) / 255


@dataclass(frozen=True)
class Planes:
    """A picture of even width and height: full-size luma, half-size chroma."""

    y: U8
    u: U8
    v: U8

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    def window(self, top: int, left: int, height: int, width: int) -> Planes:
        """A view of the part at (top, left); both even, so the chroma stays aligned."""
        t, lf = top // 2, left // 2
        return Planes(
            self.y[top : top + height, left : left + width],
            self.u[t : t + height // 2, lf : lf + width // 2],
            self.v[t : t + height // 2, lf : lf + width // 2],
        )


def to_planes(rgb: U8) -> Planes:
    """(h, w, 3) RGB, h and w even → yuv420p planes (chroma: the mean of each 2×2 block)."""
    h, w = rgb.shape[:2]
    pixels = rgb.astype(np.float32)
    half = pixels.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    return Planes(_u8(16 + pixels @ _Y), _u8(128 + half @ _U), _u8(128 + half @ _V))


def color(red: int, green: int, blue: int) -> tuple[int, int, int]:
    """One RGB colour as (Y, U, V)."""
    rgb = np.array([red, green, blue], dtype=np.float32)
    return round(float(16 + rgb @ _Y)), round(float(128 + rgb @ _U)), round(float(128 + rgb @ _V))


def _u8(values: NDArray[np.floating[Any]]) -> U8:
    out: U8 = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out


class Frame:
    """The buffer one frame is composed in, laid out as PyAV's yuv420p ndarray: Y, then U, then V."""

    def __init__(self, width: int, height: int):
        area = width * height
        self.buffer: U8 = np.empty(area * 3 // 2, dtype=np.uint8)
        self.planes = Planes(
            self.buffer[:area].reshape(height, width),
            self.buffer[area : area * 5 // 4].reshape(height // 2, width // 2),
            self.buffer[area * 5 // 4 :].reshape(height // 2, width // 2),
        )

    def ndarray(self) -> U8:
        """The (height * 3/2, width) array ``av.VideoFrame.from_ndarray(..., "yuv420p")`` takes."""
        return self.buffer.reshape(-1, self.planes.width)

    def fill(self, source: Planes) -> None:
        for out, src in zip(self.triple, (source.y, source.u, source.v), strict=True):
            out[...] = src

    def mix(self, a: Planes, b: Planes, weight: int) -> None:
        """(a * (256 - weight) + b * weight) / 256: a cross-fade in integers (weight 0–256)."""
        for out, pa, pb in zip(self.triple, (a.y, a.u, a.v), (b.y, b.u, b.v), strict=True):
            mixed = pa.astype(np.uint16) * (256 - weight)
            mixed += pb.astype(np.uint16) * weight
            out[...] = mixed >> 8

    @property
    def triple(self) -> tuple[U8, U8, U8]:
        return self.planes.y, self.planes.u, self.planes.v


@dataclass(frozen=True)
class Overlay:
    """A translucent layer over a band of rows: premultiplied colour and 256 - alpha, per plane."""

    top: int  # even
    color: tuple[U16, U16, U16]
    keep: tuple[U16, U16, U16]

    @classmethod
    def from_rgba(cls, rgba: U8, top: int) -> Overlay:
        """(h, w, 4) RGBA rows (h even) meant to sit at row ``top`` (even) of the frame."""
        planes = to_planes(np.ascontiguousarray(rgba[..., :3]))
        h, w = rgba.shape[:2]
        alpha = rgba[..., 3].astype(np.uint16) + (rgba[..., 3] > 127)  # 0–256: opaque keeps nothing
        half = (alpha.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3)) + 2) // 4
        alphas = (alpha, half, half)
        color = tuple((p.astype(np.uint16) * a) for p, a in zip((planes.y, planes.u, planes.v), alphas, strict=True))
        keep = tuple((256 - a).astype(np.uint16) for a in alphas)
        return cls(top, (color[0], color[1], color[2]), (keep[0], keep[1], keep[2]))

    def draw(self, frame: Frame) -> None:
        for i, plane in enumerate(frame.triple):
            top = self.top if i == 0 else self.top // 2
            rows = plane[top : top + self.keep[i].shape[0]]
            mixed = rows * self.keep[i]
            mixed += self.color[i]
            rows[...] = mixed >> 8
