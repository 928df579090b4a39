"""Storage and database faults are the service's trouble, not the task's.

A task the storage fails under goes back to the queue (with backoff) and succeeds once storage
is writable again; it is FAILED (InternalError) only when its fault deadline runs out. Workers
stop claiming while storage keeps failing; a submission whose inputs cannot be stored answers
503; no temporary file outlives the fault.

The black-box tests make the files directory read-only under a real server. Root ignores file
modes, so as root the server runs without CAP_DAC_OVERRIDE (``setpriv``).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.exc import OperationalError

from conftest import ASYNC_PATH, Server, download
from imagescope.accounting.accounts import Accounts
from imagescope.app import create_app
from imagescope.config import Settings
from imagescope.engines import PreviewEngine
from imagescope.errors import INTERNAL_ERROR_MESSAGE
from imagescope.storage.local import LocalStorage, StorageUnavailable
from imagescope.tasks.faults import SERVICE_FAULTS, Breaker, retry_delay
from imagescope.tasks.spec import GenerationRequest
from imagescope.tasks.store import TaskStatus
from imagescope.wiring import build_services
from test_image2image import EDIT_PATH, imageedit, pattern, png_uri

SETPRIV = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
FLASH = {"model": "wan2.2-t2i-flash", "parameters": {"n": 1, "size": "512*512"}}


def unprivileged_prefix(tmp_path: Path) -> list[str]:
    """What makes file modes bind for the server process; skips when nothing can."""
    if os.geteuid() != 0:
        return []  # modes bind already
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes would not bind")
    probe = tmp_path / "modes-bind"
    probe.mkdir(mode=0o555)
    denied = subprocess.run([*SETPRIV, "touch", str(probe / "x")], capture_output=True).returncode != 0
    probe.chmod(0o755)
    if not denied:
        pytest.skip("setpriv could not drop CAP_DAC_OVERRIDE here")
    return SETPRIV


def set_writable(root: Path, writable: bool) -> None:
    """The files directory and every directory under it (the tasks') read-only, or writable again."""
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        folder.chmod(0o755 if writable else 0o555)


@pytest.fixture
def faulty(tmp_path):
    """A server whose files directory the test can make unwritable; it is writable again at the end."""
    started: list[Server] = []

    def make(**env: str) -> Server:
        env = {"IMAGESCOPE_WORKERS": "2", **env}
        s = Server(tmp_path / "data", env=env, command_prefix=unprivileged_prefix(tmp_path)).start()
        started.append(s)
        return s

    yield make
    for s in started:
        if (s.data_dir / "files").exists():
            set_writable(s.data_dir / "files", True)
        s.stop()


def statuses(server: Server, ids: list[str]) -> list[str]:
    return [server.task(i)["output"]["task_status"] for i in ids]


def temporary_files(root: Path) -> list[Path]:
    return list(root.rglob("*.tmp"))


def test_storage_outage_queues_tasks_until_storage_returns_and_submissions_answer_503(faulty):
    server = faulty()
    files = server.data_dir / "files"
    assert server.run({**FLASH, "input": {"prompt": "before"}})["output"]["task_status"] == "SUCCEEDED"

    set_writable(files, False)
    ids = []
    for i in range(10):
        r = server.submit({**FLASH, "input": {"prompt": f"during the outage {i}"}})
        assert r.status_code == 200, r.text  # the task row is stored: accepted, it waits
        ids.append(r.json()["output"]["task_id"])
    edit = requests.post(
        server.api + EDIT_PATH,
        json=imageedit("colorization", png_uri(pattern("ramp"))),
        headers=server.headers(),
        timeout=30,
    )
    assert edit.status_code == 503, edit.text
    body = edit.json()
    assert body["code"] == "ServiceUnavailable" and body["request_id"]
    assert "Errno" not in body["message"] and str(files) not in body["message"]  # no exception text
    deadline = time.time() + 5
    while time.time() < deadline:  # the outage: nothing fails, nothing can succeed
        assert set(statuses(server, ids)) <= {"PENDING", "RUNNING"}
        time.sleep(0.5)

    set_writable(files, True)
    results = [server.wait(i, timeout=30)["output"] for i in ids]
    assert [r["task_status"] for r in results] == ["SUCCEEDED"] * 10
    download(results[0]["results"][0]["url"])
    edit = requests.post(
        server.api + EDIT_PATH,
        json=imageedit("colorization", png_uri(pattern("ramp"))),
        headers=server.headers(),
        timeout=30,
    )
    assert edit.status_code == 200, edit.text
    assert server.wait(edit.json()["output"]["task_id"])["output"]["task_status"] == "SUCCEEDED"
    assert temporary_files(server.data_dir) == []
    log = "".join(server.output)  # one line per change of state, none per probe or per fault
    assert log.count("workers stop claiming") == 1 == log.count("workers claim tasks again")


def test_task_is_failed_with_internal_error_when_its_fault_deadline_runs_out(faulty):
    server = faulty(IMAGESCOPE_FAULT_RETRY_SECONDS="1")
    files = server.data_dir / "files"
    set_writable(files, False)
    r = server.submit({**FLASH, "input": {"prompt": "never stored"}})
    assert r.status_code == 200, r.text
    out = server.wait(r.json()["output"]["task_id"], timeout=20)["output"]
    assert out["task_status"] == "FAILED"
    assert (out["code"], out["message"]) == ("InternalError", INTERNAL_ERROR_MESSAGE)

    set_writable(files, True)  # the service recovers: the next task runs
    assert server.run({**FLASH, "input": {"prompt": "after"}})["output"]["task_status"] == "SUCCEEDED"
    assert temporary_files(server.data_dir) == []


# Unit level: what counts as a service fault, the storage's own cleanup, the breaker, the store.


def test_pil_decode_oserror_is_not_a_service_fault():
    truncated = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(truncated, "PNG")
    with pytest.raises(OSError) as caught:
        Image.open(io.BytesIO(truncated.getvalue()[:80])).load()
    assert not isinstance(caught.value, SERVICE_FAULTS)
    assert isinstance(StorageUnavailable("disk full"), SERVICE_FAULTS)


class DecodeFails(PreviewEngine):
    """An engine bug surfacing as PIL's OSError: the task's failure, not the storage's."""

    def generate(self, job, progress=None, should_stop=None):
        Image.open(io.BytesIO(b"\x89PNG\r\n\x1a\nnot really")).load()


def flash_request(n: int = 1) -> GenerationRequest:
    return GenerationRequest(
        model="wan2.2-t2i-flash",
        prompt="x",
        negative_prompt="",
        size=(512, 512),
        n=n,
        seed=1,
        prompt_extend=False,
        watermark=False,
    )


def services_with(tmp_path: Path, engine: PreviewEngine):
    services = build_services(Settings(data_dir=tmp_path), {"preview": engine})
    accounts = Accounts(services.db)
    return services, accounts.authenticate(accounts.create_key()[0])


def test_engine_oserror_fails_the_task_and_is_not_requeued(tmp_path):
    services, caller = services_with(tmp_path, DecodeFails())
    task = services.store.create(caller, "text2image", flash_request(), "req-1")
    assert services.worker.run_next()
    done = services.store.get(task.id)
    assert done.status == TaskStatus.FAILED and done.code == "InternalError"
    assert not services.worker.breaker.is_open


def test_storage_fault_requeues_without_spending_an_attempt_and_keeps_inputs(tmp_path, monkeypatch):
    services, caller = services_with(tmp_path, PreviewEngine())
    worker, storage = services.worker, services.storage
    task = services.store.create(caller, "text2image", flash_request(n=2), "req-1")
    storage.save(f"{task.id}/inputs/base_image_url", b"kept")
    real_save = LocalStorage.save

    def second_image_fails(self, key, data):
        if key.endswith("/1.png"):
            raise StorageUnavailable("simulated: no space left on device")
        real_save(self, key, data)

    monkeypatch.setattr(LocalStorage, "save", second_image_fails)
    assert worker.run_next()
    row = services.store.get(task.id)
    assert row.status == TaskStatus.PENDING and row.attempts == 0 and row.results == []
    assert worker.breaker.is_open and not worker.run_next()  # paused until a probe passes
    assert sorted(p.name for p in (storage.root / task.id).iterdir()) == ["inputs"]  # 0.png discarded

    monkeypatch.setattr(LocalStorage, "save", real_save)
    assert services.store.claim_next(lambda *a: 10, "other", 30) is None  # not before its retry time
    time.sleep(retry_delay(0) + 0.6)  # past its retry time and the breaker's first probe
    assert worker.run_next()
    done = services.store.get(task.id)
    assert done.status == TaskStatus.SUCCEEDED and len(done.results) == 2 and done.attempts == 1


def database_down(*args, **kwargs):
    raise OperationalError("UPDATE tasks", {}, sqlite3.OperationalError("disk I/O error"))


def test_database_fault_while_recording_the_end_requeues_the_task_even_when_requeueing_fails(tmp_path, monkeypatch):
    services, caller = services_with(tmp_path, PreviewEngine())
    worker, store = services.worker, services.store
    task = store.create(caller, "text2image", flash_request(), "req-1")
    monkeypatch.setattr(store, "complete", database_down)
    monkeypatch.setattr(store, "defer", database_down)
    assert worker.run_next()
    assert store.get(task.id).status == TaskStatus.RUNNING and worker.breaker.is_open  # ours, to return later

    monkeypatch.undo()
    time.sleep(0.6)  # the breaker's first probe
    assert not worker.run_next()  # returned to the queue first; not claimable before its retry time
    assert store.get(task.id).status == TaskStatus.PENDING
    time.sleep(retry_delay(0))
    assert worker.run_next() and store.get(task.id).status == TaskStatus.SUCCEEDED


def test_submission_that_cannot_be_stored_answers_503_without_exception_text(tmp_path, monkeypatch):
    app = create_app(Settings(data_dir=tmp_path))
    services = app.state.services
    accounts = Accounts(services.db)
    key = accounts.create_key()[0]
    monkeypatch.setattr(services.store, "create", database_down)
    with TestClient(app) as client:
        r = client.post(
            "/api/v1" + ASYNC_PATH,
            json={**FLASH, "input": {"prompt": "x"}},
            headers={"Authorization": f"Bearer {key}", "X-DashScope-Async": "enable"},
        )
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == "ServiceUnavailable" and body["request_id"] and "disk" not in body["message"]


def test_store_defer_fails_the_task_once_its_deadline_has_passed(tmp_path):
    services, caller = services_with(tmp_path, PreviewEngine())
    store = services.store
    task = store.create(caller, "text2image", flash_request(), "req-1")
    assert store.claim_next(lambda *a: 10, "me", 30) == task.id
    assert store.defer(task.id, "someone else", 60) is None  # only the lease holder's run
    assert store.defer(task.id, "me", 0) == TaskStatus.FAILED
    failed = store.get(task.id)
    assert (failed.code, failed.message) == ("InternalError", INTERNAL_ERROR_MESSAGE)


def test_failed_save_removes_its_temporary_file_now_or_after_the_fault(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path / "files")
    real_unlink = Path.unlink
    locked = {"on": True}

    def refuse_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    def unlink(self, missing_ok=False):
        if locked["on"] and self.name.endswith(".tmp"):
            raise PermissionError(13, "Permission denied")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr("imagescope.storage.local.os.replace", refuse_replace)
    with pytest.raises(StorageUnavailable):
        storage.save("t1/0.png", b"png")
    assert temporary_files(storage.root) == []  # removed at once when it can be

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(StorageUnavailable):
        storage.save("t1/0.png", b"png")
    assert len(temporary_files(storage.root)) == 1  # the directory refuses even the removal

    monkeypatch.undo()
    storage.save("t2/0.png", b"png")  # the next save that succeeds sweeps it
    assert temporary_files(storage.root) == [] and storage.read("t2/0.png") == b"png"


def test_stale_temporary_files_are_swept_and_fresh_ones_kept(tmp_path):
    storage = LocalStorage(tmp_path)
    stale, fresh = tmp_path / "a" / ".1234.tmp", tmp_path / "b" / ".5678.tmp"
    for path in (stale, fresh):
        path.parent.mkdir()
        path.write_bytes(b"x")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert storage.sweep_temporary(older_than=time.time() - 600) == 1
    assert not stale.exists() and fresh.exists()


def test_breaker_pauses_claims_probes_with_backoff_and_logs_each_change_once(caplog):
    now = [0.0]
    results = iter([False, False, False, False, False, True])
    probes = []

    def probe():
        probes.append(now[0])
        if not next(results):
            raise StorageUnavailable("read-only")

    breaker = Breaker(probe, first_delay_s=0.5, max_delay_s=4, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="imagescope.tasks.faults")
    assert breaker.allows()
    breaker.trip()
    breaker.trip()  # a second worker's fault: no second log line
    while not breaker.allows():
        now[0] += 0.25
    assert probes == [1.0, 3.0, 7.0, 11.0, 15.0, 19.0]  # waits 1, 2, 4, 4, 4, 4 after the second trip
    assert [r.message.split(":")[0] for r in caplog.records] == [
        "storage or database failing",
        "storage writable again",
    ]
