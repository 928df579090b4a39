"""Durability: a hard kill with tasks in flight loses nothing; nothing stays RUNNING."""

from __future__ import annotations

import time

import pytest

from imagescope.accounting.accounts import Accounts, Caller
from imagescope.db import open_database
from imagescope.errors import INTERRUPTED_CODE
from imagescope.tasks.spec import GenerationRequest, ImagePart
from imagescope.tasks.store import TaskStatus, TaskStore


def test_kill_9_with_tasks_in_flight_then_restart_every_task_finishes(make_server):
    s = make_server(IMAGESCOPE_WORKERS="1", IMAGESCOPE_LEASE_SECONDS="2")
    body = {
        "model": "wan2.5-t2i-preview",
        "input": {"prompt": "slow"},
        "parameters": {"size": "1440*1440", "n": 4, "prompt_extend": False},
    }
    ids = [s.submit(body).json()["output"]["task_id"] for _ in range(6)]
    deadline = time.time() + 30
    while time.time() < deadline and s.task(ids[0])["output"]["task_status"] != "RUNNING":
        time.sleep(0.01)
    statuses = {s.task(i)["output"]["task_status"] for i in ids}
    assert "RUNNING" in statuses and "PENDING" in statuses, statuses
    s.kill()

    s.start()
    finished = [s.wait(i, timeout=120)["output"] for i in ids]
    assert all(f["task_status"] in ("SUCCEEDED", "FAILED") for f in finished)
    assert [f["task_status"] for f in finished] == ["SUCCEEDED"] * 6  # interrupted tasks ran again
    assert all(len(f["results"]) == 4 for f in finished)


def test_one_process_restarting_alone_leaves_the_other_process_running_tasks_alone(tmp_path):
    from conftest import Server

    runner = Server(tmp_path, env={"IMAGESCOPE_WORKERS": "1", "IMAGESCOPE_LEASE_SECONDS": "3"}).start()
    front = Server(tmp_path, env={"IMAGESCOPE_WORKERS": "0", "IMAGESCOPE_LEASE_SECONDS": "3"}, key=runner.key).start()
    try:
        body = {
            "model": "wan2.5-t2i-preview",
            "input": {"prompt": "slow"},
            "parameters": {"size": "1440*1440", "n": 4, "prompt_extend": False},
        }
        ids = [front.submit(body).json()["output"]["task_id"] for _ in range(3)]
        deadline = time.time() + 30
        while time.time() < deadline and front.task(ids[0])["output"]["task_status"] != "RUNNING":
            time.sleep(0.01)
        started = front.task(ids[0])["output"]["scheduled_time"]
        front.kill()  # the API-only process dies and comes back while the runner works
        front.start()
        assert front.task(ids[0])["output"]["task_status"] in ("RUNNING", "SUCCEEDED")
        finished = [front.wait(i, timeout=120)["output"] for i in ids]
        assert [f["task_status"] for f in finished] == ["SUCCEEDED"] * 3
        assert finished[0]["scheduled_time"] == started  # ran once: never handed back to the queue
    finally:
        runner.stop(), front.stop()


def _request() -> GenerationRequest:
    return GenerationRequest("qwen-image", "p", "", (1328, 1328), 1, 1, False, False)


def claim(store: TaskStore, owner: str = "p1", lease_s: float = -1) -> str | None:
    """Claim as ``owner``; the default lease has already run out (its process is gone)."""
    return store.claim_next(lambda *_: 2, owner, lease_s)


@pytest.fixture
def store(tmp_path) -> TaskStore:
    engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    accounts = Accounts(engine)
    accounts.create_key("one"), accounts.create_key("two")  # account ids 1 and 2
    return TaskStore(engine)


def test_interrupted_task_runs_again_then_fails_with_internal_error_after_max_attempts(store):
    task = store.create(Caller(1, 1, ""), "text2image", _request(), "r")
    assert claim(store) == task.id
    requeued, failed = store.recover_expired(max_attempts=2)
    assert requeued == [task.id] and failed == []
    assert store.get(task.id).status is TaskStatus.PENDING
    assert claim(store) == task.id  # second attempt, interrupted again
    requeued, failed = store.recover_expired(max_attempts=2)
    assert requeued == [] and failed == [task.id]
    after = store.get(task.id)
    assert after.status is TaskStatus.FAILED and after.code == INTERRUPTED_CODE and after.end_time


def test_a_task_is_claimed_once_and_a_canceled_task_never_runs(store):
    a = store.create(Caller(1, 1, ""), "text2image", _request(), "r")
    assert claim(store) == a.id and claim(store) is None
    assert store.report(a.id, "p1", progress={"step": 1}) and not store.report(a.id, "p2")
    # Our addition to the hosted rule (PENDING only): a RUNNING task can be canceled too; its
    # worker learns it at its next report and whatever it then completes is discarded.
    assert store.cancel(a.id, 1)
    assert not store.report(a.id, "p1", results=[ImagePart(0, "x", 1328, 1328)])
    assert store.complete(a.id, "p1", [ImagePart(0, "x", 1328, 1328)], None) is TaskStatus.CANCELED
    assert store.get(a.id).results == [] and not store.cancel(a.id, 1)
    b = store.create(Caller(1, 1, ""), "text2image", _request(), "r")
    assert not store.cancel(b.id, 2)  # another account
    assert store.cancel(b.id, 1) and claim(store) is None


def test_a_live_lease_is_not_recovered_and_renewal_keeps_it_alive(store):
    task = store.create(Caller(1, 1, ""), "text2image", _request(), "r")
    assert claim(store, owner="alive", lease_s=0.5) == task.id
    assert store.recover_expired(max_attempts=2) == ([], [])
    time.sleep(0.3)
    assert store.renew("alive", 0.5) == 1 and store.renew("someone-else", 0.5) == 0
    time.sleep(0.3)  # past the first lease, inside the renewed one
    assert store.recover_expired(max_attempts=2) == ([], [])
    assert store.get(task.id).status is TaskStatus.RUNNING
    time.sleep(0.6)  # no renewal: the process is presumed dead
    assert store.recover_expired(max_attempts=2) == ([task.id], [])


def test_a_worker_whose_lease_was_taken_over_cannot_complete_the_task(store):
    task = store.create(Caller(1, 1, ""), "text2image", _request(), "r")
    assert claim(store, owner="old") == task.id
    store.recover_expired(max_attempts=3)
    assert claim(store, owner="new", lease_s=30) == task.id
    assert store.complete(task.id, "old", [ImagePart(0, "x", 1328, 1328)], None) is TaskStatus.RUNNING
    assert not store.fail(task.id, "InternalError", "m", owner="old")
    assert store.complete(task.id, "new", [ImagePart(0, "x", 1328, 1328)], None) is TaskStatus.SUCCEEDED
