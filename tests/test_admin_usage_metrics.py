"""Workspaces, the admin API, usage reports and Prometheus metrics — over real HTTP."""

from __future__ import annotations

import threading
import time

import dashscope
import pytest
import requests
import uvicorn
from dashscope import ImageSynthesis

from conftest import Server
from imagescope.accounting.accounts import Accounts
from imagescope.app import create_app
from imagescope.config import Settings
from imagescope.db import open_database
from imagescope.engines import PreviewEngine

ADMIN = "admin-secret-token"
QUICK = {
    "model": "qwen-image-plus",
    "input": {"prompt": "a lighthouse"},
    "parameters": {"size": "1328*1328", "n": 1, "prompt_extend": False},
}
PAIR = {
    "model": "wan2.2-t2i-flash",
    "input": {"prompt": "two lighthouses"},
    "parameters": {"size": "512*512", "n": 2, "prompt_extend": False},
}


def admin(server: Server, method: str, path: str, token: str = ADMIN, **kwargs) -> requests.Response:
    return requests.request(
        method, f"{server.url}/admin/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs
    )


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            sample, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in sample for k, v in labels.items()):
                return float(value)
    return 0.0


@pytest.fixture
def admin_server(make_server) -> Server:
    return make_server(IMAGESCOPE_WORKERS="2", IMAGESCOPE_ADMIN_TOKEN=ADMIN)


def test_key_used_with_another_workspace_is_refused_with_workspace_access_denied(admin_server):
    s = admin_server
    assert admin(s, "POST", "/accounts", json={"name": "acme"}).status_code == 200
    team = admin(s, "POST", "/accounts/acme/workspaces", json={"name": "team"}).json()["workspace"]
    key = admin(s, "POST", "/accounts/acme/keys", json={"workspace": "team"}).json()
    assert key["key_info"]["workspace"] == team["id"]
    default_ws = next(
        w["id"]
        for w in admin(s, "GET", "/workspaces").json()["workspaces"]
        if w["account"] == "acme" and w["name"] == "default"
    )

    def submit(workspace: str | None) -> requests.Response:
        headers = s.headers(key["key"])
        if workspace:
            headers["X-DashScope-WorkSpace"] = workspace
        return requests.post(
            s.api + "/services/aigc/text2image/image-synthesis", json=QUICK, headers=headers, timeout=10
        )

    assert submit(None).status_code == 200  # no header: the key's own workspace
    assert submit(team["id"]).status_code == 200
    refused = submit(default_ws)  # same account, another workspace
    assert refused.status_code == 403
    assert refused.json()["code"] == "Workspace.AccessDenied"
    assert refused.json()["message"] == "Workspace access denied."
    assert submit("ws_doesnotexist").status_code == 403

    # The SDK's own workspace argument sends the same header.
    previous = dashscope.base_http_api_url
    dashscope.base_http_api_url = s.api
    try:
        rsp = ImageSynthesis.async_call(
            api_key=key["key"], model="qwen-image-plus", prompt="x", n=1, size="1328*1328", workspace=default_ws
        )
        assert rsp.status_code == 403 and rsp.code == "Workspace.AccessDenied"
        rsp = ImageSynthesis.async_call(
            api_key=key["key"], model="qwen-image-plus", prompt="x", n=1, size="1328*1328", workspace=team["id"]
        )
        assert rsp.status_code == 200 and rsp.output.task_status == "PENDING"
    finally:
        dashscope.base_http_api_url = previous


def test_admin_api_needs_the_admin_token_never_a_user_key(admin_server, make_server):
    s = admin_server
    assert admin(s, "GET", "/accounts", token=s.key).status_code == 401  # a user's API key
    assert admin(s, "GET", "/accounts", token="wrong").status_code == 401
    assert requests.get(f"{s.url}/admin/v1/accounts", timeout=10).status_code == 401
    unconfigured = make_server(IMAGESCOPE_WORKERS="0")
    assert admin(unconfigured, "GET", "/accounts").status_code == 404  # no token configured: no admin API


def test_admin_api_creates_accounts_and_keys_sets_limits_and_revokes(admin_server):
    s = admin_server
    assert admin(s, "POST", "/accounts", json={"name": "beta"}).status_code == 200
    created = admin(s, "POST", "/accounts/beta/keys", json={"name": "ci"}).json()
    assert created["key"].startswith("sk-") and created["key_info"]["account"] == "beta"
    assert s.run(QUICK, key=created["key"])["output"]["task_status"] == "SUCCEEDED"

    limits = admin(s, "PUT", "/accounts/beta/limits", json={"model": "qwen-image-plus", "submit_rps": 1}).json()
    assert limits["account"]["settings"]["qwen-image-plus"]["submit_rps"] == 1
    codes = [s.submit(QUICK, key=created["key"]).status_code for _ in range(3)]
    assert 429 in codes
    quota = admin(s, "PUT", "/accounts/beta/quota", json={"model": "*", "free_quota": 0}).json()
    assert quota["account"]["settings"]["*"]["free_quota"] == 0
    assert admin(s, "PUT", "/accounts/beta/free-only", json={"free_only": True}).json()["account"]["free_only"]
    refused = s.submit({**QUICK, "model": "qwen-image"}, key=created["key"])
    assert refused.status_code == 429 and refused.json()["code"] == "Throttling.AllocationQuota"

    assert admin(s, "PUT", "/accounts/nobody/limits", json={"concurrency": 1}).status_code == 404
    assert admin(s, "POST", "/accounts/beta/keys", json={"workspace": "nope"}).status_code == 400
    listed = [k for k in admin(s, "GET", "/keys").json()["keys"] if k["account"] == "beta"]
    assert [k["revoked"] for k in listed] == [False]
    assert admin(s, "DELETE", f"/keys/{listed[0]['id']}").status_code == 200
    assert s.submit(QUICK, key=created["key"]).status_code == 401
    assert admin(s, "DELETE", f"/keys/{listed[0]['id']}").status_code == 404


