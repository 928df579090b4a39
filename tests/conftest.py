"""Test fixtures: real servers (``imagescope serve`` in a subprocess, on a free port)
driven over HTTP by the official dashscope SDK, requests and curl-shaped calls."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dashscope
import pytest
import requests
from PIL import Image

from postgres import free_port, make_postgres, postgres, postgres_url  # noqa: F401 - fixtures: a real PostgreSQL server

ASYNC_PATH = "/services/aigc/text2image/image-synthesis"


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    key: str = ""
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    command_prefix: list[str] = field(default_factory=list)  # e.g. setpriv: run the server with fewer privileges
    serve_args: tuple[str, ...] = ()  # the command after `imagescope`, in full; empty: serve --port PORT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def start(self, timeout: float = 30) -> Server:
        env = self._env()
        self.output = []
        args = self.serve_args or ("serve", "--port", str(self.port))
        self.proc = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "imagescope", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            try:
                requests.get(f"{self.api}/tasks/probe", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        first_key = [line.strip() for line in self.output if line.startswith("sk-")]
        if first_key and not self.key:
            self.key = first_key[0]
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.output.append(line)

    def kill(self) -> None:
        """A hard kill: no shutdown hooks run."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def headers(self, key: str | None = None, asynchronous: bool = True) -> dict[str, str]:
        h = {"Authorization": f"Bearer {key or self.key}", "Content-Type": "application/json"}
        if asynchronous:
            h["X-DashScope-Async"] = "enable"
        return h

    def submit(self, body: dict, key: str | None = None) -> requests.Response:
        return requests.post(self.api + ASYNC_PATH, json=body, headers=self.headers(key), timeout=10)

    def task(self, task_id: str, key: str | None = None) -> dict:
        r = requests.get(f"{self.api}/tasks/{task_id}", headers=self.headers(key, False), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, task_id: str, key: str | None = None, timeout: float = 60) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            body = self.task(task_id, key)
            if body["output"]["task_status"] not in ("PENDING", "RUNNING"):
                return body
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} did not finish: {body}")

    def run(self, body: dict, key: str | None = None) -> dict:
        r = self.submit(body, key)
        assert r.status_code == 200, r.text
        return self.wait(r.json()["output"]["task_id"], key)

    def _env(self) -> dict[str, str]:
        # Tests other than the rate-limit ones submit faster than the hosted 2 per second.
        return {**os.environ, "IMAGESCOPE_DATA_DIR": str(self.data_dir), "IMAGESCOPE_SUBMIT_RPS": "1000", **self.env}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        env = self._env()
        return subprocess.run(
            [sys.executable, "-m", "imagescope", *args], env=env, capture_output=True, text=True, check=True
        )

    def new_key(self, account: str = "default") -> str:
        return self.cli("keys", "create", "--account", account).stdout.strip().splitlines()[-1]


def download(url: str) -> Image.Image:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "PNG"
    return image


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    """One shared server with the embedded default configuration."""
    s = Server(tmp_path_factory.mktemp("server"), env={"IMAGESCOPE_WORKERS": "2"}).start()
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_path):
    """A private server with its own settings (env overrides)."""
    started: list[Server] = []

    def make(**env: str) -> Server:
        s = Server(tmp_path / f"data{len(started)}", env=env).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def sdk(server):
    """The dashscope SDK pointed at the shared server, the only change a user makes."""
    previous = dashscope.base_http_api_url
    dashscope.base_http_api_url = server.api
    yield server
    dashscope.base_http_api_url = previous
