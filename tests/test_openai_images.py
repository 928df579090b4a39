"""The OpenAI Images API at ``/v1``, driven by the official ``openai`` SDK (the only change a user
makes is the base URL): ``POST /v1/images/generations``, ``GET /v1/models``, and every error in
OpenAI's envelope so the SDK raises its typed exceptions."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests
from PIL import Image

from conftest import download

FLASH = "wan2.2-t2i-flash"  # sides 512–1440, default 1024*1024, n 1–4


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)


def png(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    return image


def post(server, body: object | str, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, str) else None
    return requests.post(
        f"{server.url}/v1/images/generations",
        data=data,
        json=None if data is not None else body,
        headers=headers,
        timeout=30,
    )


def envelope(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"]
    return body["error"]


# --- generations ----------------------------------------------------------------------------


def test_generation_answers_a_signed_url_of_the_png_by_default(client):
    rsp = client.images.generate(model=FLASH, prompt="a lighthouse at dusk", size="512x768", n=1)
    [image] = rsp.data
    assert rsp.created > 0 and image.b64_json is None
    assert download(image.url).size == (512, 768)


def test_b64_json_answers_the_png_itself(client):
    rsp = client.images.generate(model=FLASH, prompt="a lighthouse", size="640x512", n=1, response_format="b64_json")
    [image] = rsp.data
    assert image.url is None
    assert png(image.b64_json).size == (640, 512)


def test_n_images_in_one_call(client):
    rsp = client.images.generate(model=FLASH, prompt="three cats", n=3, size="512x512")
    assert len(rsp.data) == 3
    assert len({image.url for image in rsp.data}) == 3


def test_n_defaults_to_one_as_openais_does_not_to_the_wan_models_four(client):
    assert len(client.images.generate(model=FLASH, prompt="p", size="512x512").data) == 1


def test_size_auto_and_absent_are_the_models_default_and_512x512_is_kept(client):
    for size in ("auto", None):
        extra = {"size": size} if size else {}
        [image] = client.images.generate(model=FLASH, prompt="p", **extra).data
        assert download(image.url).size == (1024, 1024)
    [image] = client.images.generate(model=FLASH, prompt="p", n=1, size="512x512", response_format="b64_json").data
    assert png(image.b64_json).size == (512, 512)


def test_without_a_model_the_default_is_qwen_image_plus_at_1328x1328(client, server):
    rsp = requests.post(
        f"{server.url}/v1/images/generations",
        json={"prompt": "一只橘猫"},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=30,
    )
    assert rsp.status_code == 200, rsp.text
    [image] = rsp.json()["data"]
    assert download(image["url"]).size == (1328, 1328)


def test_multimodal_only_text_to_image_models_are_served_too(client):
    [image] = client.images.generate(model="qwen-image-max", prompt="p", size="928x1664").data
    assert download(image.url).size == (928, 1664)
    rsp = client.images.generate(model="wan2.6-t2i", prompt="p", n=2, size="1024x1024", response_format="b64_json")
    assert [png(image.b64_json).size for image in rsp.data] == [(1024, 1024)] * 2


def test_dashscope_parameters_as_extra_body_fields_same_seed_same_pixels(client):
    def pixels(seed: int) -> bytes:
        extra = {"seed": seed, "negative_prompt": "blur", "watermark": True}
        rsp = client.images.generate(
            model=FLASH, prompt="a red kite", n=1, size="512x512", response_format="b64_json", extra_body=extra
        )
        return png(rsp.data[0].b64_json).tobytes()

    assert pixels(42) == pixels(42)
    assert pixels(42) != pixels(43)


def test_ignored_openai_fields_are_accepted(client):
    rsp = client.images.generate(
        model=FLASH,
        prompt="p",
        n=1,
        size="512x512",
        quality="hd",
        style="vivid",
        user="someone",
        background="auto",
        output_format="png",
    )
    assert len(rsp.data) == 1


def test_prompt_extend_defaults_to_off_here_so_no_revised_prompt(client):
    [image] = client.images.generate(model=FLASH, prompt="a lighthouse", n=1, size="512x512").data
    assert image.revised_prompt is None


def test_prompt_extend_true_answers_the_rewritten_prompt_as_revised_prompt(client):
    rsp = client.images.generate(
        model=FLASH, prompt="a lighthouse", n=2, size="512x512", extra_body={"prompt_extend": True}
    )
    revised = {image.revised_prompt for image in rsp.data}
    assert len(revised) == 1
    [text] = revised
    assert text.startswith("a lighthouse") and text != "a lighthouse"


def test_each_call_is_a_task_of_the_callers_account(server):
    key = server.new_key("openai-tasks")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    client.images.generate(model=FLASH, prompt="p", n=2, size="512x512")
    client.images.generate(model="qwen-image-max", prompt="p")
    listed = requests.get(f"{server.api}/tasks", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    tasks = {item["model_name"]: item for item in listed["data"]}
    assert set(tasks) == {FLASH, "qwen-image-max"}
    assert all(item["status"] == "SUCCEEDED" for item in tasks.values())
    assert tasks[FLASH]["user_api_unique_key"].endswith(f":text2image:{FLASH}")
    assert tasks["qwen-image-max"]["user_api_unique_key"].endswith(":multimodal-generation:qwen-image-max")
    done = server.task(tasks[FLASH]["task_id"], key)
    assert done["usage"] == {"image_count": 2}


# --- OpenAI's sizes on models with a fixed size list --------------------------------------------


@pytest.mark.parametrize(
    ("size", "drawn"),
    [
        ("256x256", (1328, 1328)),
        ("512x512", (1328, 1328)),
        ("1024x1024", (1328, 1328)),
        ("1536x1024", (1472, 1140)),
        ("1024x1536", (1140, 1472)),
        ("1792x1024", (1664, 928)),
        ("1024x1792", (928, 1664)),
    ],
)
def test_openai_sizes_on_qwen_image_are_drawn_at_its_size_of_the_nearest_aspect_ratio(client, size, drawn):
    [image] = client.images.generate(model="qwen-image-plus", prompt="p", size=size).data
    assert download(image.url).size == drawn


def test_a_size_of_the_qwen_list_is_drawn_as_asked_and_wan_draws_openais_sizes_as_asked(client):
    [image] = client.images.generate(model="qwen-image-max", prompt="p", size="1472x1140").data
    assert download(image.url).size == (1472, 1140)
    [image] = client.images.generate(model="wan2.6-t2i", prompt="p", size="1536x1024").data  # a pixel range
    assert download(image.url).size == (1536, 1024)


# --- models -------------------------------------------------------------------------------


def test_models_lists_every_catalog_model_in_openais_format(client, server):
    listed = requests.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
    assert listed.status_code == 200
    body = listed.json()
    assert body["object"] == "list"
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in body["data"])
    assert all(m["object"] == "model" and m["owned_by"] == "imagescope" for m in body["data"])
    dashscope = requests.get(f"{server.api}/models", headers=server.headers(asynchronous=False), timeout=10).json()
    assert {m.id for m in client.models.list()} == {m["model"] for m in dashscope["data"]}


# --- errors: OpenAI's envelope and statuses, the SDK's typed exceptions ----------------------------


def test_a_bad_or_missing_key_is_authentication_error_invalid_api_key(server):
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.images.generate(model=FLASH, prompt="p")
    assert caught.value.code == "invalid_api_key" and caught.value.type == "invalid_request_error"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    error = envelope(post(server, {"prompt": "p"}), 401)
    assert error["code"] == "invalid_api_key"


def test_malformed_json_is_400_invalid_request_error(server):
    for body in ("{", "[1, 2]", '"text"'):
        error = envelope(post(server, body, key=server.key), 400)
        assert error["type"] == "invalid_request_error"
    error = envelope(post(server, {"model": FLASH}, key=server.key), 400)  # no prompt
    assert "prompt" in error["message"]
    error = envelope(post(server, {"prompt": "p", "n": "2"}, key=server.key), 400)
    assert "n must be an integer" in error["message"]


def test_a_size_outside_the_models_rules_is_bad_request_naming_size(client):
    # Not OpenAI's sizes: 1024x768 on a fixed size list; a pixel range keeps its check even for 256x256.
    for model, size in ((FLASH, "100x100"), (FLASH, "big"), (FLASH, "256x256"), ("qwen-image-plus", "1024x768")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.images.generate(model=model, prompt="p", size=size)
        assert caught.value.param == "size" and caught.value.type == "invalid_request_error"
    assert "512" in caught.value.message or "1328" in caught.value.message


def test_n_outside_the_models_range_is_bad_request_naming_n(client):
    for model, n in ((FLASH, 5), (FLASH, 0), ("qwen-image-plus", 2)):
        with pytest.raises(openai.BadRequestError) as caught:
            client.images.generate(model=model, prompt="p", n=n)
        assert caught.value.param == "n"


def test_an_unknown_or_editing_model_is_not_found_model_not_found(client, server):
    for model in ("dall-e-3", "qwen-image-edit", "wanx2.1-imageedit"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.images.generate(model=model, prompt="p")
        assert caught.value.code == "model_not_found" and caught.value.param == "model"
    error = envelope(requests.get(f"{server.url}/v1/nowhere", timeout=10), 404)
    assert error["type"] == "invalid_request_error"


def test_a_body_over_the_cap_is_refused_in_openais_envelope_before_it_is_read(server):
    error = envelope(post(server, '{"prompt": "' + "x" * (2 * 1024 * 1024) + '"}', key=server.key), 413)
    assert error["type"] == "invalid_request_error"


def test_dashscope_routes_keep_their_own_error_body(server):
    r = requests.get(f"{server.api}/models", headers={"Authorization": "Bearer sk-not-a-key"}, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "InvalidApiKey" and "error" not in r.json()


def test_over_the_submission_rate_is_rate_limit_error(make_server):
    s = make_server(IMAGESCOPE_SUBMIT_RPS="1")
    client = openai.OpenAI(base_url=f"{s.url}/v1", api_key=s.key, max_retries=0)

    def call(_: int) -> Exception | None:
        try:
            client.images.generate(model=FLASH, prompt="p", n=1, size="512x512")
        except openai.APIError as exc:
            return exc
        return None

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(call, range(4)))
    refused = [o for o in outcomes if o is not None]
    assert refused and len(refused) < 4
    assert all(isinstance(o, openai.RateLimitError) for o in refused)
    assert {(o.code, o.type) for o in refused} == {("rate_limit_exceeded", "requests")}


def test_openapi_documents_the_body_answers_and_openais_error_envelope(server):
    document = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    operation = document["paths"]["/v1/images/generations"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/ImagesRequest")
    assert {"prompt", "size", "response_format", "seed", "prompt_extend"} <= set(
        document["components"]["schemas"]["ImagesRequest"]["properties"]
    )
    answers = operation["responses"]
    assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ImagesResponse")
    for status in ("400", "401", "404", "429", "500"):
        assert answers[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
    assert "/v1/models" in document["paths"]
