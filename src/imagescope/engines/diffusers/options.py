"""A diffusers engine's options: the pipeline it runs, on which weights, and how.

Checked when made, so a models file with a bad value is refused at start, before any
weights are looked at; each complaint starts with the option's name (the models file
turns it into the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imagescope.engines.base import EngineConfigError
from imagescope.engines.diffusers.fast_path import CACHES, QUANTIZE
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
    controlnet_conditioning_scale: float = 1.0  # how strongly the control image (VACE: the input clip) steers
    fps: int | None = None  # Wan video: the model's native frame rate; None: 16, or 24 for TI2V-5B (expand_timesteps)
    # The GPU fast path (fast_path.py), all off by default:
    lora: Path | str | None = None  # a local distilled-step LoRA directory (Qwen-Image-Lightning), fused
    lora_scale: float = 1.0  # the LoRA's weight when fused
    scheduler_shift: float | None = None  # the flow shift a distillation was trained at (Lightning: 3.0)
    quantize: str | None = None  # fp8: FP8 weight-only transformer (torchao)
    compile: bool = False  # torch.compile of the repeated transformer blocks (regional)
    cache: str | None = None  # first_block | taylorseer: diffusers' step caches
    cache_threshold: float | None = None  # first_block: reuse the rest of the blocks below this change (0.05)
    cache_interval: int | None = None  # taylorseer: steps between full computations (5)
    cache_warmup: int | None = None  # taylorseer: steps computed in full before caching (3)
    cfg_batch: bool = False  # true CFG's prompt and negative passes as one batched transformer call

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
        if self.fps is not None and self.fps < 1:
            raise EngineConfigError(f"fps must be at least 1, not {self.fps}")
        self._check_fast_path()
        pipeline_class(self.pipeline)

    def _check_fast_path(self) -> None:
        if self.lora is not None and self.true_cfg_scale > 1:
            raise EngineConfigError(
                f"true_cfg_scale must be at most 1 with a distilled-step lora (CFG off), not {self.true_cfg_scale}"
            )
        if not self.lora_scale > 0:
            raise EngineConfigError(f"lora_scale must be greater than 0, not {self.lora_scale}")
        if self.scheduler_shift is not None and not self.scheduler_shift > 0:
            raise EngineConfigError(f"scheduler_shift must be greater than 0, not {self.scheduler_shift}")
        if self.quantize is not None and self.quantize not in QUANTIZE:
            raise EngineConfigError(f"quantize must be one of {', '.join(QUANTIZE)}, not {self.quantize!r}")
        if self.cache is not None and self.cache not in CACHES:
            raise EngineConfigError(f"cache must be one of {', '.join(CACHES)}, not {self.cache!r}")
        if self.cache_threshold is not None and (self.cache != "first_block" or not self.cache_threshold > 0):
            raise EngineConfigError("cache_threshold must be greater than 0, with cache = first_block")
        for option in ("cache_interval", "cache_warmup"):
            value = getattr(self, option)
            if value is not None and (self.cache != "taylorseer" or value < 1):
                raise EngineConfigError(f"{option} must be at least 1, with cache = taylorseer")
