"""Real-ESRGAN engine figures: seconds and peak resident memory for ×4 of square inputs.

    python benchmarks/bench_realesrgan.py [--sizes 256 512 1024] [--repeats 3 1 1]
        [--precision float32 auto] [--network fused] [--tile 256] [--overlap 16]
        [--variant photo] [--threads 2]

One row per (network, precision, tile, size), so the defaults print a before/after pair:
float32, then "auto" (bfloat16 on a CPU with native bf16). ``--network plain`` runs the
reference RRDBNet module (weights converted to the precision, channels-last, torch.cat and
separate pointwise ops) through the same tiling instead of the fused inference network: the
network as it was before the fused one. ``--precision`` and ``--tile`` take several values.

Each row runs in a fresh Python process, so its peak RSS (getrusage ru_maxrss of that
process: weights + activations + images) is its own. The input is the test photograph
resized to the size. Seconds are per upscale() after the weights are loaded (the load is
reported apart); median over --repeats. The machine may be shared: the load average at
the start of each row and the CPU seconds per thread are printed alongside. On an idle
machine those are close to the wall seconds; on a busy one wall seconds mean little, and
with several threads CPU seconds include the time a thread spins waiting for the others
(``--threads 1`` gives the cleanest CPU seconds on a busy machine).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PHOTO = Path(__file__).resolve().parent.parent / "tests" / "data" / "chelsea.png"


def run_case(args: argparse.Namespace) -> None:
    """In the child: one row, printed as one JSON line."""
    import torch
    from PIL import Image

    from imagescope.engines.realesrgan import RealEsrganUpscaler, load_rrdbnet, model_files
    from imagescope.engines.realesrgan.upscaler import DTYPES, VARIANTS

    image = Image.open(PHOTO).convert("RGB").resize((args.case, args.case), Image.Resampling.LANCZOS)
    upscaler = RealEsrganUpscaler(
        args.variant, tile=args.tile[0], overlap=args.overlap, threads=args.threads, precision=args.precision[0]
    )
    t0 = time.perf_counter()
    if args.network == "plain":
        dtype = DTYPES[upscaler.precision]
        module = load_rrdbnet(*model_files(args.variant), VARIANTS[args.variant].num_block).to(dtype)
        module = module.to(memory_format=torch.channels_last)

        def plain(x: torch.Tensor) -> torch.Tensor:
            return module(x.to(dtype).contiguous(memory_format=torch.channels_last))

        upscaler.load = lambda: plain  # type: ignore[assignment,return-value]
    upscaler.load()
    load_s = time.perf_counter() - t0
    seconds, cpu_seconds = [], []
    for _ in range(args.case_repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = upscaler.upscale(image, 4)
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)
        assert out.size == (4 * args.case, 4 * args.case)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {"load_s": load_s, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mib": peak_mib}
    print(json.dumps({**result, "threads": torch.get_num_threads(), "precision": upscaler.precision}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument(
        "--repeats", type=int, nargs="+", default=[3, 1, 1], help="per size (the last one repeats for further sizes)"
    )
    parser.add_argument("--variant", default="photo", choices=["photo", "anime"])
    parser.add_argument("--network", default="fused", choices=["fused", "plain"])
    parser.add_argument("--tile", type=int, nargs="+", default=[256])
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", nargs="+", default=["float32", "auto"], choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--case-repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args)
        return

    print(
        f"realesrgan {args.variant} ×4, {args.network} network, overlap {args.overlap}, "
        f"threads {args.threads or 'torch default'}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'precision':>13} {'tile':>5} {'input':>10} {'median s':>9} {'runs s':>16} {'CPU s/thread':>13} "
        f"{'peak RSS':>10} {'load s':>7} {'loadavg':>8}"
    )
    for precision, tile, (i, size) in itertools.product(args.precision, args.tile, enumerate(args.sizes)):
        repeats = args.repeats[min(i, len(args.repeats) - 1)]
        loadavg = os.getloadavg()[0]
        child = [sys.executable, __file__, "--case", str(size), "--case-repeats", str(repeats)]
        child += ["--variant", args.variant, "--network", args.network, "--tile", str(tile)]
        child += ["--overlap", str(args.overlap), "--precision", precision]
        if args.threads:
            child += ["--threads", str(args.threads)]
        result = json.loads(
            subprocess.run(child, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
        runs = " ".join(f"{s:.1f}" for s in result["seconds"])
        # CPU seconds per thread ≈ wall seconds on an idle machine; far below wall = contention.
        cpu = statistics.median(result["cpu_seconds"]) / result["threads"]
        shown = precision if precision == result["precision"] else f"{precision}:{result['precision']}"
        print(
            f"{shown:>13} {tile:>5} {f'{size}*{size}':>10} {statistics.median(result['seconds']):>9.1f} "
            f"{runs:>16} {cpu:>13.1f} {result['peak_mib']:>6.0f} MiB {result['load_s']:>7.2f} {loadavg:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
