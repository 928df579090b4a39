"""z-image-turbo on the synchronous ``multimodal-generation`` endpoint (video-notes §4), through the
SDK's ``MultiModalConversation.call`` and real HTTP: its answer (the image, then the prompt drawn,
``reasoning_content``, the usage with zero tokens), ``prompt_extend`` off by default and billed
double when on, one image per call, sizes by total pixels; and the ``ZImagePipeline`` diffusers
engine bound by a models file (tiny random weights, tiny_wan.py), seeded and sized exactly."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from dashscope import MultiModalConversation

from conftest import download
from imagescope.engines import EngineConfigError, ImageJob
from imagescope.engines.diffusers.engine import DiffusersTextToImageEngine
from imagescope.engines.diffusers.options import DiffusersOptions
from test_multimodal import SYNC_PATH, call, events, ok

MODEL = "z-image-turbo"
PROMPT = "a lighthouse at dusk, waves breaking on the rocks"


def messages(text: str = PROMPT) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_the_answer_is_the_image_then_the_prompt_drawn_with_empty_reasoning_and_zero_tokens(sdk):
    rsp = MultiModalConversation.call(api_key=sdk.key, model=MODEL, messages=messages())
    assert rsp.status_code == 200, rsp
    [choice] = rsp.output.choices
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    image_part, text_part = choice["message"]["content"]
    assert set(image_part) == {"image"} and text_part == {"text": PROMPT}
    assert choice["message"]["reasoning_content"] == ""  # prompt_extend is off by default
    assert download(image_part["image"]).size == (1024, 1536)  # the default size
    usage = {"width": 1024, "height": 1536, "image_count": 1, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert {key: rsp.usage[key] for key in usage} == usage  # the SDK's usage object adds characters: 0
    assert "task_metric" not in rsp.output and "finished" not in rsp.output


def test_prompt_extend_true_draws_the_rewritten_prompt_and_says_so_in_reasoning_content(server):
    body = ok(call(server, MODEL, {"text": PROMPT}, prompt_extend=True, size="1024*1024"))
    message = body["output"]["choices"][0]["message"]
    image_part, text_part = message["content"]
    assert text_part["text"] != PROMPT and text_part["text"].startswith(PROMPT.rstrip("."))  # the rule rewriter adds
    assert message["reasoning_content"] and "prompt_extend" in message["reasoning_content"]
    assert download(image_part["image"]).size == (1024, 1024)
    assert body["usage"] == {
        "width": 1024,
        "height": 1024,
        "image_count": 1,
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
    }
    assert set(body["output"]) == {"choices"}


def test_other_models_keep_prompt_extend_on_by_default_on_the_same_endpoint(server):
    r = requests.post(
        server.api + SYNC_PATH,
        json={"model": "qwen-image-plus", "input": {"messages": messages()}, "parameters": {"size": "1328*1328"}},
        headers=server.headers(asynchronous=False),
        timeout=60,
    )
    request_id = ok(r)["request_id"]
    listing = requests.get(
        server.api + "/tasks", params={"page_size": 100}, headers=server.headers(asynchronous=False), timeout=10
    ).json()
    [task_id] = [item["task_id"] for item in listing["data"] if item["request_id"] == request_id]
    request = requests.get(f"{server.api}/tasks/{task_id}/request", headers=server.headers(False), timeout=10).json()
    assert request["request"]["model"] == "qwen-image-plus"
    assert request["request"]["parameters"]["prompt_extend"] is True


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"n": 2}, "num_images_per_prompt must be 1"),
        ({"size": "500*500"}, "total pixels must be between 512*512 and 2048*2048"),
        ({"size": "2050*2050"}, "total pixels must be between 512*512 and 2048*2048"),
    ],
)
def test_more_than_one_image_or_a_size_outside_512_to_2048_squared_is_invalid_parameter(server, parameters, message):
    r = call(server, MODEL, {"text": PROMPT}, **parameters)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert message in r.json()["message"]


def test_a_streamed_answer_sends_the_image_then_the_prompt_with_the_usage(server):
    found = events(call(server, MODEL, {"text": PROMPT}, sse=True, size="1024*1024"))
    first, last = found[0]["data"], found[-1]["data"]
    [image_part] = first["output"]["choices"][0]["message"]["content"]
    assert set(image_part) == {"image"}
    final = last["output"]["choices"][0]
    assert final["finish_reason"] == "stop" and final["message"]["content"] == [{"text": PROMPT}]
    assert final["message"]["reasoning_content"] == "" and last["usage"]["image_count"] == 1


def test_prompt_extend_is_billed_at_double_the_price(make_server):
    s = make_server(IMAGESCOPE_FREE_QUOTA_IMAGES="0")  # every image paid
    ok(call(s, MODEL, {"text": PROMPT}, size="1024*1024"))
    ok(call(s, MODEL, {"text": PROMPT}, size="1024*1024", prompt_extend=True))
    usage = requests.get(s.api + "/usage", headers=s.headers(asynchronous=False), timeout=10).json()
    [row] = [row for row in usage["usage"] if row["model"] == MODEL]
    assert row["images"] == 2 and row["free_images"] == 0
    assert row["spend"] == pytest.approx(0.015 + 0.03)


# --- the ZImagePipeline diffusers engine ------------------------------------------------------


@pytest.fixture(scope="module")
def zimage_weights(tmp_path_factory):
    pytest.importorskip("diffusers")
    import tiny_wan

    return tiny_wan.build_zimage(tmp_path_factory.mktemp("weights") / "Z-Image-Turbo")


@pytest.fixture
def zimage_server(tmp_path, zimage_weights, monkeypatch):
    from test_diffusers_http import InProcessServer

    monkeypatch.setenv("IMAGESCOPE_SUBMIT_RPS", "1000")  # three calls in a second: beyond the hosted 2 per second

    models = (
        f'[engines.zimage]\nkind = "diffusers"\nweights = "{zimage_weights}"\ndtype = "fp32"\ndevice = "cpu"\n'
        f'steps = 8\nguidance_scale = 0.0\n[models]\n"{MODEL}" = "zimage"\n'
    )
    server = InProcessServer(tmp_path / "data", models)
    yield server
    server.stop()


def test_the_zimage_pipeline_bound_by_the_models_file_draws_the_exact_size_from_the_seed(zimage_server):
    listing = requests.get(zimage_server.api + "/models", headers=zimage_server.headers(False), timeout=10).json()
    [entry] = [m for m in listing["data"] if m["model"] == MODEL]
    assert entry["kind"] == "diffusers" and entry["pipeline"] == "ZImagePipeline"

    def draw(seed: int) -> np.ndarray:
        rsp = MultiModalConversation.call(
            api_key=zimage_server.key,
            base_address=zimage_server.api,
            model=MODEL,
            messages=messages(),
            size="536*504",  # not multiples of 16: drawn at 544*512, centre-cropped
            seed=seed,
        )
        assert rsp.status_code == 200, rsp
        image = download(rsp.output.choices[0]["message"]["content"][0]["image"])
        assert image.size == (536, 504) and rsp.usage["width"] == 536 and rsp.usage["height"] == 504
        return np.asarray(image)

    first = draw(5)
    assert np.array_equal(first, draw(5))
    assert not np.array_equal(first, draw(6))


def test_a_step_cache_on_z_image_is_a_clear_configuration_error_and_fp8_runs(zimage_weights):
    # diffusers gives ZImageTransformer2DModel no CacheMixin: say so, not an AttributeError.
    def engine(**fast: str) -> DiffusersTextToImageEngine:
        settings = {"dtype": "fp32", "device": "cpu", "steps": 2, "guidance_scale": 0.0, **fast}
        return DiffusersTextToImageEngine(f"z-{fast}", DiffusersOptions(zimage_weights, "ZImagePipeline", **settings))

    picture = ImageJob("z-image-turbo", "a lighthouse", "", 64, 48, 1, 0, 1)
    with pytest.raises(EngineConfigError, match="no step caches for ZImageTransformer2DModel"):
        engine(cache="taylorseer").generate(picture)
    assert engine(quantize="fp8").generate(picture).size == (64, 48)
