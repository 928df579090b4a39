"""Qwen-Image on one GPU with random bf16 weights: seconds per image, peak memory, service ÷ bare.

    python benchmarks/bench_qwen_gpu.py [--runs 3] [--steps 50] [--size 1328] [--text-tokens 200]
                                        [--text-encoder]
    python benchmarks/bench_qwen_gpu.py --tiny   # CPU smoke test of this script: tiny configs, fp32

The full-size QwenImageTransformer2DModel (60 layers, 24 heads of 128, joint_attention_dim
3584: diffusers' class defaults are the real config) and AutoencoderKLQwenImage are built
directly on the GPU in bf16 with PyTorch's default random init (uniform, std 1/sqrt(3·fan_in):
small, activations stay finite). Nothing is downloaded; the compute is that of the real
weights. The scheduler is Qwen-Image's (dynamic exponential shift 0.5-0.9, terminal 0.02).

Text encoding is NOT included: the Qwen2.5-VL 7B text encoder and its tokenizer cannot be
downloaded, so every prompt (and the negative prompt " ") encodes to the same random
[1, --text-tokens, 3584] embeddings. One 7B forward per prompt costs tens of ms; --text-encoder
builds a random-weight Qwen2.5-VL 7B text model and times that forward separately.

Arms, alternating after one warm-up of each: bare = one QwenImagePipeline call with
prompt_embeds (true CFG, true_cfg_scale 4.0); end-to-end = the real service (create_app,
uvicorn in a thread, 1 worker): POST text2image qwen-image → poll every 50 ms → PNG
downloaded. Benchmark seam: the in-memory pipeline is put in imagescope's
diffusers_engine.register_pipeline under a fake weights path, so DiffusersTextToImageEngine
uses it as if loaded; Settings.model_overrides binds qwen-image to that engine (and, for --tiny,
allows its size).

Measured on one H100 (goal: ≤ 12 s per 1328*1328 image, 50 steps, true CFG):
not run yet: no GPU was available.

Arithmetic, not measured: one image is 100 transformer passes over 6889 image + 200 text
tokens, 13.3 PFLOP (printed as "transformer FLOPs alone"): 13.5 s at the H100 SXM's 989 TFLOPS
dense bf16 peak, before the VAE. Under 12 s at 50 steps with true CFG takes fewer FLOPs (FP8,
step or guidance distillation, caching across steps), not a faster service.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

import requests
import torch
import uvicorn
from diffusers import (
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    QwenImagePipeline,
    QwenImageTransformer2DModel,
)

from imagescope.app import create_app
from imagescope.config import Settings
from imagescope.engines import ImageJob, PreviewEngine, RealEsrganEngine
from imagescope.engines.diffusers import engine as diffusers_engine
from imagescope.engines.diffusers.engine import DiffusersOptions, DiffusersTextToImageEngine
from imagescope.models.catalog import QWEN_SIZES, FixedSizes

ENGINE = "qwen-bench"
FAKE_WEIGHTS = "/nonexistent/imagescope-bench/qwen-image-random"  # a registry key, never read
QWEN_SCHEDULER = dict(
    base_image_seq_len=256,
    max_image_seq_len=8192,
    base_shift=0.5,
    max_shift=0.9,
    use_dynamic_shifting=True,
    shift_terminal=0.02,
    time_shift_type="exponential",
)
TINY_TRANSFORMER = dict(
    num_layers=2,
    attention_head_dim=16,
    num_attention_heads=2,
    joint_attention_dim=32,
    in_channels=16,
    out_channels=4,
    axes_dims_rope=(4, 6, 6),
)
TINY_VAE = dict(
    base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=0, latents_mean=[0.0] * 4, latents_std=[1.0] * 4
)
TEXT_7B = dict(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    vocab_size=152064,
)
TEXT_TINY = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=2,
    vocab_size=1000,
    bos_token_id=None,
    eos_token_id=None,
)
PROMPT = "A cosy bookshop café at dusk, warm light, a chalkboard reading 'Qwen Coffee 2 yuan'"


@contextmanager
def building(device: str, dtype: torch.dtype):
    """Modules made inside are born on ``device`` in ``dtype``: no fp32 copy on the CPU."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def build_pipeline(tiny: bool, device: str, dtype: torch.dtype) -> QwenImagePipeline:
    torch.manual_seed(0)
    with building(device, dtype):
        transformer = QwenImageTransformer2DModel(**(TINY_TRANSFORMER if tiny else {})).eval()
        vae = AutoencoderKLQwenImage(**(TINY_VAE if tiny else {})).eval()
    pipe = QwenImagePipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=None,
        tokenizer=None,
        scheduler=FlowMatchEulerDiscreteScheduler(**QWEN_SCHEDULER),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def time_text_encoder(tiny: bool, device: str, dtype: torch.dtype, tokens: int) -> float:
    """Median seconds of one random-weight Qwen2.5-VL text-model forward (the pipeline's
    prompt template adds 34 tokens, dropped after encoding)."""
    from transformers import Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    sizes = TEXT_TINY if tiny else TEXT_7B
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3] if tiny else [16, 24, 24], "rope_theta": 1e6}
    with building(device, dtype):
        model = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(**sizes, rope_parameters=rope)).eval()
    ids = torch.randint(0, sizes["vocab_size"], (1, tokens + 34), device=device)
    seconds = []
    with torch.inference_mode():
        for _ in range(6):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - t0)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return statistics.median(seconds[1:])


