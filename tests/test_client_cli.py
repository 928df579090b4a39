"""The client commands (``imagescope generate``, ``imagescope tasks …``) run as subprocesses against
real servers over HTTP, as a user runs them."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import requests
from PIL import Image

from conftest import Server
from imagescope.client import ApiError, Client, api
from imagescope.client.protocols import Ask, text_to_image


def client_env(server: Server, key: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DASHSCOPE_API_KEY", "IMAGESCOPE_BASE_URL")}
    env["IMAGESCOPE_BASE_URL"] = server.api
    if key != "":
        env["DASHSCOPE_API_KEY"] = key or server.key
    return env


def imagescope(server: Server, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagescope", *args],
        env=client_env(server, key),
        capture_output=True,
        text=True,
        timeout=60,
    )


def generate(server: Server, out: Path, *args: str) -> list[Path]:
    r = imagescope(server, "generate", "a red bicycle", "--out", str(out), *args)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    task_id = lines[0].split()[1]
    assert lines[0] == f"task {task_id} PENDING" and f"task {task_id} SUCCEEDED" in lines
    return [Path(line) for line in lines if line.endswith(".png")]


def test_generate_writes_n_pngs_of_the_size_and_prints_their_paths_last(server, tmp_path):
    paths = generate(server, tmp_path, "--n", "2", "--size", "640*512", "--seed", "7", "--no-extend")
    r_lines = [str(p) for p in paths]
    assert len(paths) == 2 and all(p.parent == tmp_path for p in paths)
    task_id = paths[0].name.rsplit("-", 1)[0]
    assert [p.name for p in paths] == [f"{task_id}-1.png", f"{task_id}-2.png"]
    for p in paths:
        with Image.open(p) as image:
            assert image.format == "PNG" and image.size == (640, 512)
    assert sorted(str(p) for p in tmp_path.iterdir()) == sorted(r_lines)  # no leftovers (.part files)


def test_the_same_seed_twice_gives_identical_files(server, tmp_path):
    args = ("--n", "1", "--size", "512*512", "--seed", "1234", "--no-extend")
    first = generate(server, tmp_path / "a", *args)
    second = generate(server, tmp_path / "b", *args)
    assert first[0].name != second[0].name  # two tasks
    assert first[0].read_bytes() == second[0].read_bytes()


def test_tasks_list_show_wait_and_cancel(make_server):
    s = make_server(IMAGESCOPE_WORKERS="0")  # nothing runs: tasks stay PENDING
    body = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a kite"}, "parameters": {"n": 1}}
    task_id = s.submit(body).json()["output"]["task_id"]

    listing = imagescope(s, "tasks", "list", "--status", "PENDING", "--model", "wan2.2-t2i-flash")
    assert listing.returncode == 0, listing.stderr
    assert task_id in listing.stdout and "PENDING" in listing.stdout and "1 tasks in all" in listing.stdout
    assert task_id not in imagescope(s, "tasks", "list", "--status", "SUCCEEDED").stdout

    shown = imagescope(s, "tasks", "show", task_id)
    assert shown.returncode == 0 and '"task_status": "PENDING"' in shown.stdout

    started = time.monotonic()
    waited = imagescope(s, "tasks", "wait", task_id, "--timeout", "1")
    assert waited.returncode == 1 and f"timed out: task {task_id} still PENDING" in waited.stderr
    assert time.monotonic() - started < 15

    canceled = imagescope(s, "tasks", "cancel", task_id)
    assert canceled.returncode == 0 and canceled.stdout.strip() == f"canceled task {task_id}"
    assert s.task(task_id)["output"]["task_status"] == "CANCELED"
    again = imagescope(s, "tasks", "cancel", task_id)
    assert again.returncode == 1 and again.stderr.startswith("UnsupportedOperation: ")
    ended = imagescope(s, "tasks", "wait", task_id)
    assert ended.returncode == 1 and f"task {task_id} CANCELED" in ended.stderr


def test_tasks_wait_prints_the_result_urls(server):
    body = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a kite"}, "parameters": {"n": 2, "size": "512*512"}}
    task_id = server.submit(body).json()["output"]["task_id"]
    r = imagescope(server, "tasks", "wait", task_id)
    assert r.returncode == 0, r.stderr
    urls = r.stdout.strip().splitlines()[-2:]
    assert all(u.startswith(server.url + "/files/") for u in urls)
    assert requests.get(urls[0], timeout=10).headers["content-type"] == "image/png"


def test_on_a_terminal_a_progress_display_then_the_paths(server, tmp_path):
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagescope",
            "generate",
            "a tree",
            "--n",
            "2",
            "--size",
            "512*512",
            "--out",
            str(tmp_path),
        ],
        env={**client_env(server), "COLUMNS": "120"},
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(30) == 0
    text = b"".join(chunks).decode()
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    paths = sorted(str(p) for p in tmp_path.iterdir())
    assert len(paths) == 2 and sorted(lines[-2:]) == paths
    assert "SUCCEEDED" in text


def test_a_bad_key_exits_1_with_the_api_error(server, tmp_path):
    r = imagescope(server, "generate", "a cat", "--out", str(tmp_path), key="sk-not-a-key")
    assert r.returncode == 1 and r.stderr.strip().startswith("InvalidApiKey: ")
    assert list(tmp_path.iterdir()) == []
    r = imagescope(server, "tasks", "list", key="sk-not-a-key")
    assert r.returncode == 1 and r.stderr.strip().startswith("InvalidApiKey: ")


def test_a_missing_key_exits_2_with_one_line(server):
    for args in (("generate", "a cat"), ("tasks", "list"), ("tasks", "show", "x")):
        r = imagescope(server, *args, key="")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "DASHSCOPE_API_KEY" in r.stderr


def test_an_unknown_model_exits_1_with_its_code(server, tmp_path):
    r = imagescope(server, "generate", "a cat", "--model", "no-such-model", "--out", str(tmp_path))
    assert r.returncode == 1 and r.stderr.strip() == "InvalidParameter: Model not exist."


def test_generate_with_z_image_turbo_is_a_synchronous_call_on_multimodal_generation(server, tmp_path):
    r = imagescope(server, "generate", "a koi pond", "--model", "z-image-turbo", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "call to z-image-turbo RUNNING"
    paths = [Path(line) for line in r.stdout.splitlines() if line.endswith(".png")]
    assert len(paths) == 1
    with Image.open(paths[0]) as image:
        assert image.format == "PNG" and image.size == (1024, 1536)  # z-image-turbo's default size


def test_options_beat_the_environment(server, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "imagescope", "tasks", "list", "--base-url", server.api, "--api-key", server.key],
        env={**client_env(server, "sk-wrong"), "IMAGESCOPE_BASE_URL": "http://127.0.0.1:9/api/v1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_while_waiting_cancels_the_task_and_exits_130(make_server, tmp_path):
    out = tmp_path / "out"
    s = make_server(IMAGESCOPE_WORKERS="0")  # the task is held PENDING
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagescope", "generate", "a slow cat", "--out", str(out)],
        env=client_env(s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("task ") and first.endswith(" PENDING"), first
        task_id = first.split()[1]
        time.sleep(0.5)  # inside the long poll
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        assert proc.stderr is not None and f"canceled task {task_id}" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert s.task(task_id)["output"]["task_status"] == "CANCELED"
    assert not out.exists()


def test_against_a_server_that_ignores_wait_the_client_polls_a_second_apart(monkeypatch):
    answers = iter(["PENDING", "RUNNING", "SUCCEEDED"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["authorization"] == "Bearer sk-test"
        return httpx.Response(200, json={"request_id": "r", "output": {"task_id": "t1", "task_status": next(answers)}})

    sleeps: list[float] = []
    monkeypatch.setattr(api.time, "sleep", sleeps.append)
    client = Client("http://hosted.example/api/v1/", "sk-test", transport=httpx.MockTransport(handler))
    statuses: list[str] = []
    task = client.wait("t1", on_update=lambda t: statuses.append(t["output"]["task_status"]))
    assert task["output"]["task_status"] == "SUCCEEDED" and statuses == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert seen == ["http://hosted.example/api/v1/tasks/t1?wait=20"] * 3
    assert len(sleeps) == 2 and all(0.5 < s <= 1.0 for s in sleeps)


def test_an_error_body_becomes_api_error_with_code_and_message():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"request_id": "r", "code": "Throttling.RateQuota", "message": "slow down"})

    client = Client("http://x/api/v1", "sk", transport=httpx.MockTransport(handler))
    with pytest.raises(ApiError) as caught:
        client.submit(text_to_image(Ask("wan2.2-t2i-flash", "a cat")))
    assert (caught.value.status, str(caught.value)) == (429, "Throttling.RateQuota: slow down")
