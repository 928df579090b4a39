"""The async text-to-image endpoint over raw HTTP: the spec's curl lines, every rule and error."""

from __future__ import annotations

import uuid

import pytest
import requests

from conftest import ASYNC_PATH, download

SPEC_PROMPT = "A flower shop with exquisite windows, a beautiful wooden door, and flowers on display"


def error_of(r: requests.Response) -> tuple[int, str, str]:
    body = r.json()
    assert set(body) == {"request_id", "code", "message"}
    uuid.UUID(body["request_id"])
    assert r.headers["x-request-id"] == body["request_id"]
    return r.status_code, body["code"], body["message"]


# -- the curl lines of spec 001 and 002, replayed ---------------------------------------------


@pytest.mark.parametrize(
    "body, size, count",
    [
        (
            {
                "model": "qwen-image-plus",
                "input": {"prompt": "Healing-style hand-drawn poster"},
                "parameters": {"size": "1328*1328", "n": 1, "prompt_extend": True, "watermark": False},
            },
            (1328, 1328),
            1,
        ),
        (
            {
                "model": "wan2.5-t2i-preview",
                "input": {"prompt": SPEC_PROMPT},
                "parameters": {"size": "1280*1280", "n": 1},
            },
            (1280, 1280),
            1,
        ),
        (
            {
                "model": "wan2.2-t2i-flash",
                "input": {
                    "prompt": "Snowy ground, a small white chapel, aurora borealis, winter scene, soft light.",
                    "negative_prompt": "person",
                },
                "parameters": {"size": "1024*1024", "n": 1},
            },
            (1024, 1024),
            1,
        ),
    ],
)
def test_spec_curl_create_then_query_task(server, body, size, count):
    r = server.submit(body)
    assert r.status_code == 200
    created = r.json()
    assert set(created) == {"output", "request_id"}
    assert created["output"]["task_status"] == "PENDING"
    assert r.headers["x-request-id"] == created["request_id"]
    done = server.wait(created["output"]["task_id"])
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED"
    for name in ("submit_time", "scheduled_time", "end_time"):
        assert len(out[name]) == len("2025-09-09 11:38:54.741") and out[name][10] == " "
    assert out["submit_time"] <= out["scheduled_time"] <= out["end_time"]
    assert len(out["results"]) == count and done["usage"] == {"image_count": count}
    assert out["task_metrics"] == {"TOTAL": count, "SUCCEEDED": count, "FAILED": 0}
    assert download(out["results"][0]["url"]).size == size


def test_times_are_utc_plus_8(server):
    from datetime import datetime, timedelta, timezone

    before = datetime.now(timezone(timedelta(hours=8))).replace(tzinfo=None)
    done = server.run({"model": "qwen-image", "input": {"prompt": "clock"}})
    submitted = datetime.strptime(done["output"]["submit_time"], "%Y-%m-%d %H:%M:%S.%f")
    assert abs((submitted - before).total_seconds()) < 5


# -- headers, keys, bodies --------------------------------------------------------------------


def test_missing_async_header_is_refused_with_the_documented_message(server):
    r = requests.post(
        server.api + ASYNC_PATH,
        headers=server.headers(asynchronous=False),
        json={"model": "qwen-image", "input": {"prompt": "x"}},
    )
    assert error_of(r) == (403, "AccessDenied", "current user api does not support synchronous calls")


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer sk-0000", "Basic abc", "sk-0000"])
def test_missing_or_unknown_key_is_invalid_api_key(server, authorization):
    headers = {"X-DashScope-Async": "enable"}
    if authorization:
        headers["Authorization"] = authorization
    r = requests.post(server.api + ASYNC_PATH, headers=headers, json={"model": "qwen-image", "input": {"prompt": "x"}})
    assert error_of(r) == (401, "InvalidApiKey", "Invalid API-key provided.")
    r = requests.get(f"{server.api}/tasks/whatever", headers={"Authorization": authorization or ""})
    assert error_of(r) == (401, "InvalidApiKey", "Invalid API-key provided.")


def test_revoked_key_is_invalid_api_key(server):
    key = server.new_key()
    assert server.submit({"model": "qwen-image", "input": {"prompt": "x"}}, key=key).status_code == 200
    key_id = server.cli("keys", "list").stdout  # the table shows ids; revoke the newest
    newest = max(
        int(line.split()[1]) for line in key_id.splitlines() if line.startswith("│") and line.split()[1].isdigit()
    )
    server.cli("keys", "revoke", str(newest))
    r = server.submit({"model": "qwen-image", "input": {"prompt": "x"}}, key=key)
    assert error_of(r) == (401, "InvalidApiKey", "Invalid API-key provided.")


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', '{"model": "\xff"}'.encode("latin-1")])
def test_malformed_body_is_required_body_invalid(server, raw):
    r = requests.post(server.api + ASYNC_PATH, headers=server.headers(), data=raw)
    assert error_of(r) == (400, "InvalidParameter", "Required body invalid, please check the request body format.")


