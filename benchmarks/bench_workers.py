"""Tasks per second with two ``imagescope worker`` processes ÷ with one, on PostgreSQL.

    python benchmarks/bench_workers.py [--tasks 30] [--cost 0.5] [--rounds 2]

Starts a private PostgreSQL server (Debian's binaries, as the tests do: tests/postgres.py), then
for one worker and for two, on a fresh database each time: one ``imagescope serve --workers 0``
and that many ``imagescope worker --concurrency 1`` processes sharing one data directory. Each
round submits --tasks tasks at once and counts tasks per second from the first submission to the
last end (the database's submit_time and end_time); one worker and two take turns, --rounds
rounds each. Prints both rates, the best round of each, and their ratio (the goal: 1.8 or more).

The fixed cost is the tests' slow task (tests/test_workers.py): prompt_extend with a
chat-completions stand-in that answers after --cost seconds, then the preview engine's image at
768*768 (a few tens of milliseconds). It is a wait, not computation, on purpose: the machines this
runs on have two cores shared with other work, and a CPU-bound engine would measure how two
processes share those cores, not how the queue shares tasks between workers; a GPU worker's
machine gives each worker its own device. What the ratio shows is what the queue adds: claims,
leases, NOTIFY wake-ups and the per-account limit checks across processes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from imagescope.tasks.notify import libpq_dsn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import Server  # noqa: E402 - the tests' harness: `imagescope serve` on a free port
from postgres import Postgres, binaries  # noqa: E402 - a real PostgreSQL server in a temporary directory
from test_workers import SlowChat, WorkerProcess, slow  # noqa: E402 - workers, the slow task


def tasks_per_second(postgres: Postgres, chat: SlowChat, workers: int, tasks: int, cost: float) -> float:
    """One round: ``tasks`` submitted at once to an API process with ``workers`` workers behind it."""
    url = postgres.migrated_database()
    env = {
        "IMAGESCOPE_DATABASE_URL": url,
        "IMAGESCOPE_REWRITER_URL": chat.url,
        "IMAGESCOPE_REWRITER_MODEL": "qwen-plus",
        "IMAGESCOPE_CONCURRENCY": str(tasks),  # the account's limit is not what is measured
    }
    data_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    api = Server(data_dir, env={**env, "IMAGESCOPE_WORKERS": "0"}).start()
    processes = [WorkerProcess(api._env(), ("--concurrency", "1")).launch() for _ in range(workers)]
    try:
        for p in processes:
            p.ready()
        ids = []
        for _ in range(tasks):
            r = api.submit(slow(cost))
            r.raise_for_status()
            ids.append(r.json()["output"]["task_id"])
        dsn = libpq_dsn(url)
        with psycopg.connect(dsn, autocommit=True) as connection:
            deadline = time.time() + tasks * cost * 2 + 60
            while True:
                left, failed, first, last = connection.execute(
                    "SELECT count(*) FILTER (WHERE status IN ('PENDING', 'RUNNING')),"
                    " count(*) FILTER (WHERE status NOT IN ('PENDING', 'RUNNING', 'SUCCEEDED')),"
                    " min(submit_time), max(end_time) FROM tasks WHERE id = ANY(%s)",
                    (ids,),
                ).fetchone()
                if not left:
                    break
                if time.time() > deadline:
                    raise RuntimeError(f"{left} tasks did not end")
                time.sleep(0.1)
        if failed:
            raise RuntimeError(f"{failed} tasks did not succeed")
        return tasks / (last - first)
    finally:
        for p in processes:
            p.stop()
        api.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30, help="tasks per round")
    parser.add_argument("--cost", type=float, default=0.5, help="seconds each task waits (the fixed cost)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per worker count; the best counts")
    args = parser.parse_args()
    bin_dir = binaries()
    if bin_dir is None:
        sys.exit("PostgreSQL binaries missing (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    postgres = Postgres(bin_dir).start()
    chat = SlowChat()
    try:
        runs: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.rounds):  # taking turns: a change in the machine's load falls on both
            for workers, rates in runs.items():
                rates.append(tasks_per_second(postgres, chat, workers, args.tasks, args.cost))
        best = {workers: max(rates) for workers, rates in runs.items()}
        for workers, rates in runs.items():
            shown = ", ".join(f"{r:.2f}" for r in rates)
            print(f"{workers} worker process{'es' if workers > 1 else ''}: {best[workers]:.2f} tasks/s ({shown})")
        ideal = 1 / args.cost
        print(f"two ÷ one: {best[2] / best[1]:.2f} (goal ≥ 1.8; one worker's ideal {ideal:.2f} tasks/s)")
    finally:
        chat.httpd.shutdown()
        postgres.remove()


if __name__ == "__main__":
    main()
