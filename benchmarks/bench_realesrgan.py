"""Real-ESRGAN engine figures: seconds and peak resident memory for ×4 of square inputs.

    python benchmarks/bench_realesrgan.py [--sizes 256 512 1024] [--repeats 3 1 1]
        [--variant photo] [--tile 256] [--overlap 16] [--threads 2] [--precision float32]

Each size runs in a fresh Python process, so its peak RSS (getrusage ru_maxrss of that
process: weights + activations + images) is its own. The input is the test photograph
resized to the size. Seconds are per upscale() after the weights are loaded (the load is
reported apart); median over --repeats. The machine may be shared: the load average at
the start of each case and the CPU seconds per thread are printed alongside (on an idle
machine those are close to the wall seconds; far below them, other work took the cores).
"""

from __future__ import annotations

import argparse
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
    """In the child: one size, printed as one JSON line."""
    import torch
    from PIL import Image

    from imagescope.engines.realesrgan import RealEsrganUpscaler

    image = Image.open(PHOTO).convert("RGB").resize((args.case, args.case), Image.Resampling.LANCZOS)
    upscaler = RealEsrganUpscaler(
        args.variant, tile=args.tile, overlap=args.overlap, threads=args.threads, precision=args.precision
    )
    t0 = time.perf_counter()
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
    print(
        json.dumps(
            {
                "load_s": load_s,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "peak_mib": peak_mib,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument(
        "--repeats", type=int, nargs="+", default=[3, 1, 1], help="per size (the last one repeats for further sizes)"
    )
    parser.add_argument("--variant", default="photo", choices=["photo", "anime"])
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--case-repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args)
        return

    print(
        f"realesrgan {args.variant} ×4, tile {args.tile}, overlap {args.overlap}, "
        f"precision {args.precision}, threads {args.threads or 'torch default'}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'input':>11} {'median s':>9} {'runs s':>20} {'CPU s/thread':>13} {'peak RSS':>10} "
        f"{'load s':>7} {'loadavg':>8}"
    )
    for i, size in enumerate(args.sizes):
        repeats = args.repeats[min(i, len(args.repeats) - 1)]
        loadavg = os.getloadavg()[0]
        child = [
            sys.executable,
            __file__,
            "--case",
            str(size),
            "--case-repeats",
            str(repeats),
            "--variant",
            args.variant,
            "--tile",
            str(args.tile),
            "--overlap",
            str(args.overlap),
            "--precision",
            args.precision,
        ]
        if args.threads:
            child += ["--threads", str(args.threads)]
        result = json.loads(
            subprocess.run(child, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
        runs = " ".join(f"{s:.1f}" for s in result["seconds"])
        # CPU seconds per thread ≈ wall seconds on an idle machine; far below wall = contention.
        cpu = statistics.median(result["cpu_seconds"]) / result["threads"]
        print(
            f"{f'{size}*{size}':>11} {statistics.median(result['seconds']):>9.1f} {runs:>20} "
            f"{cpu:>13.1f} {result['peak_mib']:>7.0f} MiB {result['load_s']:>7.2f} {loadavg:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
