"""Long-poll: ``GET /api/v1/tasks/{id}?wait=N`` answers as soon as the task ends (woken by the
end, not a sleep loop), or after N seconds (0–60) with the task as it stands; an ended or
unknown task answers at once. Many waiting calls hold no threads: plain calls still answer."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests

from conftest import Server
from imagescope.tasks.wakeups import TaskEvents

IDLE_BODY = {"model": "wan2.2-t2i-flash", "input": {"prompt": "a long wait"}, "parameters": {"n": 1}}
# On the preview engine a few hundred ms of work: the long-poll starts well before the end.
SLOW_BODY = {
    "model": "wan2.5-t2i-preview",
    "input": {"prompt": "slow"},
    "parameters": {"size": "1440*1440", "n": 4, "prompt_extend": False},
}


@pytest.fixture(scope="module")
def idle(tmp_path_factory) -> Server:
    """A server that runs no task (IMAGESCOPE_WORKERS=0): every task stays PENDING until canceled."""
    s = Server(tmp_path_factory.mktemp("idle"), env={"IMAGESCOPE_WORKERS": "0"}).start()
    yield s
    s.stop()


def long_poll(
    server: Server, task_id: str, wait: str | None, key: str | None = None
) -> tuple[requests.Response, float]:
    """The answer and the time (Unix seconds) it arrived."""
    params = None if wait is None else {"wait": wait}
    r = requests.get(f"{server.api}/tasks/{task_id}", params=params, headers=server.headers(key, False), timeout=90)
    return r, time.time()


def pending(server: Server) -> str:
    r = server.submit(IDLE_BODY)
    assert r.status_code == 200, r.text
    return r.json()["output"]["task_id"]


def cancel(server: Server, task_id: str) -> None:
    r = requests.post(f"{server.api}/tasks/{task_id}/cancel", headers=server.headers(None, False), timeout=10)
    assert r.status_code == 200, r.text


def end_time(output: dict) -> float:
    """``end_time`` (UTC+8, ms) as Unix seconds."""
    return datetime.strptime(output["end_time"] + " +0800", "%Y-%m-%d %H:%M:%S.%f %z").timestamp()


def test_wait_answers_at_the_tasks_end_within_a_second_and_well_before_wait(server):
    latencies = []
    for _ in range(3):
        task_id = server.submit(SLOW_BODY).json()["output"]["task_id"]
        asked = time.time()
        r, answered = long_poll(server, task_id, "30")
        assert r.status_code == 200, r.text
        output = r.json()["output"]
        assert output["task_status"] == "SUCCEEDED" and len(output["results"]) == 4
        assert asked < end_time(output) and answered - asked < 20  # asked while it ran, answered at its end
        latencies.append(answered - end_time(output))
    print(f"wake-up latency (answer - end_time), worker completions: {[round(s, 3) for s in latencies]}")
    assert max(latencies) < 1.0
    assert statistics.median(latencies) < 0.25  # woken by the end: a 1 s re-read alone would rarely be this quick


def test_wait_is_woken_by_a_cancel(idle):
    task_id = pending(idle)
    answer: list[tuple[requests.Response, float]] = []
    poller = threading.Thread(target=lambda: answer.append(long_poll(idle, task_id, "60")))
    asked = time.time()
    poller.start()
    time.sleep(1.5)
    assert not answer  # still waiting on a PENDING task
    cancel(idle, task_id)
    poller.join(10)
    ((r, answered),) = answer
    output = r.json()["output"]
    assert output["task_status"] == "CANCELED"
    latency = answered - end_time(output)
    print(f"wake-up latency (answer - end_time), cancel: {latency:.3f}")
    assert 1.4 < answered - asked < 5 and latency < 0.25


def test_wait_on_an_ended_task_answers_at_once(idle):
    task_id = pending(idle)
    cancel(idle, task_id)
    asked = time.time()
    r, answered = long_poll(idle, task_id, "60")
    assert r.status_code == 200 and r.json()["output"]["task_status"] == "CANCELED"
    assert answered - asked < 0.5


def test_wait_on_an_unknown_task_answers_unknown_at_once(idle):
    other = idle.new_key("someone-else")
    mine = pending(idle)
    for task_id, key in ((str(uuid.uuid4()), None), ("not-a-task", None), (mine, other)):  # another's task: unknown
        asked = time.time()
        r, answered = long_poll(idle, task_id, "60", key)
        assert r.status_code == 200 and r.json()["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
        assert answered - asked < 0.5
    cancel(idle, mine)


def test_wait_times_out_after_n_seconds_with_the_task_as_it_stands(idle):
    task_id = pending(idle)
    asked = time.time()
    r, answered = long_poll(idle, task_id, "2")
    assert r.status_code == 200 and r.json()["output"]["task_status"] == "PENDING"
    assert 2.0 <= answered - asked < 3.0
    for wait in ("0", None):  # absent or 0: at once, as without long-poll
        asked = time.time()
        r, answered = long_poll(idle, task_id, wait)
        assert r.json()["output"]["task_status"] == "PENDING" and answered - asked < 0.5
    cancel(idle, task_id)


@pytest.mark.parametrize("wait", ["-1", "61", "100", "1.5", "abc", "", " 5", "²", "0060", "1e1", "9" * 5000])
def test_bad_wait_answers_400_invalid_parameter(idle, wait):
    r, _ = long_poll(idle, str(uuid.uuid4()), wait)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "InvalidParameter"
    assert body["message"].startswith("wait must be an integer in [0, 60], got ")
    assert len(body["message"]) < 120  # a long bad value is not repeated whole


def test_wait_is_documented_in_the_schema(idle):
    schema = requests.get(f"{idle.url}/openapi.json", timeout=10).json()
    parameters = schema["paths"]["/api/v1/tasks/{task_id}"]["get"]["parameters"]
    assert "wait" in {p["name"] for p in parameters if p["in"] == "query"}


def test_fifty_concurrent_long_polls_all_answer_and_plain_calls_still_answer_meanwhile(idle):
    ids = [pending(idle) for _ in range(50)]
    with ThreadPoolExecutor(50) as pool:
        polls = [pool.submit(long_poll, idle, task_id, "30") for task_id in ids]
        time.sleep(1.5)  # every poll is waiting now (and re-read the store at least once)
        assert not any(p.done() for p in polls)
        asked = time.time()
        plain = idle.task(ids[0])  # more waiting calls than the threadpool has threads: not starved
        assert plain["output"]["task_status"] == "PENDING" and time.time() - asked < 0.5
        r, answered = long_poll(idle, ids[1], "1")
        assert r.json()["output"]["task_status"] == "PENDING"
        canceled_at = time.time()
        for task_id in ids:
            cancel(idle, task_id)
        answers = [p.result(timeout=20) for p in polls]
    assert [r.json()["output"]["task_status"] for r, _ in answers] == ["CANCELED"] * 50
    assert max(at for _, at in answers) - canceled_at < 5


def test_a_task_ended_by_another_process_is_seen_within_the_reread_interval(tmp_path):
    """An API-only node (no workers) long-polls a task the runner process completes."""
    runner = Server(tmp_path, env={"IMAGESCOPE_WORKERS": "0"}).start()
    front = Server(tmp_path, env={"IMAGESCOPE_WORKERS": "0"}, key=runner.key).start()
    try:
        task_id = pending(front)
        answer: list[tuple[requests.Response, float]] = []
        poller = threading.Thread(target=lambda: answer.append(long_poll(front, task_id, "30")))
        poller.start()
        time.sleep(0.5)
        cancel(runner, task_id)  # ended by the other process: no wake-up here, the re-read sees it
        poller.join(10)
        ((r, answered),) = answer
        output = r.json()["output"]
        assert output["task_status"] == "CANCELED"
        assert answered - end_time(output) < 1.5
    finally:
        front.stop()
        runner.stop()


def test_task_events_wake_a_waiter_from_another_thread_at_once():
    async def scenario() -> tuple[bool, float, bool, int]:
        events = TaskEvents()
        with events.watch("t") as end:
            timer = threading.Timer(0.2, events.ended, args=("t",))
            started = time.monotonic()
            timer.start()
            woke = await end.wait(10)
            took = time.monotonic() - started
        with events.watch("u") as other:
            timed_out = not await other.wait(0.05)
        return woke, took, timed_out, events.watching()

    woke, took, timed_out, left = asyncio.run(scenario())
    assert woke and 0.15 < took < 0.4 and timed_out and left == 0
