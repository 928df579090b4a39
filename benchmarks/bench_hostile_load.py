"""The tester's load: many clients submitting and polling at once, for a while.

    python benchmarks/bench_hostile_load.py [--clients 40] [--seconds 60] [--repo PATH]

Starts `python -m imagescope serve` on a free port of 127.0.0.1 with a temporary
IMAGESCOPE_DATA_DIR and IMAGESCOPE_SUBMIT_RPS high (no 429s: the load is the point, not the
rate limit); every other setting is the server's default (2 workers, 2 running tasks per
account). The key is the first `sk-…` line the server prints, as tests/conftest.py reads it.

Then --clients threads, each with its own keep-alive session and the same key, loop until
--seconds have passed: submit a text-to-image task (wan2.2-t2i-flash, n=1, 512*512, no
prompt_extend), poll GET /api/v1/tasks/{id} every 0.1 s until it is terminal, and again.

Printed: answers in total and by route and status code (and requests that got no answer),
submission and poll latency p50/p99, tasks by final status (all should be SUCCEEDED; a task
still running at the deadline counts as unfinished), and the server's resident memory at the
end (and its peak). Linux only (/proc).

--repo runs another source tree's server with this venv: its src/ goes first on PYTHONPATH,
so a worktree of an older commit can be measured the same way, e.g.

    git worktree add /tmp/before HEAD
    python benchmarks/bench_hostile_load.py --seconds 30 --repo /tmp/before
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

SUBMIT_PATH = "/api/v1/services/aigc/text2image/image-synthesis"
BODY = {
    "model": "wan2.2-t2i-flash",
    "input": {"prompt": "a lighthouse at dusk"},
    "parameters": {"size": "512*512", "n": 1, "prompt_extend": False},
}
POLL_INTERVAL_S = 0.1
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m imagescope serve` from --repo's src, its output drained in a thread."""

    def __init__(self, repo: Path, data_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output: list[str] = []
        env = {
            **os.environ,
            "IMAGESCOPE_DATA_DIR": str(data_dir),
            "IMAGESCOPE_SUBMIT_RPS": "100000",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(repo / "src"), os.environ.get("PYTHONPATH")])),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imagescope", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            if len(self.output) < 10_000:  # the access log of a long run is not kept
                self.output.append(line)

    def wait_ready(self, timeout: float = 60) -> str:
        """The first API key the server printed, once it answers."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            try:
                requests.get(f"{self.url}/api/v1/tasks/probe", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        keys = [line.strip() for line in self.output if line.startswith("sk-")]
        if not keys:
            raise RuntimeError("the server printed no key:\n" + "".join(self.output))
        return keys[0]

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process, in KiB."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
        return fields.get("VmRSS", 0), fields.get("VmHWM", 0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Tally:
    """What every client saw; one lock, appended to from all client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers: Counter = Counter()  # (route, status code or exception name)
        self.submit_s: list[float] = []
        self.poll_s: list[float] = []
        self.tasks: Counter = Counter()  # final task status

    def answer(self, route: str, status: int | str, seconds: float | None) -> None:
        with self.lock:
            self.answers[(route, status)] += 1
            if seconds is not None:
                (self.submit_s if route == "submit" else self.poll_s).append(seconds)


def client(url: str, key: str, deadline: float, tally: Tally) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "X-DashScope-Async": "enable"}
    poll_headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            r = session.post(url + SUBMIT_PATH, json=BODY, headers=headers, timeout=30)
        except requests.RequestException as exc:
            tally.answer("submit", type(exc).__name__, None)
            time.sleep(POLL_INTERVAL_S)
            continue
        tally.answer("submit", r.status_code, time.monotonic() - started)
        if r.status_code != 200:
            time.sleep(POLL_INTERVAL_S)
            continue
        task_id = r.json()["output"]["task_id"]
        status = "unfinished at the deadline"
        while time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            started = time.monotonic()
            try:
                r = session.get(f"{url}/api/v1/tasks/{task_id}", headers=poll_headers, timeout=30)
            except requests.RequestException as exc:
                tally.answer("poll", type(exc).__name__, None)
                continue
            tally.answer("poll", r.status_code, time.monotonic() - started)
            if r.status_code == 200 and r.json()["output"]["task_status"] in TERMINAL:
                status = r.json()["output"]["task_status"]
                break
        with tally.lock:
            tally.tasks[status] += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="source tree whose src/ the server runs (default: this repository)",
    )
    args = parser.parse_args()
    repo = args.repo.resolve()
    if not (repo / "src" / "imagescope").is_dir():
        parser.error(f"{repo} has no src/imagescope")

    server = ServerProcess(repo, Path(tempfile.mkdtemp(prefix="imagescope-hostile-")))
    try:
        key = server.wait_ready()
        tally = Tally()
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=client, args=(server.url, key, deadline, tally), daemon=True)
            for _ in range(args.clients)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 60)  # a request's own timeout is 30 s
        elapsed = time.monotonic() - started
        alive = server.proc.poll() is None
        rss, peak = server.memory_kib() if alive else (0, 0)
        stuck = sum(t.is_alive() for t in threads)
    finally:
        server.stop()

    total = sum(tally.answers.values())
    answered = {k: v for k, v in tally.answers.items() if isinstance(k[1], int)}
    rows = [
        ("server", f"{repo}/src, 127.0.0.1:{server.port}"),
        (
            "load",
            f"{args.clients} clients for {args.seconds:g} s (ran {elapsed:.1f} s), poll every {POLL_INTERVAL_S} s",
        ),
        ("answers total", f"{sum(answered.values())} ({sum(answered.values()) / elapsed:.0f}/s)"),
    ]
    for (route, status), n in sorted(tally.answers.items(), key=lambda kv: (kv[0][0] != "submit", str(kv[0][1]))):
        rows.append((f"  {route} {status}", str(n)))
    if total != sum(answered.values()):
        rows.append(("no answer (exceptions)", str(total - sum(answered.values()))))
    rows += [
        (
            "submit latency p50 / p99",
            f"{percentile(tally.submit_s, 0.5) * 1000:.1f} / {percentile(tally.submit_s, 0.99) * 1000:.1f} ms",
        ),
        (
            "poll latency p50 / p99",
            f"{percentile(tally.poll_s, 0.5) * 1000:.1f} / {percentile(tally.poll_s, 0.99) * 1000:.1f} ms",
        ),
        (
            "tasks finished",
            f"{sum(v for k, v in tally.tasks.items() if k in TERMINAL)} "
            f"({sum(v for k, v in tally.tasks.items() if k in TERMINAL) / elapsed:.1f}/s)",
        ),
    ]
    for status, n in sorted(tally.tasks.items()):
        rows.append((f"  {status}", str(n)))
    rows.append(
        (
            "server RSS at the end (peak)",
            f"{rss / 1024:.0f} MiB ({peak / 1024:.0f} MiB)" if alive else "server had exited",
        )
    )
    if stuck:
        rows.append(("client threads still waiting", str(stuck)))
    print(table(rows))


if __name__ == "__main__":
    main()
