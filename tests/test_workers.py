"""``imagescope worker`` and ``serve`` as processes of a scaled-out deployment: the harness the
distributed suite (``test_distributed.py``: one API and two workers on PostgreSQL + S3) and the
benchmarks drive them with, and what a single process does on its own: a worker on an
out-of-date schema or told an unknown device exits 2 saying why, ``--device`` places the engines,
SIGTERM on ``serve`` gives its running task back to the queue at once.

The slow task: one with ``prompt_extend``, whose prompt rewriter (:class:`SlowChat`, a local
chat-completions server standing in for the operator's LLM) answers after ``REWRITE_S``, or after
the seconds the prompt asks for (:func:`slow`); a process told to stop gives the task back once
the call returns.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from conftest import Server

FAST = {  # prompt_extend is on unless a request turns it off
    "model": "wan2.5-t2i-preview",
    "input": {"prompt": "a cat"},
    "parameters": {"n": 1, "size": "768*768", "prompt_extend": False},
}
SLOW = {**FAST, "parameters": {**FAST["parameters"], "prompt_extend": True}}
REWRITE_S = 3.0
_ASKED_DELAY = re.compile(r"rewrite in ([0-9.]+) s")


def slow(seconds: float) -> dict:
    """A task whose prompt rewrite takes ``seconds``."""
    return {**SLOW, "input": {"prompt": f"a cat, rewrite in {seconds} s"}}


class SlowChat:
    """An OpenAI chat-completions server that answers each request after ``REWRITE_S``, or the
    seconds the prompt asks for (``rewrite in N s``)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                asked = _ASKED_DELAY.search(prompt)
                time.sleep(float(asked.group(1)) if asked else REWRITE_S)
                message = {"role": "assistant", "content": "REWRITTEN: " + prompt}
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
    """``imagescope worker ARGS`` in a subprocess; ready once it says so (listening for NOTIFY)."""

    env: dict[str, str]
    args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)

    def start(self, timeout: float = 60) -> WorkerProcess:
        return self.launch().ready(timeout)

    def launch(self) -> WorkerProcess:
        """Started, not waited for: start several, then wait for each (``ready``)."""
        self.output = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imagescope", "worker", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        return self

    def ready(self, timeout: float = 60) -> WorkerProcess:
        assert self.proc is not None
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

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class TaskRows:
    """The shared ``tasks`` table, read as any process of the deployment sees it."""

    dsn: str  # libpq's: postgresql://…

    @classmethod
    def of(cls, database_url: str) -> TaskRows:
        return cls(database_url.replace("postgresql+psycopg://", "postgresql://"))

    def row(self, task_id: str) -> dict:
        """Status, the pid of the process holding it (None: none), attempts, submit and claim times."""
        with psycopg.connect(self.dsn) as connection:
            cursor = connection.execute(
                "SELECT status, lease_owner, attempts, submit_time, scheduled_time FROM tasks WHERE id = %s",
                (task_id,),
            )
            status, owner, attempts, submitted, scheduled = cursor.fetchone()
        pid = int(owner.split(":")[1]) if owner else None
        return {"status": status, "pid": pid, "attempts": attempts, "submitted": submitted, "scheduled": scheduled}

    def running(self, task_ids: list[str]) -> int:
        """How many of ``task_ids`` are RUNNING now."""
        with psycopg.connect(self.dsn) as connection:
            query = "SELECT count(*) FROM tasks WHERE status = 'RUNNING' AND id = ANY(%s)"
            return connection.execute(query, (task_ids,)).fetchone()[0]

    def wait_running(self, task_id: str, timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        while (row := self.row(task_id))["status"] != "RUNNING":
            assert time.time() < deadline, row
            time.sleep(0.02)
        return row


def submit(api: Server, body: dict, key: str | None = None) -> str:
    r = api.submit(body, key)
    assert r.status_code == 200, r.text
    return r.json()["output"]["task_id"]


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
        rows = TaskRows.of(postgres_url)
        task_id = submit(api, SLOW)
        assert rows.wait_running(task_id)["pid"] == api.proc.pid
        sent = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        assert api.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
        assert "given back to the queue" in "".join(api.output)
        assert time.monotonic() - sent < REWRITE_S + 3  # not the 60 s lease
        assert rows.row(task_id) | {"submitted": 0, "scheduled": None} == {
            "status": "PENDING",
            "pid": None,
            "attempts": 0,
            "submitted": 0,
            "scheduled": None,
        }
    finally:
        api.stop()
        chat.httpd.shutdown()


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
