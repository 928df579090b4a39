"""The ``realesrgan`` engine: wanx2.1-imageedit's super_resolution with Real-ESRGAN on the CPU.

PyTorch and the weights load on the first task, not at server start, so a server that never
upscales never pays for them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PIL import Image

from imagescope.engines.base import EditJob, JobRefused, Progress, ShouldStop
from imagescope.tasks.spec import Function, Upscale

if TYPE_CHECKING:  # imported at first use: it brings PyTorch
    from imagescope.engines.realesrgan import RealEsrganUpscaler


class RealEsrganEngine:
    """An ``EditEngine`` for super_resolution alone; its options are the models file's.

    variant: "photo" or "anime". tile: input tile side in pixels (bounds memory).
    precision: "auto" (bfloat16 on a CPU with native bf16, float32 elsewhere), "float32" or
    "bfloat16".
    """

    name = "realesrgan"

    def __init__(self, variant: str = "photo", tile: int = 256, precision: str = "auto"):
        self.variant = variant
        self.tile = tile
        self.precision = precision
        self._upscaler: RealEsrganUpscaler | None = None
        self._lock = threading.Lock()

    def _get(self) -> RealEsrganUpscaler:
        with self._lock:
            if self._upscaler is None:
                from imagescope.engines.realesrgan import RealEsrganUpscaler

                self._upscaler = RealEsrganUpscaler(variant=self.variant, tile=self.tile, precision=self.precision)
            return self._upscaler

    def edit(
        self, job: EditJob, progress: Progress | None = None, should_stop: ShouldStop | None = None
    ) -> Image.Image:
        """Progress counts tiles (256*256 each by default); a cancel stops between tiles."""
        if job.function != Function.SUPER_RESOLUTION:
            raise JobRefused(f"the realesrgan engine only does super_resolution, not {job.function or 'edit'}")
        factor = job.options.upscale_factor if isinstance(job.options, Upscale) else 1
        return self._get().upscale(job.images[0], factor, progress, should_stop)
