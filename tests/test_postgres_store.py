"""The task store, limits, leases, usage, purge and restart on a real PostgreSQL server
(tests/postgres.py), as a deployment that scales out runs them: ``IMAGESCOPE_DATABASE_URL``.

Tests of the SQLite modules that need nothing SQLite's run here again, imported: pytest collects
them in this module, where ``store`` and ``make_server`` are PostgreSQL's. The rest are this
backend's own: limits across two processes, the ledger and usage, the database lost mid-work.
"""

from __future__ import annotations

import time

import pytest
import requests

from conftest import Server
from imagescope.accounting.accounts import Accounts
from imagescope.db import open_database
from imagescope.tasks.store import TaskStore
from test_lifetimes import test_task_and_files_are_purged_after_the_lifetime_and_then_read_unknown  # noqa: F401
from test_limits_and_billing import (  # noqa: F401
    QUICK,
    SLOW,
    burst,
    peak_running,
    test_fifty_parallel_submissions_never_more_than_two_running,
    test_submission_burst_over_the_rate_gets_429_rate_quota,
)
from test_restart import (  # noqa: F401
    test_a_live_lease_is_not_recovered_and_renewal_keeps_it_alive,
    test_a_task_is_claimed_once_and_a_canceled_task_never_runs,
    test_a_worker_whose_lease_was_taken_over_cannot_complete_the_task,
    test_interrupted_task_runs_again_then_fails_with_internal_error_after_max_attempts,
    test_kill_9_with_tasks_in_flight_then_restart_every_task_finishes,
)

ADMIN = "admin-token-for-tests"


@pytest.fixture
def store(postgres_url) -> TaskStore:
    """test_restart's store, on PostgreSQL: two accounts (ids 1 and 2)."""
    db = open_database(postgres_url)
    accounts = Accounts(db)
    accounts.create_key("one"), accounts.create_key("two")
    yield TaskStore(db)
    db.dispose()


@pytest.fixture
def make_server(tmp_path, postgres):
    """conftest's make_server, each server on a database of its own on the PostgreSQL server."""
    started: list[Server] = []

    def make(**env: str) -> Server:
        env = {"IMAGESCOPE_DATABASE_URL": postgres.migrated_database(), **env}
        server = Server(tmp_path / f"data{len(started)}", env=env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def test_concurrency_limit_is_exact_across_two_server_processes_on_one_postgresql_database(tmp_path, postgres_url):
    env = {"IMAGESCOPE_DATABASE_URL": postgres_url, "IMAGESCOPE_WORKERS": "3"}
    a = Server(tmp_path / "a", env=env).start()
    b = Server(tmp_path / "b", env=env, key=a.key).start()
    try:
        responses = burst([a, b], QUICK, 24)
        assert all(r.status_code == 200 for r in responses)
        outputs = [a.wait(r.json()["output"]["task_id"], timeout=120)["output"] for r in responses]
        assert all(o["task_status"] == "SUCCEEDED" for o in outputs)
        assert peak_running(outputs) == 2  # the account's limit, though the two processes have six workers
    finally:
        a.stop(), b.stop()


def test_free_quota_then_paid_images_land_in_the_ledger_and_the_usage_report(make_server):
    s = make_server(IMAGESCOPE_WORKERS="2", IMAGESCOPE_ADMIN_TOKEN=ADMIN)
    s.cli("accounts", "set-quota", "default", "--model", "qwen-image", "--images", "1")  # the CLI on PostgreSQL
    body = {"model": "qwen-image", "input": {"prompt": "x"}}
    free, paid = (s.run(body)["output"]["task_id"] for _ in range(2))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    ledger = requests.get(f"{s.url}/admin/v1/ledger", headers=admin, timeout=10).json()
    assert sorted((e["task_id"], e["kind"], e["amount"]) for e in ledger["entries"]) == sorted(
        [(free, "free", 0.0), (paid, "paid", 0.035)]
    )
    assert (ledger["total_images"], ledger["total_amount"]) == (2, 0.035)
    usage = requests.get(f"{s.url}/admin/v1/usage", headers=admin, timeout=10).json()["usage"]
    assert [(u["model"], u["invocations"], u["succeeded"], u["images"]) for u in usage] == [("qwen-image", 2, 2, 2)]
    report = s.cli("usage", "--model", "qwen-image").stdout
    assert "qwen-image" in report and "0.0350" in report


def test_the_database_lost_during_work_answers_503_then_recovers_and_no_task_is_lost(make_postgres, tmp_path):
    database = make_postgres()  # a server of this test's own: it is stopped and started
    env = {
        "IMAGESCOPE_DATABASE_URL": database.migrated_database(),
        "IMAGESCOPE_WORKERS": "2",
        "IMAGESCOPE_LEASE_SECONDS": "2",
    }
    s = Server(tmp_path, env=env).start()
    try:
        ended = s.run(QUICK)["output"]["task_id"]
        running = [s.submit(SLOW).json()["output"]["task_id"] for _ in range(2)]
        deadline = time.time() + 30
        while s.task(running[0])["output"]["task_status"] == "PENDING" and time.time() < deadline:
            time.sleep(0.01)
        database.stop()
        for r in (
            requests.get(f"{s.api}/tasks/{ended}", headers=s.headers(asynchronous=False), timeout=30),
            s.submit(QUICK),
        ):
            assert r.status_code == 503
            assert (
                r.json()["code"] == "ServiceUnavailable"
                and "psycopg" not in r.text
                and str(database.port) not in r.text
            )
        time.sleep(1)
        database.start()
        assert s.task(ended)["output"]["task_status"] == "SUCCEEDED"  # the pool reconnected
        finished = [s.wait(i, timeout=90)["output"]["task_status"] for i in running]
        assert finished == ["SUCCEEDED", "SUCCEEDED"]
        assert s.run(QUICK)["output"]["task_status"] == "SUCCEEDED"
    finally:
        s.stop()
