"""Per-image failures: SUCCEEDED with per-image code/message when any image is made,
FAILED with code/message when none is. Served by a real uvicorn server with an engine
that fails on purpose (the preview engine never fails).

What an engine raises reaches the client only as the worker decides: ``JobRefused`` as
InvalidParameter with its own message; anything else (a ValueError from PIL or torch, a
misconfiguration) as the generic InternalError, its text kept in the log."""

from __future__ import annotations

import threading
import time

import dashscope
import pytest
import requests
import uvicorn
from dashscope import ImageSynthesis

from conftest import Server, download
from imagescope.accounting.accounts import Accounts
from imagescope.app import create_app
from imagescope.config import Settings
from imagescope.db import open_database
from imagescope.engines import JobRefused, PreviewEngine
from imagescope.errors import INTERNAL_ERROR_MESSAGE
from test_image2image import EDIT_PATH, pattern, png_uri
from test_limits_and_billing import ledger


class FailsOnOddImages(PreviewEngine):
    def generate(self, job, progress=None, should_stop=None):
        if job.index % 2 == 1:
            raise RuntimeError("simulated engine fault")
        return super().generate(job)


class AlwaysFails(PreviewEngine):
    def generate(self, job, progress=None, should_stop=None):
        raise RuntimeError("simulated engine fault")


class RaisesValueError(PreviewEngine):
    """An engine bug surfacing as a ValueError, as PIL and torch raise them, with a server path in it."""

    def generate(self, job, progress=None, should_stop=None):
        raise ValueError("cannot reshape array of size 3 into shape (2,2): /srv/models/secret")


class RefusesTheFirstImage(PreviewEngine):
    """Refuses image 0 of a task as the user asked for it; draws the others."""

    def generate(self, job, progress=None, should_stop=None):
        if job.index == 0:
            raise JobRefused("This engine cannot draw the first image as asked.")
        return super().generate(job)


class TextOnly:
    """An engine with one ability: text to image."""

    name = "text-only"

    def generate(self, job, progress=None, should_stop=None):
        return PreviewEngine().generate(job)


def serve_in_thread(tmp_path, engine) -> tuple[Server, uvicorn.Server]:
    settings = Settings(data_dir=tmp_path)
    key, _ = Accounts(open_database(settings.db_url)).create_key()
    handle = Server(tmp_path, env={}, key=key)
    app = create_app(settings, {"preview": engine})
    server = uvicorn.Server(uvicorn.Config(app, port=handle.port, log_level="warning"))
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


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(engine) -> Server:
        handle, server = serve_in_thread(tmp_path / f"data{len(started)}", engine)
        started.append(server)
        return handle

    yield start
    for server in started:
        server.should_exit = True


def test_an_engines_value_error_answers_internal_error_without_its_text(serve, caplog):
    handle = serve(RaisesValueError())
    done = handle.run({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"size": "512*512"}})
    out = done["output"]
    assert out["task_status"] == "FAILED" and out["code"] == "InternalError"
    assert out["message"] == INTERNAL_ERROR_MESSAGE and "secret" not in str(done)
    assert "/srv/models/secret" in caplog.text and out["task_id"] in caplog.text  # logged, with the task id


def test_a_job_refused_reaches_the_client_as_the_images_invalid_parameter(serve):
    handle = serve(RefusesTheFirstImage())
    body = {"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"n": 2, "size": "512*512"}}
    out = handle.run(body)["output"]
    assert out["task_status"] == "SUCCEEDED" and out["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}
    assert out["results"][0] == {
        "code": "InvalidParameter",
        "message": "This engine cannot draw the first image as asked.",
    }
    assert "url" in out["results"][1]
    body["parameters"]["n"] = 1  # no image made: the task FAILS with the refusal
    out = handle.run(body)["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "InvalidParameter")
    assert out["message"] == "This engine cannot draw the first image as asked."


def test_a_model_bound_to_an_engine_without_the_ability_fails_with_a_clear_message(serve):
    handle = serve(TextOnly())
    body = {
        "model": "wan2.5-i2i-preview",
        "input": {"prompt": "x", "images": [png_uri(pattern("ramp"))]},
        "parameters": {"n": 1},
    }
    r = requests.post(handle.api + EDIT_PATH, json=body, headers=handle.headers(), timeout=30)
    assert r.status_code == 200, r.text
    out = handle.wait(r.json()["output"]["task_id"])["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "InvalidParameter")
    assert out["message"] == "The engine of wan2.5-i2i-preview cannot edit images."
