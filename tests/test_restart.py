"""Durability: a hard kill with tasks in flight loses nothing; nothing stays RUNNING."""

from __future__ import annotations

import time

import pytest

from imagescope.accounts import Accounts
from imagescope.db import make_engine
from imagescope.errors import INTERRUPTED_CODE
from imagescope.request import GenerationRequest
from imagescope.taskstore import TaskStatus, TaskStore


def test_kill_9_with_tasks_in_flight_then_restart_every_task_finishes(make_server):
    s = make_server(IMAGESCOPE_WORKERS="1")
    body = {"model": "wan2.5-t2i-preview", "input": {"prompt": "slow"},
            "parameters": {"size": "1440*1440", "n": 4, "prompt_extend": False}}
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


def _request() -> GenerationRequest:
    return GenerationRequest("qwen-image", "p", "", 1328, 1328, 1, 1, False, False)


def claim(store: TaskStore) -> str | None:
    return store.claim_next(lambda *_: 2)


@pytest.fixture
def store(tmp_path) -> TaskStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    accounts = Accounts(engine)
    accounts.create_key("one"), accounts.create_key("two")  # account ids 1 and 2
    return TaskStore(engine)


def test_interrupted_task_runs_again_then_fails_with_internal_error_after_max_attempts(store):
    task = store.create(1, 1, "text2image", _request(), "r")
    assert claim(store) == task.id
    requeued, failed = store.recover_interrupted(max_attempts=2)
    assert requeued == [task.id] and failed == []
    assert store.get(task.id).status is TaskStatus.PENDING
    assert claim(store) == task.id  # second attempt, interrupted again
    requeued, failed = store.recover_interrupted(max_attempts=2)
    assert requeued == [] and failed == [task.id]
    after = store.get(task.id)
    assert after.status is TaskStatus.FAILED and after.code == INTERRUPTED_CODE and after.end_time


def test_a_task_is_claimed_once_and_a_canceled_task_never_runs(store):
    a = store.create(1, 1, "text2image", _request(), "r")
    assert claim(store) == a.id and claim(store) is None
    assert not store.cancel(a.id, 1)  # RUNNING: too late
    b = store.create(1, 1, "text2image", _request(), "r")
    assert not store.cancel(b.id, 2)  # another account
    assert store.cancel(b.id, 1) and claim(store) is None