def test_unknown_model_is_the_hosted_model_not_exist_error(server):
    r = server.submit({"model": "qwen-image-ultra", "input": {"prompt": "x"}})
    assert error_of(r) == (404, "InvalidParameter", "Model not exist.")


@pytest.mark.parametrize(
    "body, names",
    [
        ({"input": {"prompt": "x"}}, "model"),
        ({"model": "qwen-image"}, "input"),
        ({"model": "qwen-image", "input": {}}, "input.prompt"),
        ({"model": "qwen-image", "input": {"prompt": ""}}, "input.prompt"),
        ({"model": "qwen-image", "input": {"prompt": 5}}, "input.prompt"),
        ({"model": "qwen-image", "input": "prompt"}, "input"),
        ({"model": "qwen-image", "input": {"prompt": "x", "negative_prompt": []}}, "input.negative_prompt"),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": []}, "parameters"),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"size": "1328x1328"}}, "parameters.size"),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"size": 1328}}, "parameters.size"),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"seed": -1}}, "parameters.seed"),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"seed": 2147483648}}, "parameters.seed"),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"seed": "42"}}, "parameters.seed"),
        (
            {"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"prompt_extend": "yes"}},
            "parameters.prompt_extend",
        ),
        ({"model": "qwen-image", "input": {"prompt": "x"}, "parameters": {"watermark": 1}}, "parameters.watermark"),
        ({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"n": 0}}, "parameters.n"),
        ({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"n": 5}}, "parameters.n"),
        ({"model": "wan2.2-t2i-flash", "input": {"prompt": "x"}, "parameters": {"n": 2.0}}, "parameters.n"),
    ],
)
def test_invalid_parameter_names_the_parameter(server, body, names):
    status, code, message = error_of(server.submit(body))
    assert (status, code) == (400, "InvalidParameter")
    assert names in message


def test_qwen_n_other_than_1_is_refused_with_the_documented_message(server):
    for n in (0, 2, 4):
        r = server.submit({"model": "qwen-image-plus", "input": {"prompt": "x"}, "parameters": {"n": n}})
        assert error_of(r) == (400, "InvalidParameter", "num_images_per_prompt must be 1")


# -- sizes, counts and prompt limits per model ------------------------------------------------


@pytest.mark.parametrize(
    "model, size, ok",
    [
        *[("qwen-image", s, True) for s in ("1664*928", "1472*1140", "1328*1328", "1140*1472", "928*1664")],
        ("qwen-image-plus", "1024*1024", False),
        ("qwen-image-plus", "928*1665", False),
        ("wan2.5-t2i-preview", "768*2700", True),  # the spec's own example
        ("wan2.5-t2i-preview", "768*768", True),
        ("wan2.5-t2i-preview", "1440*1440", True),
        ("wan2.5-t2i-preview", "767*768", False),  # below 768*768 pixels
        ("wan2.5-t2i-preview", "1441*1440", False),  # above 1440*1440 pixels
        ("wan2.5-t2i-preview", "600*2400", True),  # exactly 1:4
        ("wan2.5-t2i-preview", "590*2400", False),  # beyond 1:4
        ("wan2.5-t2i-preview", "2400*590", False),  # beyond 4:1
        ("wan2.2-t2i-flash", "512*1440", True),
        ("wan2.2-t2i-plus", "1440*1440", True),
        ("wanx2.1-t2i-turbo", "511*1024", False),
        ("wanx2.1-t2i-plus", "768*2700", False),  # the spec: exceeds the single-side limit
        ("wan2.2-t2i-flash", "1441*512", False),
    ],
)
def test_size_rules_per_model(server, model, size, ok):
    r = server.submit({"model": model, "input": {"prompt": "x"}, "parameters": {"size": size, "n": 1}})
    if ok:
        assert r.status_code == 200, r.text
    else:
        status, code, message = error_of(r)
        assert (status, code) == (400, "InvalidParameter") and "parameters.size" in message


@pytest.mark.parametrize(
    "model, size, n",
    [
        ("qwen-image", (1328, 1328), 1),
        ("wan2.5-t2i-preview", (1280, 1280), 4),
        ("wan2.2-t2i-flash", (1024, 1024), 4),
        ("wanx2.1-t2i-turbo", (1024, 1024), 4),
    ],
)
def test_defaults_size_and_n_per_model(server, model, size, n):
    body = {"model": model, "input": {"prompt": "defaults"}, "parameters": {"prompt_extend": False}}
    out = server.run(body)["output"]
    assert len(out["results"]) == n
    assert download(out["results"][0]["url"]).size == size


def test_exact_requested_size_for_an_unusual_shape(server):
    body = {"model": "wan2.5-t2i-preview", "input": {"prompt": "tall"}, "parameters": {"size": "768*2700", "n": 1}}
    out = server.run(body)
    assert download(out["output"]["results"][0]["url"]).size == (768, 2700)


