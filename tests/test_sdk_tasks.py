"""ImageSynthesis.call / async_call / fetch / wait / cancel / list through the official SDK."""

from __future__ import annotations

from http import HTTPStatus

import dashscope
import pytest
from dashscope import ImageSynthesis

from conftest import download


def test_sdk_call_blocks_until_succeeded_with_one_result_per_image(sdk):
    rsp = ImageSynthesis.call(
        api_key=sdk.key,
        model="wan2.2-t2i-flash",
        prompt="snowy chapel",
        n=3,
        size="768*512",
        seed=7,
        prompt_extend=False,
    )
    assert rsp.status_code == HTTPStatus.OK
    assert rsp.output.task_status == "SUCCEEDED"
    assert len(rsp.output.results) == 3
    assert rsp.output.task_metrics == {"TOTAL": 3, "SUCCEEDED": 3, "FAILED": 0}
    assert rsp.usage.image_count == 3
    for result in rsp.output.results:
        assert result.orig_prompt == "snowy chapel"
        assert "actual_prompt" not in result  # prompt_extend was off
        assert download(result.url).size == (768, 512)


def test_sdk_async_call_answers_pending_then_fetch_and_wait_see_it_finish(sdk):
    task = ImageSynthesis.async_call(api_key=sdk.key, model="qwen-image", prompt="a red kite", n=1)
    assert task.status_code == HTTPStatus.OK
    assert task.output.task_status == "PENDING"
    assert task.request_id
    fetched = ImageSynthesis.fetch(task, api_key=sdk.key)
    assert fetched.status_code == HTTPStatus.OK
    assert fetched.output.task_status in ("PENDING", "RUNNING", "SUCCEEDED")
    done = ImageSynthesis.wait(task, api_key=sdk.key)
    assert done.output.task_status == "SUCCEEDED"
    assert done.output.task_id == task.output.task_id
    assert done.output.results[0].actual_prompt  # prompt_extend defaults to true
    assert download(done.output.results[0].url).size == (1328, 1328)


def test_sdk_errors_come_back_as_status_code_and_message(sdk):
    rsp = ImageSynthesis.async_call(api_key=sdk.key, model="qwen-image", prompt="x", n=2)
    assert rsp.status_code == 400
    assert rsp.code == "InvalidParameter"
    assert rsp.message == "num_images_per_prompt must be 1"
    rsp = ImageSynthesis.async_call(api_key="sk-not-a-key", model="qwen-image", prompt="x")
    assert rsp.status_code == 401
    assert rsp.code == "InvalidApiKey"
    assert rsp.message == "Invalid API-key provided."


@pytest.fixture
def idle_server(make_server):
    """No workers: every accepted task stays PENDING, so cancel can be shown deterministically."""
    s = make_server(IMAGESCOPE_WORKERS="0")
    previous = dashscope.base_http_api_url
    dashscope.base_http_api_url = s.api
    yield s
    dashscope.base_http_api_url = previous


def test_sdk_cancel_of_a_pending_task_makes_it_canceled(idle_server):
    task = ImageSynthesis.async_call(api_key=idle_server.key, model="wan2.5-t2i-preview", prompt="x", n=1)
    rsp = ImageSynthesis.cancel(task, api_key=idle_server.key)
    assert rsp.status_code == HTTPStatus.OK
    assert rsp.request_id
    status = ImageSynthesis.fetch(task, api_key=idle_server.key)
    assert status.output.task_status == "CANCELED"
    assert ImageSynthesis.wait(task, api_key=idle_server.key).output.task_status == "CANCELED"


def test_sdk_cancel_of_a_finished_task_is_unsupported_operation(sdk):
    task = ImageSynthesis.call(api_key=sdk.key, model="qwen-image", prompt="x")
    rsp = ImageSynthesis.cancel(task.output.task_id, api_key=sdk.key)
    assert rsp.status_code == 400
    assert rsp.code == "UnsupportedOperation"
    assert rsp.message == "Failed to cancel the task, please confirm if the task is in PENDING status."
    assert ImageSynthesis.fetch(task.output.task_id, api_key=sdk.key).output.task_status == "SUCCEEDED"


def test_sdk_list_filters_by_model_and_status_and_pages(make_server):
    s = make_server()
    dashscope.base_http_api_url = s.api
    try:
        ids = [
            ImageSynthesis.call(api_key=s.key, model="wanx2.1-t2i-turbo", prompt=f"p{i}", n=1).output.task_id
            for i in range(3)
        ]
        ImageSynthesis.call(api_key=s.key, model="qwen-image-plus", prompt="other", n=1)
        page = ImageSynthesis.list(
            api_key=s.key, model_name="wanx2.1-t2i-turbo", status="SUCCEEDED", page_no=1, page_size=2
        )
        assert page.status_code == HTTPStatus.OK
        assert page.output["total"] == 3
        assert page.output["total_page"] == 2
        assert page.output["page_no"] == 1 and page.output["page_size"] == 2
        first = [t["task_id"] for t in page.output["data"]]
        second = [
            t["task_id"]
            for t in ImageSynthesis.list(api_key=s.key, model_name="wanx2.1-t2i-turbo", page_no=2, page_size=2).output[
                "data"
            ]
        ]
        assert sorted(first + second) == sorted(ids)  # newest first, no task twice
        assert all(t["status"] == "SUCCEEDED" and t["model_name"] == "wanx2.1-t2i-turbo" for t in page.output["data"])
        assert ImageSynthesis.list(api_key=s.key, status="FAILED").output["total"] == 0
        everything = ImageSynthesis.list(api_key=s.key, start_time="20200101000000", end_time="20991231235959")
        assert everything.output["total"] == 4
        none_yet = ImageSynthesis.list(api_key=s.key, end_time="20200101000000")
        assert none_yet.output["total"] == 0
        bad = ImageSynthesis.list(api_key=s.key, start_time="yesterday")
        assert bad.status_code == 400 and bad.code == "InvalidParameter" and "start_time" in bad.message
    finally:
        dashscope.base_http_api_url = "https://dashscope.aliyuncs.com/api/v1"


def test_sdk_list_shows_only_the_callers_account(sdk):
    other = sdk.new_key(account="someone-else")
    ImageSynthesis.call(api_key=sdk.key, model="qwen-image", prompt="mine")
    assert ImageSynthesis.list(api_key=other).output["total"] == 0
