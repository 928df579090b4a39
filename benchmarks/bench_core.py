"""Core-service figures: preview engine time per 1328*1328 image, and the whole path
submit → SUCCEEDED → PNG downloaded over real HTTP against a real server.

    python benchmarks/bench_core.py [--tasks 60] [--poll 0.01]

Prints medians and p95; one run, one machine (shared and noisy: compare within a run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from rich.console import Console
from rich.progress import track
from rich.table import Table

from imagescope.engines import ImageJob, PreviewEngine
from imagescope.tasks.worker import encode_png

console = Console()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_engine(repeats: int) -> tuple[list[float], list[float]]:
    engine = PreviewEngine()
    draw, draw_and_encode = [], []
    for i in track(range(repeats), description="preview engine 1328*1328"):
        job = ImageJob(
            "qwen-image-plus",
            "一只橘猫坐在窗台上, an orange cat on a windowsill " * 4,
            "",
            1328,
            1328,
            seed=i,
            index=0,
            count=1,
        )
        t0 = time.perf_counter()
        image = engine.generate(job)
        t1 = time.perf_counter()
        encode_png(image)
        t2 = time.perf_counter()
        draw.append(t1 - t0)
        draw_and_encode.append(t2 - t0)
    return draw, draw_and_encode


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    # Sequential submissions come faster than the hosted 2 per second: lift the rate limit.
    env = {
        **os.environ,
        "IMAGESCOPE_DATA_DIR": str(data_dir),
        "IMAGESCOPE_WORKERS": "2",
        "IMAGESCOPE_SUBMIT_RPS": "1000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagescope", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    key = ""
    for line in proc.stdout:
        if line.startswith("sk-"):
            key = line.strip()
        if "base URL" in line:
            break
    base = f"http://127.0.0.1:{port}/api/v1"
    for _ in range(200):
        try:
            requests.get(f"{base}/tasks/x", timeout=1)
            return proc, key
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def bench_end_to_end(tasks: int, poll: float, port: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, key = start_server(Path(tmp), port)
        base = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {key}", "X-DashScope-Async": "enable"}
        body = {
            "model": "qwen-image-plus",
            "input": {"prompt": "a lighthouse on a cliff at dusk"},
            "parameters": {"size": "1328*1328", "n": 1},
        }
        session = requests.Session()
        times = []
        try:
            for _ in track(range(tasks), description="submit → SUCCEEDED → PNG"):
                t0 = time.perf_counter()
                task_id = session.post(
                    f"{base}/services/aigc/text2image/image-synthesis", json=body, headers=headers
                ).json()["output"]["task_id"]
                while True:
                    out = session.get(f"{base}/tasks/{task_id}", headers=headers).json()["output"]
                    if out["task_status"] == "SUCCEEDED":
                        break
                    assert out["task_status"] in ("PENDING", "RUNNING"), out
                    time.sleep(poll)
                png = session.get(out["results"][0]["url"]).content
                assert png[:8] == b"\x89PNG\r\n\x1a\n"
                times.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=60, help="tasks for the end-to-end figure (>= 50)")
    parser.add_argument("--repeats", type=int, default=30, help="engine calls for the engine figure")
    parser.add_argument("--poll", type=float, default=0.01, help="seconds between task queries")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    draw, draw_encode = bench_engine(args.repeats)
    e2e = bench_end_to_end(args.tasks, args.poll, args.port)

    table = Table("figure", "median", "p95", "n", title="imagescope core (preview engine)")
    for name, values in [
        ("preview engine draw, 1328*1328", draw),
        ("preview engine draw + PNG encode", draw_encode),
        ("submit → SUCCEEDED → PNG downloaded", e2e),
    ]:
        table.add_row(
            name,
            f"{statistics.median(values) * 1000:.1f} ms",
            f"{percentile(values, 0.95) * 1000:.1f} ms",
            str(len(values)),
        )
    console.print(table)


if __name__ == "__main__":
    main()