def flops_per_image(pipe: QwenImagePipeline, size: int, text_tokens: int, steps: int) -> float:
    """Transformer FLOPs of one image (2 passes a step): 12·d² linear weights a token a layer
    (q, k, v, out, MLP ×4) and 4·n²·d of attention a layer; the VAE is left out."""
    c = pipe.transformer.config
    d, n = c.num_attention_heads * c.attention_head_dim, (size // 16) ** 2 + text_tokens
    return 2 * steps * c.num_layers * (2 * 12 * d * d * n + 4 * n * n * d)


class TimedEngine:
    """The engine as the worker sees it, timing each call (to split the service's time)."""

    def __init__(self, inner: DiffusersTextToImageEngine):
        self.inner, self.name, self.seconds = inner, inner.name, []

    def generate(self, job: ImageJob, **hooks):  # hooks: the worker's progress, should_stop
        t0 = time.perf_counter()
        try:
            return self.inner.generate(job, **hooks)
        finally:
            self.seconds.append(time.perf_counter() - t0)


def start_service(engine: TimedEngine, size: int, data_dir: str) -> tuple[uvicorn.Server, str, str]:
    binding: dict = {"engine": ENGINE, "submit_rps": 1000}  # back-to-back runs of --tiny: no 429
    if QWEN_SIZES.check(size, size):  # --tiny's sizes are not Qwen-Image's
        binding["sizes"] = FixedSizes(allowed=((size, size),), default=(size, size))
    settings = Settings.from_env({"IMAGESCOPE_DATA_DIR": data_dir, "IMAGESCOPE_WORKERS": "1"})
    settings = replace(settings, model_overrides={"qwen-image": binding})
    app = create_app(settings, engines={"preview": PreviewEngine(), "realesrgan": RealEsrganEngine(), ENGINE: engine})
    key, _ = app.state.services.accounts.create_key(name="bench")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, name="uvicorn", daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", key


def end_to_end(base: str, key: str, size: int) -> float:
    """Seconds from the POST to the downloaded PNG bytes."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    body = {"model": "qwen-image", "input": {"prompt": PROMPT}, "parameters": {"size": f"{size}*{size}", "n": 1}}
    t0 = time.perf_counter()
    r = session.post(
        f"{base}/api/v1/services/aigc/text2image/image-synthesis",
        json=body,
        headers={"X-DashScope-Async": "enable"},
        timeout=30,
    )
    r.raise_for_status()
    task_id = r.json()["output"]["task_id"]
    while (task := session.get(f"{base}/api/v1/tasks/{task_id}", timeout=30).json()["output"])["task_status"] in (
        "PENDING",
        "RUNNING",
    ):
        time.sleep(0.05)
    if task["task_status"] != "SUCCEEDED":
        raise RuntimeError(f"task {task_id}: {task}")
    session.get(task["results"][0]["url"], timeout=60).raise_for_status()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU (fp32, 256*256, 4 steps)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each arm, after one warm-up")
    parser.add_argument("--steps", type=int, help="denoising steps (default 50; --tiny 4)")
    parser.add_argument("--size", type=int, help="square image side (default 1328; --tiny 256)")
    parser.add_argument("--text-tokens", type=int, default=200, help="prompt embedding length")
    parser.add_argument("--dtype", choices=["bf16", "fp32"], help="default bf16; --tiny fp32")
    parser.add_argument("--text-encoder", action="store_true", help="also time a random Qwen2.5-VL 7B text forward")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)")
    args = parser.parse_args()
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit(
            f"bench_qwen_gpu.py: the full-size benchmark needs a CUDA GPU (about 45 GB of memory) and "
            f"torch {torch.__version__} sees none. Run it on a GPU machine, or --tiny for a CPU smoke test."
        )
    steps, size = args.steps or (4 if args.tiny else 50), args.size or (256 if args.tiny else 1328)
    dtype_name = args.dtype or ("fp32" if args.tiny else "bf16")
    dtype = diffusers_engine.DTYPES[dtype_name]
    name = "CPU (tiny configs)" if args.tiny else torch.cuda.get_device_name()
    print(
        f"Qwen-Image {size}*{size}, {steps} steps, true CFG 4.0, {dtype_name}, {args.text_tokens} text "
        f"tokens, on {name}; random weights; text encoding not included",
        flush=True,
    )

    if args.text_encoder:
        te = time_text_encoder(args.tiny, device, dtype, args.text_tokens)
        print(
            f"text encoder (random Qwen2.5-VL {'tiny' if args.tiny else '7B'} text model, "
            f"{args.text_tokens + 34} tokens): {te * 1000:.1f} ms per prompt",
            flush=True,
        )
    t0 = time.perf_counter()
    pipe = build_pipeline(args.tiny, device, dtype)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    weights = f", {torch.cuda.memory_allocated() / 2**30:.1f} GiB on the GPU" if device == "cuda" else ""
    print(
        f"built in {time.perf_counter() - t0:.1f} s: transformer "
        f"{sum(p.numel() for p in pipe.transformer.parameters()):,} parameters{weights}",
        flush=True,
    )

    embeds = torch.randn(1, args.text_tokens, pipe.transformer.config.joint_attention_dim, device=device, dtype=dtype)
    mask = torch.ones(1, args.text_tokens, dtype=torch.long, device=device)
    # Text-encoder stand-in for the service path: every prompt encodes to the same embeddings.
    pipe._get_qwen_prompt_embeds = lambda prompt, device=None, dtype=None: (embeds, mask)
    options = DiffusersOptions(weights=FAKE_WEIGHTS, dtype=dtype_name, device=device, steps=steps)
    diffusers_engine.register_pipeline(options, pipe)  # the engine uses it as if loaded from FAKE_WEIGHTS
    engine = TimedEngine(DiffusersTextToImageEngine(ENGINE, options))

    def bare() -> float:
        t0 = time.perf_counter()
        image = pipe(
            prompt_embeds=embeds,
            prompt_embeds_mask=mask,
            negative_prompt_embeds=embeds,
            negative_prompt_embeds_mask=mask,
            true_cfg_scale=4.0,
            width=size,
            height=size,
            num_inference_steps=steps,
            generator=torch.Generator(device).manual_seed(0),
            output_type="pil",
        ).images[0]
        assert image.size == (size, size) and image.getextrema() != ((0, 0),) * 3, "blank or NaN image"
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="imagescope-bench-") as data_dir:
        server, base, api_key = start_service(engine, size, data_dir)
        bare_s, e2e_s = [], []
        for run in range(args.runs + 1):
            label = "warm-up" if run == 0 else f"run {run}/{args.runs}"
            b, e = bare(), end_to_end(base, api_key, size)
            if run:
                bare_s.append(b)
                e2e_s.append(e)
            print(
                f"{label}: bare {b:.2f} s ({b / steps * 1000:.0f} ms/step), end-to-end {e:.2f} s "
                f"(engine in the worker {engine.seconds[-1]:.2f} s), ratio {e / b:.3f}",
                flush=True,
            )
        server.should_exit = True

    per_image, e2e = statistics.median(bare_s), statistics.median(e2e_s)
    ideal = flops_per_image(pipe, size, args.text_tokens, steps) / (args.peak_tflops * 1e12)
    print(
        f"\nseconds per image (bare, median of {args.runs}): {per_image:.2f} s; per step {per_image / steps:.3f} s"
        + ("" if args.tiny else f"; goal ≤ 12 s: {'met' if per_image <= 12 else 'NOT met'}")
    )
    if device == "cuda":
        print(f"transformer FLOPs alone at {args.peak_tflops:.0f} TFLOPS: {ideal:.2f} s (MFU {ideal / per_image:.0%})")
        print(f"peak GPU memory (max_memory_allocated): {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    else:
        print("peak GPU memory: n/a (CPU run)")
    print(f"service end-to-end ÷ bare: {e2e / per_image:.3f} (median {e2e:.2f} s ÷ {per_image:.2f} s)")
    print("text encoding (one Qwen2.5-VL 7B forward per prompt) is not included in these times")


if __name__ == "__main__":
    main()
