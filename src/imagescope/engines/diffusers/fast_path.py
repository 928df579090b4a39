"""The GPU fast path of a diffusers engine: what the models file may switch on, applied once
when the weights are loaded (:func:`apply_fast_path`) or around each call (:func:`batched_guidance`).

    lora = "/models/Qwen-Image-Lightning-8steps"   # a distilled-step LoRA, fused into the transformer
    scheduler_shift = 3.0                           # the shift it was distilled with (Lightning: 3)
    quantize = "fp8"                                # FP8 weight-only transformer (torchao)
    compile = true                                  # torch.compile of the repeated transformer blocks
    cache = "first_block"                           # diffusers' step caches: first_block | taylorseer
    cfg_batch = true                                # true CFG's two passes in one batched call

Why each is a choice, not a default: a LoRA and its scheduler change the pictures; FP8 changes
them a little and needs torchao; compiling costs minutes at start; the caches trade fidelity
for speed by a threshold; batching CFG doubles the transformer's activations. Each changes the
modules in memory, so engines differing in any of them load their own copy
(:func:`fast_path_key`).

Order at load: the scheduler, the LoRA (fused, then its adapter layers dropped: the fused
weights stay, the step costs nothing extra), the device, FP8 (after the fuse: FP8 weights
cannot take a LoRA's delta), the cache hooks, then compilation of the blocks as they will run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from imagescope.engines.base import EngineConfigError

if TYPE_CHECKING:
    from imagescope.engines.diffusers.options import DiffusersOptions

QUANTIZE = ("fp8",)
CACHES = ("first_block", "taylorseer")
# Pipelines whose denoising loop calls the transformer for the prompt then the negative prompt
# with the same keyword arguments (QwenImagePipeline's loop), so the two calls can be one.
CFG_BATCH_PIPELINES = ("QwenImagePipeline", "QwenImageImg2ImgPipeline", "QwenImageInpaintPipeline")
MAX_SEQUENCE_LENGTH = 512  # QwenImagePipeline.__call__'s default: prompt embeddings are cut to it


def fast_path_key(options: DiffusersOptions) -> str:
    """What sets an engine's modules apart from another's on the same weights ('' for none)."""
    parts = {
        "lora": str(Path(options.lora).expanduser().resolve()) if options.lora is not None else None,
        "lora_scale": options.lora_scale if options.lora is not None else None,
        "scheduler_shift": options.scheduler_shift,
        "quantize": options.quantize,
        "compile": options.compile or None,
        "cache": options.cache,
        "cache_threshold": options.cache_threshold,
        "cache_interval": options.cache_interval,
        "cache_warmup": options.cache_warmup,
    }
    return ",".join(f"{name}={value}" for name, value in parts.items() if value is not None)


def check_lora(name: str, directory: Path) -> None:
    """A clear error for a missing LoRA directory, before diffusers' own."""
    if not directory.is_dir():
        raise EngineConfigError(f"{name} lora not found: {directory}")
    if not any(directory.glob("*.safetensors")):
        raise EngineConfigError(f"{name} lora incomplete: {directory} has no *.safetensors")


def apply_scheduler(pipe: Any, options: DiffusersOptions) -> None:
    """A distillation's scheduler: the shift it was trained at, fixed for every image size
    (base and max shift both log(shift)), no terminal stretch (Qwen-Image-Lightning's settings)."""
    if options.scheduler_shift is None:
        return
    shift = math.log(options.scheduler_shift)
    pipe.scheduler = type(pipe.scheduler).from_config(
        pipe.scheduler.config, base_shift=shift, max_shift=shift, shift_terminal=None, use_dynamic_shifting=True
    )


def apply_lora(name: str, pipe: Any, options: DiffusersOptions) -> None:
    """Load the LoRA, fuse it into the transformer at ``lora_scale``, and drop the adapter layers."""
    if options.lora is None:
        return
    directory = Path(options.lora).expanduser()
    check_lora(name, directory)
    try:
        pipe.load_lora_weights(str(directory), adapter_name="fast_path")
        pipe.fuse_lora(lora_scale=options.lora_scale)
        pipe.unload_lora_weights()
    except Exception as exc:  # no peft, a LoRA for another transformer, a broken file
        raise EngineConfigError(f"{name}: cannot load the lora in {directory}: {exc}") from exc


def apply_quantization(name: str, pipe: Any, options: DiffusersOptions) -> None:
    """FP8 (e4m3) weights, bf16 activations: torchao's weight-only config on the transformer's linears."""
    if options.quantize is None:
        return
    try:
        from torchao.quantization import Float8WeightOnlyConfig, quantize_  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EngineConfigError(f"{name}: quantize = 'fp8' needs torchao: pip install 'imagescope[diffusers]'") from exc
    quantize_(pipe.transformer, Float8WeightOnlyConfig())


