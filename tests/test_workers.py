"""Worker processes on a shared PostgreSQL: one ``serve --workers 0`` (the API) and two
``imagescope worker`` processes, each a real subprocess, with local storage in one shared
directory. The tasks run on the workers; SIGTERM hands a running task back at once, kill -9
after its lease; the per-account concurrency limit holds across them; NOTIFY wakes an idle one.

The slow task: one with ``prompt_extend``, whose prompt rewriter (a local chat-completions server,
standing in for the operator's LLM) answers after ``REWRITE_S``; a worker told to stop gives the
task back once the call returns.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import Server

FAST = {"model": "wan2.5-t2i-preview", "input": {"prompt": "a cat"}, "parameters": {"n": 1, "size": "768*768"}}
SLOW = {**FAST, "parameters": {**FAST["parameters"], "prompt_extend": True}}
REWRITE_S = 3.0


class SlowChat:
    """An OpenAI chat-completions server that answers each request after ``REWRITE_S``."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(REWRITE_S)
                message = {"role": "assistant", "content": "REWRITTEN: " + body["messages"][-1]["content"]}
                answer = json.dumps(
                    {
                        "id": "c1",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1"


@dataclass
class WorkerProcess:
    """``imagescope worker`` in a subprocess; ready once it says so (listening for NOTIFY)."""

    env: dict[str, str]
    args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.output = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imagescope", "worker", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        deadline = time.time() + timeout
        while not any("worker ready" in line for line in self.output):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("worker did not start:\n" + "".join(self.output))
            time.sleep(0.05)
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.output.append(line)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Cluster:
    api: Server
    workers: list[WorkerProcess]
    dsn: str

    def row(self, task_id: str) -> dict:
        with psycopg.connect(self.dsn) as connection:
            cursor = connection.execute(
                "SELECT status, lease_owner, attempts, submit_time, scheduled_time FROM tasks WHERE id = %s",
                (task_id,),
            )
            status, owner, attempts, submitted, scheduled = cursor.fetchone()
        pid = int(owner.split(":")[1]) if owner else None
        return {"status": status, "pid": pid, "attempts": attempts, "submitted": submitted, "scheduled": scheduled}

    def running(self) -> int:
        with psycopg.connect(self.dsn) as connection:
            return connection.execute("SELECT count(*) FROM tasks WHERE status = 'RUNNING'").fetchone()[0]

    def worker(self, pid: int) -> WorkerProcess:
        return next(w for w in self.workers if w.pid == pid)

    def wait_running(self, task_id: str, timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        while (row := self.row(task_id))["status"] != "RUNNING":
            assert time.time() < deadline, row
            time.sleep(0.02)
        return row


@pytest.fixture
def cluster(postgres_url, tmp_path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    chat = SlowChat()

    def make(lease_s: str = "30", poll_s: str = "2", concurrency: str = "1") -> Cluster:
        env = {
            "IMAGESCOPE_DATABASE_URL": postgres_url,
            "IMAGESCOPE_REWRITER_URL": chat.url,
            "IMAGESCOPE_REWRITER_MODEL": "qwen-plus",
            "IMAGESCOPE_LEASE_SECONDS": lease_s,
            "IMAGESCOPE_WORKER_POLL_SECONDS": poll_s,
        }
        api = Server(tmp_path / "data", env={**env, "IMAGESCOPE_WORKERS": "0"}).start()
        worker_env = {**api._env(), "IMAGESCOPE_WORKERS": "7"}  # --concurrency wins over the variable
        workers = [WorkerProcess(worker_env, ("--concurrency", concurrency)) for _ in range(2)]
        for w in workers:
            w.start()
        dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        made.append(Cluster(api, workers, dsn))
        return made[-1]

    yield make
    for c in made:
        for w in c.workers:
            w.stop()
        c.api.stop()
    chat.httpd.shutdown()


def submit(api: Server, body: dict) -> str:
    r = api.submit(body)
    assert r.status_code == 200, r.text
    return r.json()["output"]["task_id"]


def slow_task(api: Server) -> str:
    return submit(api, SLOW)


def test_tasks_submitted_to_an_api_only_process_run_on_the_worker_processes(cluster):
    c = cluster()
    ids = [submit(c.api, FAST) for _ in range(4)]
    finished = [c.api.wait(i, timeout=60)["output"] for i in ids]
    assert [f["task_status"] for f in finished] == ["SUCCEEDED"] * 4
    assert {c.row(i)["pid"] for i in ids} <= {w.pid for w in c.workers}  # never the API process
    assert c.api.proc is not None and c.api.proc.pid not in {c.row(i)["pid"] for i in ids}
    image = requests.get(finished[0]["results"][0]["url"], timeout=10)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_sigterm_gives_the_running_task_back_at_once_and_the_other_worker_finishes_it(cluster):
    c = cluster(lease_s="60")  # a lease wait would show: 60 s
    task_id = slow_task(c.api)
    first = c.wait_running(task_id)
    stopped = c.worker(first["pid"])
    sent = time.monotonic()
    stopped.proc.send_signal(signal.SIGTERM)
    assert stopped.proc.wait(30) == 0
    while (row := c.row(task_id))["pid"] == first["pid"] and row["status"] == "RUNNING":
        assert time.monotonic() - sent < REWRITE_S + 3, row  # once the call returns, not after the 60 s lease
        time.sleep(0.02)
    assert row["status"] in ("PENDING", "RUNNING") and row["pid"] != first["pid"]
    done = c.api.wait(task_id, timeout=120)["output"]
    assert done["task_status"] == "SUCCEEDED"
    final = c.row(task_id)
    assert final["pid"] != first["pid"] and final["attempts"] == 1  # the given-back run was not spent
    assert "given back to the queue" in "".join(stopped.output)


def test_kill_9_on_a_worker_mid_task_the_other_finishes_it_after_the_lease(cluster):
    c = cluster(lease_s="3")
    task_id = slow_task(c.api)
    first = c.wait_running(task_id)
    killed = c.worker(first["pid"])
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(10)
    done = c.api.wait(task_id, timeout=120)["output"]
    assert done["task_status"] == "SUCCEEDED"
    final = c.row(task_id)
    assert final["pid"] != first["pid"] and final["attempts"] == 2  # run again after its lease ran out


def test_the_per_account_concurrency_limit_stays_exact_across_two_worker_processes(cluster):
    c = cluster(concurrency="3")  # six slots between the two processes
    c.api.cli("accounts", "set-limits", "default", "--model", "wan2.5-t2i-preview", "--concurrency", "1")
    body = {**FAST, "parameters": {"n": 2, "size": "1024*1024"}}
    ids = [submit(c.api, body) for _ in range(4)]
    most = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        most = max(most, c.running())
        if all(c.row(i)["status"] in ("SUCCEEDED", "FAILED") for i in ids):
            break
        time.sleep(0.01)
    assert [c.api.task(i)["output"]["task_status"] for i in ids] == ["SUCCEEDED"] * 4
    assert most == 1


def test_an_idle_worker_is_woken_by_notify_not_by_its_poll(cluster):
    c = cluster(poll_s="5")  # without the push a task would wait up to 5 s
    time.sleep(1)  # both workers idle, in their poll's wait
    waits = []
    for _ in range(3):
        task_id = submit(c.api, FAST)
        c.api.wait(task_id, timeout=30)
        row = c.row(task_id)
        waits.append(row["scheduled"] - row["submitted"])
        time.sleep(0.3)
    assert max(waits) < 1.0, waits


def test_a_worker_on_a_database_without_the_schema_exits_2_naming_migrate(postgres, tmp_path):
    url = postgres.url(postgres.create_database())
    env = {**os.environ, "IMAGESCOPE_DATABASE_URL": url, "IMAGESCOPE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "imagescope", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "imagescope migrate" in done.stderr and "Traceback" not in done.stderr


def test_sigterm_on_serve_gives_its_running_task_back_and_exits(postgres_url, tmp_path):
    chat = SlowChat()
    env = {
        "IMAGESCOPE_DATABASE_URL": postgres_url,
        "IMAGESCOPE_WORKERS": "1",
        "IMAGESCOPE_LEASE_SECONDS": "60",
        "IMAGESCOPE_REWRITER_URL": chat.url,
        "IMAGESCOPE_REWRITER_MODEL": "qwen-plus",
    }
    api = Server(tmp_path / "data", env=env).start()
    try:
        c = Cluster(api, [], postgres_url.replace("postgresql+psycopg://", "postgresql://"))
        task_id = slow_task(api)
        assert c.wait_running(task_id)["pid"] == api.proc.pid
        sent = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        assert api.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
        assert "given back to the queue" in "".join(api.output)
        assert time.monotonic() - sent < REWRITE_S + 3  # not the 60 s lease
        assert c.row(task_id) | {"submitted": 0, "scheduled": None} == {
            "status": "PENDING",
            "pid": None,
            "attempts": 0,
            "submitted": 0,
            "scheduled": None,
        }
    finally:
        api.stop()
        chat.httpd.shutdown()


def test_a_long_poll_on_the_api_only_process_answers_at_once_when_a_worker_ends_the_task(cluster):
    c = cluster(concurrency="2")  # the four tasks run side by side
    ids = [slow_task(c.api) for _ in range(4)]
    lags: dict[str, float] = {}

    def long_poll(task_id: str) -> None:
        r = requests.get(f"{c.api.api}/tasks/{task_id}?wait=60", headers=c.api.headers(asynchronous=False), timeout=90)
        answered = time.time()
        assert r.json()["output"]["task_status"] == "SUCCEEDED"
        with psycopg.connect(c.dsn) as connection:
            (ended,) = connection.execute("SELECT end_time FROM tasks WHERE id = %s", (task_id,)).fetchone()
        lags[task_id] = answered - ended

    threads = [threading.Thread(target=long_poll, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(lags) == 4
    assert max(lags.values()) < 0.3, lags  # the store's sweep, once a second, would average 0.5 s


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    """A models file binding qwen-image to a diffusers engine on tiny weights, device cpu."""
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    import tiny_qwen

    root = tmp_path_factory.mktemp("tiny")
    with tiny_qwen.video_processor_stand_in():
        weights = tiny_qwen.build_qwen_image(root / "Qwen-Image")
    models = root / "models.toml"
    models.write_text(
        f'[engines.q]\nkind = "diffusers"\nweights = "{weights}"\ndevice = "cpu"\n[models]\n"qwen-image" = "q"\n'
    )
    return models


def test_worker_device_replaces_the_models_files_device_of_every_diffusers_engine(tiny_models, tmp_path):
    from imagescope.config import Settings
    from imagescope.wiring import build_services

    settings = Settings(data_dir=tmp_path, models_file=tiny_models, workers=0)
    as_written = build_services(settings)
    placed = build_services(settings, device="cuda:1")
    try:
        assert as_written.bindings.engines["q"].options.device == "cpu"
        assert placed.bindings.engines["q"].options.device == "cuda:1"
    finally:
        as_written.db.dispose(), placed.db.dispose()


def test_a_worker_device_no_engine_accepts_exits_2_naming_it(tiny_models, postgres_url, tmp_path):
    env = {**os.environ, "IMAGESCOPE_DATABASE_URL": postgres_url, "IMAGESCOPE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "imagescope", "worker", "--models", str(tiny_models), "--device", "tpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "device must be auto, cpu, cuda or cuda:N, not 'tpu'" in done.stderr and "Traceback" not in done.stderr
