"""The messages protocol: synchronous ``multimodal-generation`` (qwen-image family, wan2.6-t2i,
qwen-image-edit family, wan2.6-image editing), asynchronous ``image-generation`` (wan2.6) and the
streamed interleaved mode of wan2.6-image — over HTTP and through the SDK's
``MultiModalConversation`` and ``ImageGeneration``."""

from __future__ import annotations

import io
import json

import pytest
import requests
from dashscope import MultiModalConversation
from dashscope.aigc.image_generation import ImageGeneration
from PIL import Image

from conftest import download
from imagescope.http.multimodal.protocol import to_generation_request
from imagescope.inputs.intake import proportional_size
from imagescope.models.catalog import Catalog
from test_image2image import HOSTILE_AT_SUBMISSION, pattern, png_uri

SYNC_PATH = "/services/aigc/multimodal-generation/generation"
ASYNC_PATH = "/services/aigc/image-generation/generation"


def message(*content: dict) -> dict:
    return {"messages": [{"role": "user", "content": list(content)}]}


def call(server, model: str, *content: dict, sse: bool = False, **parameters) -> requests.Response:
    headers = server.headers(asynchronous=False)
    if sse:
        headers["X-DashScope-Sse"] = "enable"
    body = {"model": model, "input": message(*content), "parameters": parameters}
    return requests.post(server.api + SYNC_PATH, json=body, headers=headers, timeout=60, stream=sse)


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def images_of(body: dict) -> list[Image.Image]:
    [choice] = body["output"]["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    return [download(part["image"]) for part in choice["message"]["content"]]


def events(response: requests.Response) -> list[dict]:
    """The server-sent events of a streamed answer: [{"id", "event", "status", "data"}]."""
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    found, current = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if not line:
            if current:
                found.append(current)
            current = {}
        elif line.startswith(":HTTP_STATUS/"):
            current["status"] = int(line.split("/")[1])
        elif ":" in line:
            name, _, value = line.partition(":")
            current[name] = json.loads(value) if name == "data" else int(value) if name == "status" else value
    return found


# --- text-to-image, synchronous ---------------------------------------------------------


def test_qwen_sync_call_answers_choices_task_metric_and_usage_with_the_image(server):
    body = ok(call(server, "qwen-image-plus", {"text": "一只橘猫坐在窗台上"}, size="1664*928"))
    [image] = images_of(body)
    assert image.size == (1664, 928)
    assert body["output"]["task_metric"] == {"TOTAL": 1, "FAILED": 0, "SUCCEEDED": 1}
    assert body["usage"] == {"width": 1664, "image_count": 1, "height": 928}
    assert "type" not in body["output"]["choices"][0]["message"]["content"][0]  # qwen parts: image only
    assert body["request_id"]


def test_qwen_image_max_answers_synchronously_and_is_not_on_the_task_endpoint(server):
    [image] = images_of(ok(call(server, "qwen-image-max", {"text": "a lighthouse"})))
    assert image.size == (1328, 1328)  # the default
    r = server.submit({"model": "qwen-image-max", "input": {"prompt": "a lighthouse"}})
    assert r.status_code == 404 and r.json()["code"] == "InvalidParameter"


def test_qwen_sync_n_other_than_1_is_refused_with_the_hosted_message(server):
    r = call(server, "qwen-image", {"text": "a cat"}, n=2)
    assert r.status_code == 400 and r.json()["message"] == "num_images_per_prompt must be 1"


@pytest.mark.parametrize(
    "body_input",
    [
        {},
        {"messages": []},
        {"messages": [{"role": "user", "content": [{"text": "a"}]}] * 2},  # multi-turn
        {"messages": [{"role": "assistant", "content": [{"text": "a"}]}]},
        {"messages": [{"role": "user", "content": []}]},
        {"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]},  # two texts
        {"messages": [{"role": "user", "content": [{"image": "data:,"}]}]},  # no text
        {"messages": [{"role": "user", "content": [{"text": ""}]}]},
        {"messages": [{"role": "user", "content": ["a cat"]}]},
        {"messages": [{"role": "user", "content": [{"text": 5}]}]},
        {"messages": [{"role": "user", "content": [{"text": "a", "image": "x"}]}]},
    ],
)
def test_anything_but_one_user_message_with_exactly_one_text_is_400_invalid_parameter(server, body_input):
    for model in ("qwen-image-plus", "wan2.6-t2i"):
        r = requests.post(
            server.api + SYNC_PATH,
            json={"model": model, "input": body_input},
            headers=server.headers(asynchronous=False),
            timeout=10,
        )
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameter", r.text


def test_text_to_image_models_take_no_image_elements(server):
    r = call(server, "wan2.6-t2i", {"text": "a cat"}, {"image": png_uri(pattern("ramp"))})
    assert r.status_code == 400 and "no image elements" in r.json()["message"]


def test_wan26_t2i_defaults_to_four_images_one_image_part_each(server):
    body = ok(call(server, "wan2.6-t2i", {"text": "A flower shop with exquisite windows"}, seed=7))
    images = images_of(body)
    assert [i.size for i in images] == [(1280, 1280)] * 4
    assert all(p["type"] == "image" for p in body["output"]["choices"][0]["message"]["content"])
    assert body["output"]["finished"] is True and "task_metric" not in body["output"]
    assert body["usage"] == {
        "image_count": 4,
        "input_tokens": 0,
        "output_tokens": 0,
        "size": "1280*1280",
        "total_tokens": 0,
    }
    again = images_of(ok(call(server, "wan2.6-t2i", {"text": "A flower shop with exquisite windows"}, seed=7)))
    assert [a.tobytes() for a in again] == [i.tobytes() for i in images]  # same seed, same pixels
    assert len({i.tobytes() for i in images}) == 4  # image i uses seed + i


@pytest.mark.parametrize(
    "size, allowed",
    [
        ("768*2700", True),
        ("2800*700", True),
        ("1344*576", True),
        ("700*700", False),
        ("1500*1500", False),
        ("2900*700", False),
        ("1280x1280", False),
    ],
)
def test_wan26_t2i_size_is_total_pixels_768_to_1440_squared_within_ratio_1_to_4(server, size, allowed):
    r = call(server, "wan2.6-t2i", {"text": "a cat"}, size=size, n=1)
    if allowed:
        [image] = images_of(ok(r))
        assert f"{image.size[0]}*{image.size[1]}" == size
    else:
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameter", r.text


@pytest.mark.parametrize("n", [0, 5, "2"])
def test_wan26_t2i_n_outside_1_to_4_is_refused(server, n):
    assert call(server, "wan2.6-t2i", {"text": "a cat"}, n=n).status_code == 400


def test_prompts_are_truncated_at_the_models_limit_not_refused():
    spec = Catalog().models["wan2.6-t2i"]
    body = {"model": spec.name, "input": message({"text": "花" * 3000})}
    request = to_generation_request(body, spec, lambda name, ref: ref, streaming=False)
    assert len(request.prompt) == 2100 and request.n == 4 and request.size == (1280, 1280)


def test_sdk_multimodal_conversation_and_image_generation_call_synchronously(sdk):
    rsp = MultiModalConversation.call(
        api_key=sdk.key,
        model="qwen-image-plus",
        result_format="message",
        messages=[{"role": "user", "content": [{"text": "a red fox"}]}],
        stream=False,
        watermark=True,
        prompt_extend=False,
        size="928*1664",
    )
    assert rsp.status_code == 200, rsp
    [image] = [download(part["image"]) for part in rsp.output.choices[0].message.content]
    assert image.size == (928, 1664) and rsp.usage["image_count"] == 1

    rsp = ImageGeneration.call(
        api_key=sdk.key,
        model="wan2.6-t2i",
        n=2,
        size="1280*720",
        messages=[{"role": "user", "content": [{"text": "a flower shop"}]}],
    )
    assert rsp.status_code == 200, rsp
    content = rsp.output.choices[0].message.content
    assert [download(part["image"]).size for part in content] == [(1280, 720)] * 2
    assert rsp.output.finished is True and rsp.usage.size == "1280*720"


# --- asynchronous image-generation (wan2.6) ---------------------------------------------


def test_image_generation_task_shows_choices_and_finished_in_the_task_query(server):
    body = {"model": "wan2.6-t2i", "input": message({"text": "a flower shop"}), "parameters": {"n": 2}}
    r = requests.post(server.api + ASYNC_PATH, json=body, headers=server.headers(), timeout=10)
    created = ok(r)["output"]
    assert created["task_status"] == "PENDING"
    done = server.wait(created["task_id"])
    output = done["output"]
    assert output["task_status"] == "SUCCEEDED" and output["finished"] is True
    assert {"submit_time", "scheduled_time", "end_time"} <= output.keys() and "results" not in output
    parts = output["choices"][0]["message"]["content"]
    assert [download(p["image"]).size for p in parts] == [(1280, 1280)] * 2
    assert done["usage"] == {
        "image_count": 2,
        "input_tokens": 0,
        "output_tokens": 0,
        "size": "1280*1280",
        "total_tokens": 0,
    }


def test_image_generation_without_the_async_header_is_refused_as_documented(server):
    body = {"model": "wan2.6-t2i", "input": message({"text": "a flower shop"})}
    r = requests.post(server.api + ASYNC_PATH, json=body, headers=server.headers(asynchronous=False), timeout=10)
    assert r.status_code == 403 and r.json()["message"] == "current user api does not support synchronous calls"


def test_image_generation_serves_only_wan26_models(server):
    body = {"model": "qwen-image-plus", "input": message({"text": "a cat"})}
    r = requests.post(server.api + ASYNC_PATH, json=body, headers=server.headers(), timeout=10)
    assert r.status_code == 404 and r.json()["message"] == "Model not exist."


def test_sdk_image_generation_async_call_wait_and_fetch(sdk):
    messages = [{"role": "user", "content": [{"text": "a flower shop"}]}]
    task = ImageGeneration.async_call(api_key=sdk.key, model="wan2.6-t2i", messages=messages, n=1)
    assert task.status_code == 200 and task.output.task_status == "PENDING", task
    done = ImageGeneration.wait(task, api_key=sdk.key)
    assert done.output.task_status == "SUCCEEDED", done
    [part] = done.output.choices[0].message.content
    assert download(part["image"]).size == (1280, 1280)
    assert ImageGeneration.fetch(task.output.task_id, api_key=sdk.key).output.finished is True


# --- editing through image elements -----------------------------------------------------


def test_qwen_image_edit_edits_one_to_three_images_in_the_first_ones_proportions(server):
    ramp, stripes = png_uri(pattern("ramp", (800, 600))), png_uri(pattern("stripes", (600, 600)))
    body = ok(call(server, "qwen-image-edit-plus", {"image": ramp}, {"image": stripes}, {"text": "fuse them"}))
    [image] = images_of(body)
    assert image.size == proportional_size(800, 600, 1024 * 1024) == (1184, 880)
    assert body["usage"] == {"width": 1184, "image_count": 1, "height": 880}
    [sized] = images_of(ok(call(server, "qwen-image-edit", {"image": ramp}, {"text": "x"}, size="1024*768")))
    assert sized.size == (1024, 768)


def test_qwen_image_edit_takes_a_gif_first_frame(server):
    frames = [Image.new("RGB", (400, 400), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    gif = "data:image/gif;base64," + __import__("base64").b64encode(buffer.getvalue()).decode()
    [image] = images_of(ok(call(server, "qwen-image-edit", {"image": gif}, {"text": "make it a poster"})))
    assert image.size == (1024, 1024)


@pytest.mark.parametrize(
    "model, images, message_part",
    [
        ("qwen-image-edit-plus", [(800, 600)] * 4, "1 to 3 images"),
        ("qwen-image-edit", [], "1 to 3 images"),
        ("qwen-image-edit", [(383, 600)], "between 384 and 3072"),
        ("wan2.6-image", [(800, 600)] * 5, "1 to 4 images"),
        ("wan2.6-image", [(239, 600)], "between 240 and 8000"),
    ],
)
def test_editing_image_counts_and_sides_are_enforced(server, model, images, message_part):
    content = [{"image": png_uri(pattern("ramp", size))} for size in images]
    r = call(server, model, *content, {"text": "edit"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter", r.text
    assert message_part in r.json()["message"]


@pytest.mark.parametrize(
    "size, expected",
    [
        (None, (1472, 1104)),
        ("1K", (1472, 1104)),
        ("2K", proportional_size(1600, 1200, 2048 * 2048)),
        ("1024*1024", (1024, 1024)),
        ("2048*2048", (2048, 2048)),
    ],
)
def test_wan26_image_editing_output_is_1k_2k_in_the_inputs_proportions_or_the_size_given(server, size, expected):
    parameters = {"n": 1} if size is None else {"n": 1, "size": size}
    body = ok(
        call(
            server,
            "wan2.6-image",
            {"text": "make it autumn"},
            {"image": png_uri(pattern("ramp", (1600, 1200)))},
            **parameters,
        )
    )
    [image] = images_of(body)
    assert image.size == expected and body["usage"]["size"] == f"{expected[0]}*{expected[1]}"


@pytest.mark.parametrize("size", ["700*700", "2100*2100", "4K"])
def test_wan26_image_editing_sizes_outside_768_to_2048_squared_are_refused(server, size):
    r = call(server, "wan2.6-image", {"text": "x"}, {"image": png_uri(pattern("ramp"))}, size=size)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"


def test_wan26_image_editing_runs_asynchronously_too(server):
    body = {
        "model": "wan2.6-image",
        "parameters": {"n": 2},
        "input": message({"text": "swap"}, {"image": png_uri(pattern("ramp"))}, {"image": png_uri(pattern("s"))}),
    }
    created = ok(requests.post(server.api + ASYNC_PATH, json=body, headers=server.headers(), timeout=10))
    done = server.wait(created["output"]["task_id"])
    assert done["output"]["task_status"] == "SUCCEEDED" and done["usage"]["image_count"] == 2


def test_sdk_uploads_local_files_of_a_message_and_edits_them(sdk, tmp_path):
    path = tmp_path / "local.png"
    pattern("stripes", (500, 700)).save(path)
    rsp = MultiModalConversation.call(
        api_key=sdk.key,
        model="qwen-image-edit-plus",
        messages=[{"role": "user", "content": [{"image": f"file://{path}"}, {"text": "make it night"}]}],
    )
    assert rsp.status_code == 200, rsp
    [part] = rsp.output.choices[0].message.content
    assert download(part["image"]).size == proportional_size(500, 700, 1024 * 1024)


HOSTILE = [(url, message) for url, message in HOSTILE_AT_SUBMISSION if "512 and 4096" not in message]


@pytest.mark.parametrize("url, message", HOSTILE, ids=[m for _, m in HOSTILE])
def test_hostile_image_elements_answer_400_invalid_parameter_and_the_server_stays_up(server, url, message):
    r = call(server, "qwen-image-edit", {"image": url}, {"text": "x"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter" and message in r.json()["message"]
    assert call(server, "qwen-image-plus", {"text": "still up"}).status_code == 200


def test_a_sync_call_whose_image_cannot_be_fetched_answers_input_download_failed(server):
    r = call(server, "qwen-image-edit", {"image": "http://127.0.0.1:9/cat.png"}, {"text": "x"})
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest.InputDownloadFailed"
    assert r.json()["message"] == "Reference image download failed, please check image url."
    assert call(server, "qwen-image-plus", {"text": "still up"}).status_code == 200


def test_a_sync_call_waits_no_longer_than_configured_then_times_out(make_server):
    server = make_server(IMAGESCOPE_WORKERS="0", IMAGESCOPE_SYNC_TIMEOUT_SECONDS="0.5")  # nobody runs tasks
    r = call(server, "qwen-image-plus", {"text": "a cat"})
    assert r.status_code == 500 and r.json()["code"] == "RequestTimeOut"
    listed = requests.get(server.api + "/tasks", headers=server.headers(asynchronous=False), timeout=10).json()
    assert [t["status"] for t in listed["data"]] == ["CANCELED"]  # not left to run for nobody


# --- streaming ----------------------------------------------------------------------------


def test_interleaved_answer_streams_text_and_image_events_then_a_final_stop(server):
    r = call(
        server,
        "wan2.6-image",
        {"text": "a 3-step recipe for tomato and eggs"},
        sse=True,
        stream=True,
        enable_interleave=True,
        max_images=3,
        size="1200*800",
    )
    found = events(r)
    assert [e["id"] for e in found] == [str(i) for i in range(1, 8)]
    assert all(e["event"] == "result" and e["status"] == 200 for e in found)
    *parts, last = [e["data"] for e in found]
    kinds = [p["output"]["choices"][0]["message"]["content"][0]["type"] for p in parts]
    assert kinds == ["text", "image"] * 3
    assert all(p["output"]["finished"] is False and p["output"]["choices"][0]["finish_reason"] == "null" for p in parts)
    images = [download(p["output"]["choices"][0]["message"]["content"][0]["image"]) for p in parts[1::2]]
    assert [i.size for i in images] == [(1200, 800)] * 3
    assert last["output"] == {
        "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": []}}],
        "finished": True,
    }
    assert last["usage"]["image_count"] == 3 and last["usage"]["size"] == "1200*800"


def test_sdk_streaming_iterator_consumes_the_interleaved_answer_the_sse_header_alone_streams(sdk, tmp_path):
    # The SDK sends X-DashScope-Sse: enable but never parameters.stream: the header must suffice.
    path = tmp_path / "dish.png"
    pattern("ramp", (640, 480)).save(path)
    chunks = list(
        ImageGeneration.call(
            api_key=sdk.key,
            model="wan2.6-image",
            stream=True,
            enable_interleave=True,
            max_images=2,
            messages=[{"role": "user", "content": [{"text": "a tutorial"}, {"image": f"file://{path}"}]}],
        )
    )
    assert all(c.status_code == 200 for c in chunks), [(c.code, c.message) for c in chunks]
    content = [part for c in chunks for part in c.output.choices[0].message.content]
    assert [p["type"] for p in content] == ["text", "image", "text", "image"]
    assert chunks[-1].output.finished is True and chunks[-1].usage.image_count == 2


@pytest.mark.parametrize(
    "sse, parameters, message_part",
    [
        (False, {"stream": True, "enable_interleave": True}, "X-DashScope-Sse"),
        (True, {"stream": False, "enable_interleave": True}, "X-DashScope-Sse"),
        (True, {"stream": True, "enable_interleave": True, "n": 2}, "n must be 1"),
        (True, {"stream": True, "enable_interleave": True, "max_images": 6}, "max_images"),
        (True, {"stream": True, "enable_interleave": True, "max_images": 0}, "max_images"),
        (True, {"stream": True, "enable_interleave": True, "size": "1440*1440"}, "1280*1280"),
    ],
)
def test_interleaved_mode_rules_answer_400_invalid_parameter(server, sse, parameters, message_part):
    r = call(server, "wan2.6-image", {"text": "a tutorial"}, sse=sse, **parameters)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert message_part in r.json()["message"]


def test_interleaved_mode_takes_at_most_one_image(server):
    two = [{"image": png_uri(pattern("ramp"))}] * 2
    r = call(server, "wan2.6-image", {"text": "a tutorial"}, *two, sse=True, stream=True, enable_interleave=True)
    assert r.status_code == 400 and "0 to 1 images" in r.json()["message"]


def test_a_plain_request_can_be_streamed_too_one_event_per_image(server):
    found = events(call(server, "wan2.6-t2i", {"text": "a cat"}, sse=True, stream=True, n=2))
    assert len(found) == 3 and found[-1]["data"]["usage"]["image_count"] == 2


def test_a_streamed_request_that_fails_ends_with_an_error_event(server):
    found = events(
        call(
            server,
            "wan2.6-image",
            {"text": "x"},
            {"image": "http://127.0.0.1:9/a.png"},
            sse=True,
            stream=True,
            enable_interleave=True,
        )
    )
    [error] = found
    assert error["event"] == "error" and error["status"] == 400
    assert error["data"]["code"] == "BadRequest.InputDownloadFailed"


def test_bad_request_body_errors_are_plain_json_even_when_streaming_was_asked(server):
    r = requests.post(
        server.api + SYNC_PATH,
        data=b"{not json",
        timeout=10,
        headers={**server.headers(asynchronous=False), "X-DashScope-Sse": "enable"},
    )
    assert r.status_code == 400 and r.json()["message"].startswith("Required body invalid")
    assert r.headers["x-request-id"] == r.json()["request_id"]  # one id, in the body and the header
