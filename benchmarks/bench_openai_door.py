"""The OpenAI door's overhead against the DashScope doors, for the same work.

    python benchmarks/bench_openai_door.py [--calls 40]

Starts `imagescope serve` (its own data directory, preview engine) and makes the same image —
wan2.2-t2i-flash, 1024*1024, n=1, a fixed seed — --calls times through each door, one call
at a time, from the official SDKs where they exist:

- OpenAI: `openai.OpenAI(...).images.generate(...)` (one synchronous call, answer with a URL);
- DashScope, asynchronous: POST text2image with `X-DashScope-Async`, then GET the task with
  `?wait=60` (the long-poll) until it has ended, over one keep-alive connection;
- DashScope through its SDK: `ImageSynthesis.call`, the same asynchronous door polled by the
  SDK's own wait loop (about a second between polls), which is how most SDK users call it.

Prints the median client-side latency of each door, and the server's CPU time per call (utime +
stime from /proc over the run, divided by the calls). The image work itself is the same in every
row; the differences are the doors. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dashscope
import openai
import requests
from dashscope import ImageSynthesis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import Server  # noqa: E402 - the tests' server harness: `imagescope serve` on a free port

MODEL, PROMPT, SEED = "wan2.2-t2i-flash", "a lighthouse at dusk", 42


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(server: Server, calls: int, call: Callable[[], None]) -> tuple[float, float]:
    """(median latency, server CPU per call), both in ms."""
    call()  # warm-up
    latencies = []
    before = cpu_seconds(server.proc.pid)
    for _ in range(calls):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    cpu = (cpu_seconds(server.proc.pid) - before) / calls
    return statistics.median(latencies) * 1000, cpu * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    server = Server(Path(tempfile.mkdtemp(prefix="imagescope-bench-")), env={"IMAGESCOPE_WORKERS": "1"}).start()
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    session = requests.Session()
    headers = server.headers(asynchronous=False)
    body = {
        "model": MODEL,
        "input": {"prompt": PROMPT},
        "parameters": {"size": "1024*1024", "n": 1, "seed": SEED, "prompt_extend": False},
    }
    dashscope.base_http_api_url = server.api

    def through_openai() -> None:
        rsp = client.images.generate(model=MODEL, prompt=PROMPT, size="1024x1024", n=1, extra_body={"seed": SEED})
        assert rsp.data[0].url

    def through_dashscope_long_poll() -> None:
        submitted = session.post(
            f"{server.api}/services/aigc/text2image/image-synthesis",
            json=body,
            headers=server.headers(asynchronous=True),
            timeout=30,
        )
        task_id = submitted.json()["output"]["task_id"]
        while True:
            output = session.get(f"{server.api}/tasks/{task_id}", params={"wait": "60"}, headers=headers).json()
            if output["output"]["task_status"] == "SUCCEEDED":
                return

    def through_dashscope_sdk() -> None:
        rsp = ImageSynthesis.call(
            api_key=server.key, model=MODEL, prompt=PROMPT, size="1024*1024", n=1, seed=SEED, prompt_extend=False
        )
        assert rsp.status_code == 200 and rsp.output.results[0].url

    try:
        rows = [
            ("OpenAI images.generate (sync)", run(server, args.calls, through_openai)),
            ("DashScope async + ?wait=60", run(server, args.calls, through_dashscope_long_poll)),
            ("DashScope SDK ImageSynthesis.call", run(server, args.calls, through_dashscope_sdk)),
        ]
    finally:
        server.stop()
    print(f"{MODEL} 1024*1024, n=1, preview engine; {args.calls} calls per door, one at a time")
    base_latency, base_cpu = rows[1][1]
    for name, (latency, cpu) in rows:
        print(
            f"{name:36s} median {latency:6.1f} ms ({latency / base_latency:4.2f}x)   "
            f"server CPU {cpu:5.1f} ms/call ({cpu / base_cpu:4.2f}x)"
        )


if __name__ == "__main__":
    main()