class FailsOnRequest(PreviewEngine):
    """Fails every image of a prompt that asks for it (the preview engine never fails)."""

    def generate(self, job, progress=None, should_stop=None):
        if "please fail" in job.prompt:
            raise RuntimeError("simulated engine fault")
        return super().generate(job)


@pytest.fixture
def failing_server(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        admin_token=ADMIN,
        task_ttl_s=3,
        purge_interval_s=0.5,
        model_overrides={"*": {"submit_rps": 1000}},
    )
    key, _ = Accounts(open_database(settings.db_url)).create_key("acme")
    handle = Server(tmp_path, env={}, key=key)
    app = create_app(settings, {"preview": FailsOnRequest()})
    server = uvicorn.Server(uvicorn.Config(app, port=handle.port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    yield handle
    server.should_exit = True


def test_usage_by_hour_and_day_counts_invocations_success_rate_images_spend_after_purge(failing_server):
    s = failing_server
    for body in (PAIR, PAIR, {**PAIR, "input": {"prompt": "please fail"}}):
        s.run(body)
    time.sleep(4)  # the tasks and their files are purged (TTL 3 s) ...
    gone = s.task(s.submit(PAIR).json()["output"]["task_id"])  # (and one more invocation)
    assert gone["output"]["task_status"] in ("PENDING", "RUNNING", "SUCCEEDED")
    s.wait(gone["output"]["task_id"])
    # ... but usage is kept.
    for granularity in ("hour", "day"):
        rows = admin(s, "GET", "/usage", params={"granularity": granularity, "account": "acme"}).json()["usage"]
        assert len(rows) == 1, rows  # all within this hour (or a boundary: rerun)
        row = rows[0]
        assert (row["account"], row["model"]) == ("acme", "wan2.2-t2i-flash")
        assert (row["invocations"], row["succeeded"], row["failed"], row["canceled"]) == (4, 3, 1, 0)
        assert row["success_rate"] == pytest.approx(0.75)
        assert row["images"] == 6 and row["free_images"] == 6 and row["spend"] == 0.0
    assert admin(s, "GET", "/usage", params={"granularity": "week"}).status_code == 400
    ledger = admin(s, "GET", "/ledger", params={"account": "acme"}).json()
    assert ledger["total_images"] == 6 and len(ledger["entries"]) == 3


def test_usage_command_prints_a_table_with_spend(make_server):
    s = make_server(IMAGESCOPE_WORKERS="2", IMAGESCOPE_FREE_QUOTA_IMAGES="1")
    for _ in range(3):  # 1 free, 2 paid at $0.03
        s.run(QUICK)
    out = s.cli("usage", "--by", "day").stdout
    assert "qwen-image-plus" in out and "default" in out
    assert "100.0%" in out and "0.0600" in out
    by_hour = s.cli("usage", "--model", "qwen-image").stdout
    assert "qwen-image-plus" not in by_hour


def test_metrics_count_requests_tasks_images_and_show_queue_depth(make_server):
    s = make_server(IMAGESCOPE_WORKERS="2")
    s.run(PAIR)
    requests.post(
        s.api + "/services/aigc/text2image/image-synthesis", json=QUICK, headers=s.headers("sk-wrong"), timeout=10
    )
    text = requests.get(f"{s.url}/metrics", timeout=10).text
    endpoint = "/api/v1/services/aigc/text2image/image-synthesis"
    assert metric(text, "imagescope_requests_total", endpoint=endpoint, code="200") == 1
    assert metric(text, "imagescope_requests_total", endpoint=endpoint, code="401") == 1
    assert metric(text, "imagescope_requests_total", endpoint="/api/v1/tasks/{task_id}", code="200") >= 1
    assert metric(text, "imagescope_task_duration_seconds_count", model="wan2.2-t2i-flash", status="SUCCEEDED") == 1
    assert metric(text, "imagescope_images_generated_total", model="wan2.2-t2i-flash") == 2

    idle = make_server(IMAGESCOPE_WORKERS="0")  # accepts, runs nothing: a queue builds up
    ids = [idle.submit(QUICK).json()["output"]["task_id"] for _ in range(3)]
    requests.post(f"{idle.api}/tasks/{ids[0]}/cancel", headers=idle.headers(asynchronous=False), timeout=10)
    text = requests.get(f"{idle.url}/metrics", timeout=10).text
    assert metric(text, "imagescope_queue_depth", model="qwen-image-plus") == 2
    assert metric(text, "imagescope_tasks_running", model="qwen-image-plus") == 0
    assert metric(text, "imagescope_task_duration_seconds_count", model="qwen-image-plus", status="CANCELED") == 1
