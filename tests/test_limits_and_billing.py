"""Account limits and billing over real HTTP: submission rate (429), concurrency (the rest wait
PENDING), free quota and "free quota only", the ledger — also across two server processes."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from conftest import Server

SLOW = {
    "model": "wan2.5-t2i-preview",
    "input": {"prompt": "slow"},
    "parameters": {"size": "1440*1440", "n": 2, "prompt_extend": False},
}
QUICK = {
    "model": "wan2.2-t2i-flash",
    "input": {"prompt": "quick"},
    "parameters": {"size": "512*512", "n": 1, "prompt_extend": False},
}


def ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def peak_running(outputs: list[dict]) -> int:
    """Most tasks RUNNING at once, from their scheduled (start) and end times."""
    events = []
    for out in outputs:
        events += [(ts(out["scheduled_time"]), 1), (ts(out["end_time"]), -1)]
    peak = running = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same ms
        running += step
        peak = max(peak, running)
    return peak


def ledger(server: Server) -> list[tuple]:
    db = sqlite3.connect(server.data_dir / "imagescope.db")
    return db.execute("select task_id, model, images, unit_price, kind, amount from ledger order by id").fetchall()


def burst(servers: list[Server], body: dict, count: int) -> list:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: servers[i % len(servers)].submit(body), range(count)))


def accepted_per_second_window(server: Server, responses) -> int:
    times = sorted(
        ts(server.task(r.json()["output"]["task_id"])["output"]["submit_time"])
        for r in responses
        if r.status_code == 200
    )
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_submission_burst_over_the_rate_gets_429_rate_quota(make_server):
    s = make_server(IMAGESCOPE_WORKERS="0", IMAGESCOPE_SUBMIT_RPS="2")  # the hosted default
    responses = burst([s], QUICK, 12)
    refused = [r for r in responses if r.status_code == 429]
    assert refused and len(refused) < 12
    assert {(r.json()["code"], r.json()["message"]) for r in refused} == {
        ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
    }
    assert accepted_per_second_window(s, responses) <= 2
    # The limit is per model: another model is still accepted right away.
    assert s.submit({**QUICK, "model": "wanx2.1-t2i-turbo"}).status_code == 200
    time.sleep(1.05)
    assert s.submit(QUICK).status_code == 200  # the window moved on


def test_fifty_parallel_submissions_never_more_than_two_running(make_server):
    s = make_server(IMAGESCOPE_WORKERS="8")  # more workers than the account may use
    responses = burst([s], QUICK, 50)
    assert all(r.status_code == 200 for r in responses)
    outputs = [s.wait(r.json()["output"]["task_id"], timeout=120)["output"] for r in responses]
    assert all(o["task_status"] == "SUCCEEDED" for o in outputs)
    assert peak_running(outputs) == 2


def test_task_waiting_for_a_slot_stays_pending_and_can_be_canceled(make_server):
    s = make_server(IMAGESCOPE_WORKERS="4", IMAGESCOPE_CONCURRENCY="1")
    first, second, third = (s.submit(SLOW).json()["output"]["task_id"] for _ in range(3))
    while s.task(first)["output"]["task_status"] == "PENDING":
        time.sleep(0.01)
    assert s.task(third)["output"]["task_status"] == "PENDING"
    import requests

    assert requests.post(f"{s.api}/tasks/{third}/cancel", headers=s.headers(asynchronous=False)).status_code == 200
    assert s.wait(first)["output"]["task_status"] == "SUCCEEDED"
    assert s.wait(second)["output"]["task_status"] == "SUCCEEDED"
    assert s.task(third)["output"]["task_status"] == "CANCELED"
    assert [row[0] for row in ledger(s)] == [first, second]  # canceled tasks cost nothing


def test_limits_hold_across_two_server_processes_sharing_one_database(tmp_path):
    env = {"IMAGESCOPE_WORKERS": "3", "IMAGESCOPE_SUBMIT_RPS": "1000"}
    a = Server(tmp_path, env=env).start()
    b = Server(tmp_path, env=env, key=a.key).start()
    try:
        responses = burst([a, b], QUICK, 30)
        assert all(r.status_code == 200 for r in responses)
        outputs = [a.wait(r.json()["output"]["task_id"], timeout=120)["output"] for r in responses]
        assert peak_running(outputs) == 2
        a.env["IMAGESCOPE_SUBMIT_RPS"] = b.env["IMAGESCOPE_SUBMIT_RPS"] = "2"
    finally:
        a.stop(), b.stop()
    # Restarted with the hosted rate: both processes share one window.
    a.start(), b.start()
    try:
        responses = burst([a, b], QUICK, 12)
        assert any(r.status_code == 429 for r in responses)
        assert accepted_per_second_window(a, responses) <= 2
    finally:
        a.stop(), b.stop()


@pytest.mark.parametrize("free_only", [True, False])
def test_free_quota_is_used_first_then_refused_if_free_only_else_paid(make_server, free_only):
    s = make_server(IMAGESCOPE_WORKERS="2")
    s.cli("accounts", "set-quota", "default", "--model", "qwen-image", "--images", "2")
    if free_only:
        s.cli("accounts", "free-only", "default", "--on")
    body = {"model": "qwen-image", "input": {"prompt": "x"}}
    t1, t2 = s.run(body)["output"]["task_id"], s.run(body)["output"]["task_id"]
    r = s.submit(body)
    if free_only:
        assert r.status_code == 429
        assert (r.json()["code"], r.json()["message"]) == (
            "Throttling.AllocationQuota",
            "Free allocated quota exceeded.",
        )
        assert ledger(s) == [(t1, "qwen-image", 1, 0.035, "free", 0.0), (t2, "qwen-image", 1, 0.035, "free", 0.0)]
        # Other models keep their own quota.
        assert s.submit({"model": "qwen-image-plus", "input": {"prompt": "x"}}).status_code == 200
    else:
        t3 = s.wait(r.json()["output"]["task_id"])["output"]["task_id"]
        assert ledger(s)[-1] == (t3, "qwen-image", 1, 0.035, "paid", 0.035)


def test_expired_free_quota_refuses_free_only_accounts(make_server):
    from imagescope.accounting.accounts import Accounts
    from imagescope.db import open_database

    s = make_server(IMAGESCOPE_WORKERS="0")
    accounts = Accounts(open_database(f"sqlite:///{s.data_dir / 'imagescope.db'}"))
    accounts.set_free_only("default", True)
    accounts.set_activated_at("default", time.time() - 91 * 24 * 3600)  # valid 90 days
    r = s.submit({"model": "qwen-image-plus", "input": {"prompt": "x"}})
    assert (r.status_code, r.json()["code"]) == (429, "Throttling.AllocationQuota")


def test_per_account_limit_overrides_the_catalog(make_server):
    s = make_server(IMAGESCOPE_WORKERS="0", IMAGESCOPE_SUBMIT_RPS="2")
    s.cli("accounts", "set-limits", "default", "--model", "wan2.2-t2i-flash", "--rps", "20")
    assert all(r.status_code == 200 for r in burst([s], QUICK, 10))
