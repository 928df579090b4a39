"""What one task poll (GET /api/v1/tasks/{id}) costs the server in CPU time.

    python benchmarks/bench_poll_cost.py [--polls 1000]

Starts `imagescope serve` in a subprocess (its own data directory), runs one task, then polls
it --polls times from this process over one keep-alive connection and reads the server's
utime + stime from /proc before and after. Why it matters: a client polling every 50 ms takes
that much CPU from a model that uses every core (benchmarks/bench_realesrgan_e2e.py).

Measured 2026-11-21, 2 CPU cores, SQLite: 2.08 ms with h11 and @app.middleware; 1.86 ms with
the request-id middleware as plain ASGI; 1.64 ms with httptools + uvloop as well (now the default).
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import Server  # noqa: E402 - the tests' server harness: `imagescope serve` on a free port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=1000)
    args = parser.parse_args()
    server = Server(Path(tempfile.mkdtemp(prefix="imagescope-bench-")), env={"IMAGESCOPE_WORKERS": "1"}).start()

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        task_id = server.run({"model": "qwen-image-plus", "input": {"prompt": "a cat"}})["output"]["task_id"]
        session, headers = requests.Session(), server.headers(asynchronous=False)
        url = f"{server.api}/tasks/{task_id}"
        for _ in range(100):  # warm-up
            session.get(url, headers=headers)
        before = cpu_seconds()
        for _ in range(args.polls):
            assert session.get(url, headers=headers).status_code == 200
        per_poll = (cpu_seconds() - before) / args.polls
        print(f"server CPU per GET /api/v1/tasks/{{id}}: {per_poll * 1000:.2f} ms ({args.polls} polls)")
        print(f"polling every 50 ms costs {per_poll / 0.05:.1%} of one core; every 1 s, {per_poll:.2%}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
