"""Submit → RUNNING latency with an idle worker process, on PostgreSQL (LISTEN/NOTIFY).

    python benchmarks/bench_wakeup.py [--tasks 40] [--poll 5]

Starts a private PostgreSQL server (Debian's binaries, as the tests do: tests/postgres.py), one
``imagescope serve --workers 0`` and one ``imagescope worker`` whose fallback poll is --poll
seconds (IMAGESCOPE_WORKER_POLL_SECONDS), so only a notification can wake it sooner. Submits
--tasks tasks one after another, each once the previous one has ended and the worker has sat idle
for a random 0.1–0.5 s, and reads each task's ``scheduled_time - submit_time`` (when a worker
claimed it, less when it was accepted: both the database's rows). Prints p50, p95 and max.

Before this work an idle worker looked every 200 ms: about 100 ms on average, 200 ms at worst.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from imagescope.tasks.notify import libpq_dsn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import Server  # noqa: E402 - the tests' harness: `imagescope serve` on a free port
from postgres import Postgres, binaries  # noqa: E402 - a real PostgreSQL server in a temporary directory
from test_workers import FAST, WorkerProcess  # noqa: E402 - `imagescope worker` in a subprocess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--poll", type=float, default=5.0, help="the worker's fallback poll, seconds")
    args = parser.parse_args()
    bin_dir = binaries()
    if bin_dir is None:
        sys.exit("PostgreSQL binaries missing (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    postgres = Postgres(bin_dir).start()
    api: Server | None = None
    worker: WorkerProcess | None = None
    try:
        url = postgres.migrated_database()
        env = {"IMAGESCOPE_DATABASE_URL": url, "IMAGESCOPE_WORKER_POLL_SECONDS": str(args.poll)}
        api = Server(Path(tempfile.mkdtemp(prefix="bench-wakeup-")), env={**env, "IMAGESCOPE_WORKERS": "0"}).start()
        worker = WorkerProcess(api._env(), ("--concurrency", "1")).start()
        dsn = libpq_dsn(url)
        waits = []
        with psycopg.connect(dsn, autocommit=True) as connection:
            for _ in range(args.tasks):
                time.sleep(random.uniform(0.1, 0.5))  # the worker idle, in its poll's wait
                r = api.submit(FAST)
                r.raise_for_status()
                task_id = r.json()["output"]["task_id"]
                api.wait(task_id, timeout=60)
                submitted, scheduled = connection.execute(
                    "SELECT submit_time, scheduled_time FROM tasks WHERE id = %s", (task_id,)
                ).fetchone()
                waits.append((scheduled - submitted) * 1000)
        waits.sort()
        p95 = waits[max(0, int(len(waits) * 0.95) - 1)]
        print(f"submit → RUNNING, idle worker, PostgreSQL NOTIFY, fallback poll {args.poll:g} s, {len(waits)} tasks:")
        print(f"  p50 {statistics.median(waits):.1f} ms  p95 {p95:.1f} ms  max {waits[-1]:.1f} ms")
    finally:
        if worker is not None:
            worker.stop()
        if api is not None:
            api.stop()
        postgres.remove()


if __name__ == "__main__":
    main()