@pytest.mark.parametrize("model, limit", [("qwen-image", 800), ("wan2.5-t2i-preview", 2000), ("wan2.2-t2i-flash", 800)])
def test_overlong_prompt_is_truncated_never_refused_and_orig_prompt_shows_what_was_kept(server, model, limit):
    prompt = "猫" * (limit + 50)
    out = server.run(
        {
            "model": model,
            "input": {"prompt": prompt, "negative_prompt": "x" * 900},
            "parameters": {"n": 1, "prompt_extend": False},
        }
    )["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["results"][0]["orig_prompt"] == "猫" * limit


# -- seeds, determinism, prompt_extend, watermark ---------------------------------------------


def pixels(server, **parameters) -> list:
    body = {
        "model": "wan2.2-t2i-flash",
        "input": {"prompt": parameters.pop("prompt", "a lighthouse at dusk")},
        "parameters": {"size": "640*640", "prompt_extend": False, **parameters},
    }
    out = server.run(body)["output"]
    assert out["task_status"] == "SUCCEEDED", out
    return [download(r["url"]).convert("RGB") for r in out["results"]]


def test_same_request_and_seed_give_identical_pixels_another_seed_another_image(server):
    a, b, c = pixels(server, seed=42, n=1), pixels(server, seed=42, n=1), pixels(server, seed=43, n=1)
    assert a[0].tobytes() == b[0].tobytes()
    assert a[0].tobytes() != c[0].tobytes()


def test_image_i_is_exactly_the_picture_of_seed_plus_i(server):
    """A preview is a pure function of the job, as a model's output is: nothing in image 1 of
    seed 1000 (not even a caption) tells it from image 0 of seed 1001."""
    two = pixels(server, seed=1000, n=2)
    shifted = pixels(server, seed=1001, n=1)
    assert two[1].tobytes() == shifted[0].tobytes()
    assert two[0].tobytes() != two[1].tobytes()


def test_absent_seed_is_random(server):
    assert pixels(server, n=1)[0].tobytes() != pixels(server, n=1)[0].tobytes()


def test_prompt_extend_defaults_on_and_actual_prompt_only_when_on(server):
    on = server.run({"model": "qwen-image", "input": {"prompt": "a cat"}})["output"]["results"][0]
    off = server.run({"model": "qwen-image", "input": {"prompt": "a cat"}, "parameters": {"prompt_extend": False}})
    assert on["orig_prompt"] == "a cat" and on["actual_prompt"].startswith("a cat") and len(on["actual_prompt"]) > 20
    assert "actual_prompt" not in off["output"]["results"][0]


@pytest.mark.parametrize("model, text", [("wan2.2-t2i-flash", "AI-generated"), ("qwen-image", "Qwen-Image")])
def test_watermark_only_in_the_bottom_right_corner(server, model, text):
    from imagescope.engines.watermark import watermark_box

    size = "1328*1328" if model == "qwen-image" else "1024*768"

    def image(watermark):
        body = {
            "model": model,
            "input": {"prompt": "plain"},
            "parameters": {
                "size": size,
                "n": 1,
                "seed": 5,
                "prompt_extend": False,
                **({"watermark": True} if watermark else {}),
            },
        }
        return download(server.run(body)["output"]["results"][0]["url"]).convert("RGB")

    from PIL import ImageChops

    plain, marked = image(False), image(True)
    diff = ImageChops.difference(plain, marked).getbbox()
    assert diff is not None, "watermark=true changed nothing"
    left, top, right, bottom = watermark_box(*plain.size, text)
    assert left <= diff[0] and top <= diff[1] and diff[2] <= right and diff[3] <= bottom
    assert diff[0] > plain.width // 2 and diff[1] > plain.height * 3 // 4


# -- tasks belong to accounts; unknown ids ----------------------------------------------------


def test_never_existing_task_reads_unknown(server):
    body = server.task(str(uuid.uuid4()))
    assert body["output"]["task_status"] == "UNKNOWN"
    uuid.UUID(body["request_id"])


def test_another_accounts_task_reads_unknown_and_cannot_be_canceled(make_server):
    s = make_server(IMAGESCOPE_WORKERS="0")
    task_id = s.submit({"model": "qwen-image", "input": {"prompt": "mine"}}).json()["output"]["task_id"]
    stranger = s.new_key(account="stranger")
    colleague = s.new_key(account="default")
    assert s.task(task_id, key=stranger)["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    r = requests.post(f"{s.api}/tasks/{task_id}/cancel", headers=s.headers(stranger, False))
    assert error_of(r)[:2] == (400, "UnsupportedOperation")
    assert s.task(task_id)["output"]["task_status"] == "PENDING"
    # Another key of the same account sees and cancels it.
    assert s.task(task_id, key=colleague)["output"]["task_status"] == "PENDING"
    assert requests.post(f"{s.api}/tasks/{task_id}/cancel", headers=s.headers(colleague, False)).status_code == 200
    assert s.task(task_id)["output"]["task_status"] == "CANCELED"


def test_unknown_route_is_a_json_error(server):
    r = requests.get(f"{server.api}/services/aigc/nothing-here", headers=server.headers())
    assert error_of(r)[0] == 404
