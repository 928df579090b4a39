"""Task queries per second: ``GET /api/v1/tasks/{id}`` against a bare Starlette endpoint that
answers the same JSON bytes, under the same uvicorn and the same client.

    python benchmarks/bench_task_query.py [--seconds 5] [--rounds 3] [--clients 2]

One server process runs uvicorn as ``imagescope serve`` does (httptools, uvloop, info log
level, which logs each request) on an ASGI app that sends ``/bare/…`` to a bare Starlette app
and everything else to imagescope's app. After one task has run, --clients client processes
each GET over one keep-alive connection for --seconds, alternately on ours and on the bare
endpoint, --rounds times, first over one keep-alive connection each, then with a new
connection per query as the dashscope SDK's polling makes them. Prints the median requests per
second of each and their ratio. The clients and the server share the machine's cores, as they
did when the goal was set.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import free_port  # noqa: E402 - the tests' helpers

BODY = {"model": "qwen-image-plus", "input": {"prompt": "a cat"}, "parameters": {"n": 1}}


def serve(port: int, bare_file: Path) -> None:
    """The server process: imagescope's app beside a bare Starlette app under one uvicorn."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from imagescope.app import create_app

    ours = create_app()
    answer: list[bytes] = []

    async def bare_task(request: Any) -> Response:
        if not answer:
            answer.append(bare_file.read_bytes())
        return Response(answer[0], media_type="application/json")

    bare = Starlette(routes=[Route("/bare/tasks/{task_id}", bare_task)])

    async def both(scope: Any, receive: Any, send: Any) -> None:
        app = bare if scope["type"] == "http" and scope["path"].startswith("/bare/") else ours
        await app(scope, receive, send)

    uvicorn.run(both, host="127.0.0.1", port=port, log_level="info", lifespan="on")


def hammer(port: int, path: str, key: str, seconds: float, counts: Any, sdk_like: bool) -> None:
    """A client process: GET ``path`` for ``seconds``, over one keep-alive connection, or
    (``sdk_like``) as the dashscope SDK's fetch does: a new requests.Session, so a new
    connection, per query."""
    headers = {"Authorization": f"Bearer {key}"}
    done = 0
    deadline = time.perf_counter() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        if sdk_like:
            with requests.Session() as session:
                assert session.get(f"http://127.0.0.1:{port}{path}", headers=headers).status_code == 200
        else:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        done += 1
    counts.put(done)


def rate(port: int, path: str, key: str, seconds: float, clients: int, sdk_like: bool) -> float:
    counts: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=hammer, args=(port, path, key, seconds, counts, sdk_like))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    total = sum(counts.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "BARE_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return

    data_dir = Path(tempfile.mkdtemp(prefix="imagescope-bench-"))
    env = {**os.environ, "IMAGESCOPE_DATA_DIR": str(data_dir), "IMAGESCOPE_WORKERS": "1"}
    key = (
        subprocess.run(
            [sys.executable, "-m", "imagescope", "keys", "create"], env=env, capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port, bare_file = free_port(), data_dir / "bare.json"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(bare_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        for _ in range(200):
            try:
                requests.get(f"{base}/api/v1/models", headers=auth, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        submitted = requests.post(
            f"{base}/api/v1/services/aigc/text2image/image-synthesis",
            json=BODY,
            headers={**auth, "X-DashScope-Async": "enable"},
            timeout=30,
        ).json()
        task_id = submitted["output"]["task_id"]
        answer = requests.get(f"{base}/api/v1/tasks/{task_id}", params={"wait": "30"}, headers=auth, timeout=60)
        assert answer.json()["output"]["task_status"] == "SUCCEEDED", answer.text
        bare_file.write_bytes(answer.content)  # the same bytes (one request_id frozen in)
        assert json.loads(requests.get(f"{base}/bare/tasks/{task_id}", timeout=5).content) == answer.json()
        ours_path, bare_path = f"/api/v1/tasks/{task_id}", f"/bare/tasks/{task_id}"
        rate(port, ours_path, key, 1.0, args.clients, False)  # warm-up
        figures = {}
        for sdk_like in (False, True):
            ours, bare = [], []
            for _ in range(args.rounds):
                ours.append(rate(port, ours_path, key, args.seconds, args.clients, sdk_like))
                bare.append(rate(port, bare_path, key, args.seconds, args.clients, sdk_like))
            figures[sdk_like] = (ours, bare)
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"{args.clients} client processes, {args.rounds} rounds of {args.seconds:.0f} s each, ours and bare alternating"
    )
    for sdk_like, (ours, bare) in figures.items():
        print("a new connection per query, as the dashscope SDK polls:" if sdk_like else "one keep-alive connection:")
        print(f"  GET /api/v1/tasks/{{id}} (ours): {statistics.median(ours):7.0f} requests/s  (rounds: "
              + ", ".join(f"{r:.0f}" for r in ours) + ")")  # fmt: skip
        print(f"  bare Starlette, same JSON:      {statistics.median(bare):7.0f} requests/s  (rounds: "
              + ", ".join(f"{r:.0f}" for r in bare) + ")")  # fmt: skip
        print(f"  ours / bare: {statistics.median(ours) / statistics.median(bare):.2f}x (goal: >= 0.5x)")


if __name__ == "__main__":
    main()
