"""A diffusers engine's options: the pipeline it runs, on which weights, and how.

Checked when made, so a models file with a bad value is refused at start, before any
weights are looked at; each complaint starts with the option's name (the models file
turns it into the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imagescope.engines.base import EngineConfigError
from imagescope.engines.diffusers.weights import DTYPES, pipeline_class


@dataclass(frozen=True)
class DiffusersOptions:
    weights: Path | str  # a local diffusers directory with model_index.json
    pipeline: str = "QwenImagePipeline"  # a diffusers pipeline class name
    dtype: str = "bf16"  # bf16 | fp16 | fp32
    device: str = "auto"  # auto (cuda when there is one) | cuda | cuda:N | cpu
    steps: int = 50  # at least 2 for Qwen-Image: its schedule (shift_terminal) has no 1-step form
    true_cfg_scale: float = 4.0  # > 1: classifier-free guidance with the negative prompt
    guidance_scale: float | None = None  # guidance-distilled models; Wan's CFG scale
    strength: float = 0.6  # img2img / inpaint, when the EditJob names none
    controlnet: Path | str | None = None  # a local diffusers ControlNet model directory (config.json)
    controlnet_conditioning_scale: float = 1.0  # how strongly the control image steers the picture

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise EngineConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise EngineConfigError(f"device must be auto, cpu, cuda or cuda:N, not {self.device!r}")
        if self.steps < 2:  # Qwen-Image's schedule (shift_terminal) gives NaN sigmas at one step
            raise EngineConfigError(f"steps must be at least 2, not {self.steps}")
        if not 0 < self.strength <= 1:
            raise EngineConfigError(f"strength must be in (0, 1], not {self.strength}")
        if not self.controlnet_conditioning_scale > 0:
            raise EngineConfigError(
                f"controlnet_conditioning_scale must be greater than 0, not {self.controlnet_conditioning_scale}"
            )
        pipeline_class(self.pipeline)
