"""Per-image failures: SUCCEEDED with per-image code/message when any image is made,
FAILED with code/message when none is. Served by a real uvicorn server with an engine
that fails on purpose (the preview engine never fails)."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from dashscope import ImageSynthesis
import dashscope

from conftest import Server, download
from test_limits_and_billing import ledger
from imagescope.accounting.accounts import Accounts
from imagescope.app import create_app
from imagescope.config import Settings
from imagescope.db import make_engine
from imagescope.engines import PreviewEngine


class FailsOnOddImages(PreviewEngine):
    def generate(self, job, progress=None, should_stop=None):
        if job.index % 2 == 1:
            raise RuntimeError("simulated engine fault")
        return super().generate(job)


class AlwaysFails(PreviewEngine):
    def generate(self, job, progress=None, should_stop=None):
        raise RuntimeError("simulated engine fault")


def serve_in_thread(tmp_path, engine) -> tuple[Server, uvicorn.Server]:
    settings = Settings(data_dir=tmp_path)
    key, _ = Accounts(make_engine(settings.db_url)).create_key()
    handle = Server(tmp_path, env={}, key=key)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, {"preview": engine}), port=handle.port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return handle, server


@pytest.fixture
def flaky(tmp_path):
    handle, server = serve_in_thread(tmp_path, FailsOnOddImages())
    yield handle
    server.should_exit = True


@pytest.fixture
def broken(tmp_path):
    handle, server = serve_in_thread(tmp_path, AlwaysFails())
    yield handle
    server.should_exit = True


def test_partly_failed_task_is_succeeded_with_per_image_errors_and_counts_only_successes(flaky):
    done = flaky.run({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"n": 4, "size": "512*512"}})
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["task_metrics"] == {"TOTAL": 4, "SUCCEEDED": 2, "FAILED": 2}
    assert done["usage"] == {"image_count": 2}
    assert [("url" in r) for r in out["results"]] == [True, False, True, False]
    assert out["results"][1]["code"] == "InternalError" and out["results"][1]["message"]
    download(out["results"][2]["url"])
    # Billed for its two successful images only.
    assert ledger(flaky) == [(out["task_id"], "wan2.2-t2i-flash", 2, 0.0, "free", 0.0)]


def test_task_with_no_image_is_failed_with_code_and_message(broken):
    dashscope.base_http_api_url = broken.api
    try:
        rsp = ImageSynthesis.call(api_key=broken.key, model="wan2.2-t2i-flash", prompt="x", n=2)
    finally:
        dashscope.base_http_api_url = "https://dashscope.aliyuncs.com/api/v1"
    assert rsp.output.task_status == "FAILED"
    assert rsp.output.code == "InternalError" and rsp.output.message
    assert rsp.output.task_metrics == {"TOTAL": 2, "SUCCEEDED": 0, "FAILED": 2}
    assert not rsp.output.results and not rsp.usage
    assert ledger(broken) == []  # failed tasks cost nothing