def apply_cache(name: str, pipe: Any, options: DiffusersOptions) -> None:
    """diffusers' own step cache on the transformer, with the models file's settings."""
    if options.cache is None:
        return
    if not hasattr(pipe.transformer, "enable_cache"):  # diffusers' CacheMixin: not every transformer has it
        raise EngineConfigError(f"{name}: diffusers has no step caches for {type(pipe.transformer).__name__}")
    if options.cache == "first_block" and _block_count(pipe.transformer) < 2:
        raise EngineConfigError(f"{name}: cache = 'first_block' needs a transformer of at least 2 blocks")
    import diffusers

    settings: dict[str, Any] = {}
    if options.cache == "first_block":
        config_class: Any = diffusers.FirstBlockCacheConfig
        if options.cache_threshold is not None:
            settings["threshold"] = options.cache_threshold
    else:
        config_class = diffusers.TaylorSeerCacheConfig
        settings["taylor_factors_dtype"] = pipe.transformer.dtype
        if options.cache_interval is not None:
            settings["cache_interval"] = options.cache_interval
        if options.cache_warmup is not None:
            settings["disable_cache_before_step"] = options.cache_warmup
    pipe.transformer.enable_cache(config_class(**settings))


def _block_count(transformer: Any) -> int:
    """How many repeated blocks a transformer has: Qwen-Image's ``transformer_blocks``, Wan's
    ``blocks``, Z-Image's ``layers``."""
    for attribute in ("transformer_blocks", "blocks", "layers"):
        blocks = getattr(transformer, attribute, None)
        if blocks is not None:
            return len(blocks)
    return 0


def apply_compile(pipe: Any, options: DiffusersOptions) -> None:
    """Regional compilation: each repeated block compiled once, reused for all 60 of Qwen-Image's.
    Whole graphs unless a cache's hooks sit on the blocks (they branch on the cache's state)."""
    if options.compile:
        pipe.transformer.compile_repeated_blocks(fullgraph=options.cache is None)


def apply_fast_path(name: str, pipe: Any, options: DiffusersOptions, device: torch.device) -> Any:
    """The loaded pipeline with the options' fast path applied, on ``device``."""
    apply_scheduler(pipe, options)
    apply_lora(name, pipe, options)
    pipe = pipe.to(device)
    apply_quantization(name, pipe, options)
    apply_cache(name, pipe, options)
    apply_compile(pipe, options)
    return pipe


# --- CFG in one batch ---------------------------------------------------------------------


@contextmanager
def batched_guidance(pipe: Any, args: dict[str, Any], enabled: bool) -> Iterator[None]:
    """Around one pipeline call with ``args``: true CFG's two transformer passes per step as one
    call on a batch of two (prompt, negative prompt), where the pipeline's loop allows it.

    The negative prompt is encoded here and given to the pipeline as embeddings (so it is
    encoded once); the transformer's forward is wrapped for the call: the prompt's call runs
    both halves, text padded to one length under a mask, and the negative's call that follows
    returns the other half.
    """
    negative = args.get("negative_prompt")
    if not enabled or negative is None or type(pipe).__name__ not in CFG_BATCH_PIPELINES:
        yield
        return
    embeds, mask = pipe.encode_prompt(negative, device=pipe._execution_device)
    embeds = embeds[:, :MAX_SEQUENCE_LENGTH]
    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device) if mask is None else mask
    del args["negative_prompt"]
    args.update(negative_prompt_embeds=embeds, negative_prompt_embeds_mask=mask[:, :MAX_SEQUENCE_LENGTH])
    transformer = pipe.transformer
    own_forward = transformer.__dict__.get("forward")  # diffusers' hooks set one
    forward = transformer.forward
    pending: list[Any] = []

    def paired_forward(*call_args: Any, **kwargs: Any) -> Any:
        if call_args or kwargs.get("return_dict", True):  # not the loop's call: as it is
            return forward(*call_args, **kwargs)
        if pending:  # the negative prompt's call, computed with the prompt's
            return (pending.pop(),)
        both = forward(**_paired(kwargs, embeds, mask))[0]
        cond, uncond = both.chunk(2)
        pending.append(uncond)
        return (cond,)

    transformer.forward = paired_forward
    try:
        yield
    finally:
        if own_forward is None:
            del transformer.forward
        else:
            transformer.forward = own_forward


def _paired(kwargs: dict[str, Any], embeds: torch.Tensor, mask: torch.Tensor) -> dict[str, Any]:
    """The transformer's arguments for the prompt, as a batch of (prompt, negative prompt)."""
    prompt = kwargs["encoder_hidden_states"]
    prompt_mask = kwargs.get("encoder_hidden_states_mask")
    if prompt_mask is None:
        prompt_mask = torch.ones(prompt.shape[:2], dtype=mask.dtype, device=prompt.device)
    length = max(prompt.shape[1], embeds.shape[1])

    def padded(tensor: torch.Tensor) -> torch.Tensor:
        pad = [0, 0, 0, length - tensor.shape[1]] if tensor.dim() == 3 else [0, length - tensor.shape[1]]
        return torch.nn.functional.pad(tensor, pad)

    paired = dict(kwargs)
    paired["encoder_hidden_states"] = torch.cat([padded(prompt), padded(embeds.to(prompt.dtype))])
    paired["encoder_hidden_states_mask"] = torch.cat([padded(prompt_mask), padded(mask.to(prompt_mask.dtype))])
    for key in ("hidden_states", "timestep", "guidance"):
        if kwargs.get(key) is not None:
            paired[key] = torch.cat([kwargs[key], kwargs[key]])
    if kwargs.get("img_shapes") is not None:
        paired["img_shapes"] = list(kwargs["img_shapes"]) * 2
    return paired
