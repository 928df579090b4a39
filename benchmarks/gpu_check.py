"""The diffusers fast path on one GPU: full-size Qwen-Image (transformer and VAE, random bf16
weights) at 1328*1328, each configuration timed, with peak memory and MFU; a table at the end.

    python benchmarks/gpu_check.py            # on one H200, within 8 minutes (gpu_check.sh)
    python benchmarks/gpu_check.py --tiny     # tiny config, 2 steps, on a CPU: the script itself works

Rows: 50 steps bare (the pipeline called directly, true CFG 4: two passes a step), the same
through the engine the service runs (DiffusersTextToImageEngine on the registered pipeline:
the ratio is the service's overhead), 8 steps (Lightning's recipe: CFG off, shift 3), 8 steps
with FP8 weights, with compiled blocks, with the first-block cache, and 50 steps with CFG
batched. Random weights: the speed is real, the pictures are noise. The text encoder is
Qwen2.5-VL's width with one layer (its cost is the prompt's, not the steps').
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline
from diffusers import QwenImageTransformer2DModel as Transformer

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from imagescope.engines.base import ImageJob  # noqa: E402
from imagescope.engines.diffusers.engine import DiffusersOptions, DiffusersTextToImageEngine  # noqa: E402
from imagescope.engines.diffusers.fast_path import apply_fast_path  # noqa: E402
from imagescope.engines.diffusers.weights import register_pipeline  # noqa: E402

# Qwen/Qwen-Image's transformer/config.json (diffusers' QwenImageTransformer2DModel for it).
FULL = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "axes_dims_rope": (16, 56, 56),
}
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0}  # dense bf16 peak, for MFU
SCHEDULER = {
    "base_image_seq_len": 256,
    "max_image_seq_len": 8192,
    "base_shift": 0.5,
    "max_shift": 0.9,
    "use_dynamic_shifting": True,
    "shift_terminal": 0.02,
    "time_shift_type": "exponential",
}


def build(tiny: bool, device: torch.device, dtype: torch.dtype) -> QwenImagePipeline:
    torch.manual_seed(0)
    if tiny:
        import tiny_qwen

        components = tiny_qwen._components(with_processor=False)
        components["transformer"] = Transformer(**{**tiny_qwen.build_transformer().config, "num_layers": 3})
        return QwenImagePipeline(**components).to(device, dtype)
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    import tiny_qwen

    tokenizer = tiny_qwen.build_tokenizer()
    text = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 1,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
        },
        vision_config={"depth": 1, "hidden_size": 64, "num_heads": 2, "out_hidden_size": 3584},
    )
    with torch.device(device):
        transformer = Transformer(**FULL).to(dtype)
        vae = AutoencoderKLQwenImage().to(dtype)  # Qwen-Image's VAE is the class defaults
        encoder = Qwen2_5_VLForConditionalGeneration(text).to(dtype).eval()
    return QwenImagePipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=encoder,
        tokenizer=tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER),
    )


def transformer_flops(pipe: QwenImagePipeline, size: int, text_tokens: int = 64) -> float:
    """Forward FLOPs of one transformer call: 2 x params x tokens, plus attention's two matmuls."""
    tokens = (size // 16) ** 2 + text_tokens
    params = sum(p.numel() for p in pipe.transformer.transformer_blocks.parameters())
    config = pipe.transformer.config
    width = config.num_attention_heads * config.attention_head_dim
    return 2 * params * tokens + 4 * config.num_layers * tokens * tokens * width


def timed(run, repeats: int, device: torch.device) -> tuple[float, float]:
    """(median seconds, peak GiB) of ``run()`` after one warm-up."""
    run()
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="tiny config, 2 steps, CPU")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; rows past it are skipped")
    parser.add_argument("--only", default="", help="comma-separated row names")
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.float32 if args.tiny else torch.bfloat16
    size, full_steps, fast_steps = (64, 2, 2) if args.tiny else (1328, 50, 8)
    peak_tflops = (
        next((v for k, v in BF16_PEAK_TFLOPS.items() if k in torch.cuda.get_device_name()), 989.0)
        if (device.type == "cuda")
        else float("nan")
    )
    base = build(args.tiny, device, dtype)
    base.set_progress_bar_config(disable=True)
    flops = transformer_flops(base, size)
    prompt = "a lighthouse at dusk"

    def bare(steps: int, cfg: float):
        return lambda: base(
            prompt,
            negative_prompt=" ",
            true_cfg_scale=cfg,
            width=size,
            height=size,
            num_inference_steps=steps,
            generator=torch.Generator(device).manual_seed(1),
        )

    def engine(name: str, steps: int, cfg: float, **fast) -> tuple:
        """An engine the service would run, on ``base``'s modules with ``fast`` applied."""
        options = DiffusersOptions(
            f"/gpu-check/{name}",
            dtype="fp32" if args.tiny else "bf16",
            device=str(device),
            steps=steps,
            true_cfg_scale=cfg,
            **fast,
        )
        pipe = base if not fast or fast == {"cfg_batch": True} else QwenImagePipeline(**base.components)
        if pipe is not base:  # own transformer copy for FP8 / compile / cache
            pipe.transformer = build(args.tiny, device, dtype).transformer
            pipe = apply_fast_path(name, pipe, options, device)
            pipe.set_progress_bar_config(disable=True)
        register_pipeline(options, pipe)
        job = ImageJob("qwen-image", prompt, "", size, size, 1, 0, 1)
        return DiffusersTextToImageEngine(name, options).generate, job

    rows = {
        "50 steps bare": (lambda: bare(full_steps, 4.0), full_steps * 2),
        "50 steps service": (
            lambda: (lambda e: lambda: e[0](e[1]))(engine("service", full_steps, 4.0)),
            full_steps * 2,
        ),
        "50 steps cfg_batch": (
            lambda: (lambda e: lambda: e[0](e[1]))(engine("batched", full_steps, 4.0, cfg_batch=True)),
            full_steps * 2,
        ),
        "8 steps": (
            lambda: (lambda e: lambda: e[0](e[1]))(engine("eight", fast_steps, 1.0, scheduler_shift=3.0)),
            fast_steps,
        ),
        "8 steps fp8": (
            lambda: (lambda e: lambda: e[0](e[1]))(engine("fp8", fast_steps, 1.0, scheduler_shift=3.0, quantize="fp8")),
            fast_steps,
        ),
        "8 steps compile": (
            lambda: (lambda e: lambda: e[0](e[1]))(
                engine("compile", fast_steps, 1.0, scheduler_shift=3.0, compile=True)
            ),
            fast_steps,
        ),
        "8 steps cache": (
            lambda: (lambda e: lambda: e[0](e[1]))(
                engine("cache", fast_steps, 1.0, scheduler_shift=3.0, cache="first_block")
            ),
            fast_steps,
        ),
    }
    only = [name for name in args.only.split(",") if name]
    results: list[tuple[str, float, float, float]] = []
    for name, (make, calls) in rows.items():
        if only and name not in only:
            continue
        if time.monotonic() > deadline:
            print(f"{name}: skipped (past the budget)", flush=True)
            continue
        seconds, peak = timed(make(), args.repeats, device)
        mfu = calls * flops / seconds / (peak_tflops * 1e12)
        results.append((name, seconds, peak, mfu))
        print(f"{name}: {seconds:.2f} s, peak {peak:.1f} GiB, MFU {mfu:.1%}", flush=True)
    by_name = {name: seconds for name, seconds, _, _ in results}
    print(f"\n{'configuration':<22}{'median s':>10}{'peak GiB':>10}{'MFU':>8}")
    for name, seconds, peak, mfu in results:
        print(f"{name:<22}{seconds:>10.2f}{peak:>10.1f}{mfu:>8.1%}")
    if "50 steps bare" in by_name and "50 steps service" in by_name:
        print(f"service / bare: {by_name['50 steps service'] / by_name['50 steps bare']:.3f} (goal <= 1.02)")
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; size {size}*{size}")


if __name__ == "__main__":
    main()
