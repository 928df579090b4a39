"""``GET /api/v1/usage`` and ``GET /api/v1/tasks/{id}/request`` (our additions), over real HTTP:
a key holder's own usage per model and day with the free quota left, and a task's request
as it was submitted."""

from __future__ import annotations

import base64
import io
import time

import pytest
import requests
from PIL import Image

from conftest import Server

ADMIN = "usage-admin-token"
MODEL = "wan2.2-t2i-flash"
PRICE = 0.02
FREE = 3


def body(n: int, prompt: str = "a lighthouse") -> dict:
    return {
        "model": MODEL,
        "input": {"prompt": prompt},
        "parameters": {"size": "512*512", "n": n, "prompt_extend": False},
    }


def png(width: int, height: int, colour: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def usage(server: Server, key: str, **params: str) -> requests.Response:
    return requests.get(server.api + "/usage", params=params, headers=server.headers(key, False), timeout=10)


def own_request(server: Server, task_id: str, key: str | None = None) -> requests.Response:
    return requests.get(f"{server.api}/tasks/{task_id}/request", headers=server.headers(key, False), timeout=10)


def admin(server: Server, path: str, **params: str) -> dict:
    answer = requests.get(
        f"{server.url}/admin/v1{path}", params=params, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def quota_of(answer: dict, model: str = MODEL) -> dict:
    return next(q for q in answer["free_quota"] if q["model"] == model)


@pytest.fixture
def priced(make_server) -> Server:
    """A server where MODEL costs PRICE per image beyond a free quota of FREE images."""
    return make_server(
        IMAGESCOPE_WORKERS="2",
        IMAGESCOPE_ADMIN_TOKEN=ADMIN,
        IMAGESCOPE_PRICES=f"{MODEL}={PRICE}",
        IMAGESCOPE_FREE_QUOTA_IMAGES=str(FREE),
    )


# --- /api/v1/usage -------------------------------------------------------------------------------


def test_usage_of_two_accounts_never_mix_and_each_matches_the_admin_report(priced):
    alice, bob = priced.new_key(account="alice"), priced.new_key(account="bob")
    for n in (1, 2):
        assert priced.run(body(n), key=alice)["output"]["task_status"] == "SUCCEEDED"
    for _ in range(4):
        assert priced.run(body(1), key=bob)["output"]["task_status"] == "SUCCEEDED"

    mine = usage(priced, alice).json()
    [row] = mine["usage"]
    assert (row["model"], row["invocations"], row["succeeded"], row["failed"], row["images"]) == (MODEL, 2, 2, 0, 3)
    assert row["success_rate"] == 1.0 and row["free_images"] == 3 and row["spend"] == 0.0
    [theirs] = usage(priced, bob).json()["usage"]
    assert (theirs["invocations"], theirs["images"], theirs["free_images"]) == (4, 4, 3)
    assert theirs["spend"] == pytest.approx(PRICE)  # bob's fourth image is past his own free quota

    for name, own in (("alice", row), ("bob", theirs)):
        [reported] = admin(priced, "/usage", granularity="day", account=name)["usage"]
        reported["date"] = reported.pop("period")
        assert reported == {**own, "account": name}


def test_spend_and_free_images_match_the_ledger_and_the_free_quota_left_decreases(priced):
    key = priced.new_key(account="payer")
    before = quota_of(usage(priced, key).json())
    assert (before["free_quota"], before["used"], before["left"]) == (FREE, 0, FREE)
    priced.run(body(2), key=key)
    assert quota_of(usage(priced, key).json())["left"] == FREE - 2
    priced.run(body(2), key=key)  # one free image left: one free, one paid
    after = usage(priced, key).json()
    assert (quota_of(after)["used"], quota_of(after)["left"]) == (FREE, 0)

    ledger = admin(priced, "/ledger", account="payer")
    [row] = after["usage"]
    assert row["spend"] == pytest.approx(ledger["total_amount"]) == pytest.approx(PRICE)
    assert row["free_images"] == sum(e["images"] for e in ledger["entries"] if e["kind"] == "free") == FREE
    assert row["images"] == ledger["total_images"] == 4
    other = quota_of(after, "qwen-image-plus")  # untouched model: the whole quota
    assert (other["used"], other["left"]) == (0, FREE) and other["expires_at"] > after["end"]


@pytest.mark.parametrize("days", ["0", "91", "x", "-1", "1.5", "²", "9" * 500])
def test_days_outside_1_to_90_is_invalid_parameter(server, days):
    answer = usage(server, server.key, days=days)
    assert answer.status_code == 400
    assert answer.json()["code"] == "InvalidParameter"
    assert answer.json()["message"].startswith("days must be an integer in [1, 90], got ")


@pytest.mark.parametrize(("days", "expected"), [(None, 30), ("1", 1), ("90", 90)])
def test_days_spans_whole_utc_days_ending_today(server, days, expected):
    answer = usage(server, server.key, **({"days": days} if days else {}))
    assert answer.status_code == 200
    got = answer.json()
    assert got["days"] == expected and got["end"] - got["start"] == expected * 86400 and got["end"] % 86400 == 0


def test_usage_needs_a_valid_key(server):
    answer = usage(server, "sk-not-a-key")
    assert (answer.status_code, answer.json()["code"]) == (401, "InvalidApiKey")
    assert requests.get(server.api + "/usage", timeout=10).status_code == 401


def test_both_routes_are_documented_in_openapi_with_response_models(server):
    document = requests.get(server.url + "/openapi.json", timeout=10).json()
    for path, model in (("/api/v1/usage", "OwnUsage"), ("/api/v1/tasks/{task_id}/request", "TaskRequestAnswer")):
        ok = document["paths"][path]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/" + model)
        assert model in document["components"]["schemas"]
    days = next(p for p in document["paths"]["/api/v1/usage"]["get"]["parameters"] if p["name"] == "days")
    assert "UTC" in days["description"]


# --- /api/v1/tasks/{id}/request ----------------------------------------------------------------------


def test_request_of_a_text_to_image_task_round_trips_its_parameters(server):
    sent = {
        "model": MODEL,
        "input": {"prompt": "a lighthouse at dusk", "negative_prompt": "fog"},
        "parameters": {"size": "512*640", "n": 2, "seed": 42, "prompt_extend": False, "watermark": True},
    }
    task_id = server.run(sent)["output"]["task_id"]
    answer = own_request(server, task_id)
    assert answer.status_code == 200
    got = answer.json()
    assert (got["task_id"], got["task_status"], got["endpoint"]) == (task_id, "SUCCEEDED", "text2image")
    assert got["request"] == sent


def test_request_of_a_task_without_a_seed_shows_the_seed_drawn(server):
    task_id = server.run(body(1))["output"]["task_id"]
    parameters = own_request(server, task_id).json()["request"]["parameters"]
    assert 0 <= parameters["seed"] <= 2147483647
    assert parameters["n"] == 1 and parameters["watermark"] is False


def test_request_of_an_edit_task_round_trips_its_parameters_and_serves_its_input_image(server):
    base = png(512, 512)
    sent = {
        "model": "wanx2.1-imageedit",
        "input": {"function": "expand", "prompt": "a wider view", "base_image_url": data_uri(base)},
        "parameters": {
            "n": 1,
            "seed": 7,
            "top_scale": 1.5,
            "bottom_scale": 1.0,
            "left_scale": 1.25,
            "right_scale": 2.0,
        },
    }
    answer = requests.post(
        server.api + "/services/aigc/image2image/image-synthesis", json=sent, headers=server.headers(), timeout=10
    )
    task_id = answer.json()["output"]["task_id"]
    server.wait(task_id)
    got = own_request(server, task_id).json()
    assert got["endpoint"] == "image2image"
    request = got["request"]
    assert request["input"]["function"] == "expand" and request["input"]["prompt"] == "a wider view"
    expected = sent["parameters"] | {"prompt_extend": False, "watermark": False}
    assert request["parameters"] == expected  # no size: the output follows the input
    image = requests.get(request["input"]["base_image_url"], timeout=10)
    assert image.status_code == 200 and image.content == base


def test_request_of_a_fusion_task_lists_its_images_in_order(server):
    first, second = png(512, 512, (200, 40, 40)), png(512, 384, (40, 200, 40))
    sent = {
        "model": "wan2.5-i2i-preview",
        "input": {"prompt": "both together", "images": [data_uri(first), data_uri(second)]},
        "parameters": {"n": 1, "size": "1024*1024"},
    }
    answer = requests.post(
        server.api + "/services/aigc/image2image/image-synthesis", json=sent, headers=server.headers(), timeout=10
    )
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["output"]["task_id"]
    urls = own_request(server, task_id).json()["request"]["input"]["images"]
    assert [requests.get(url, timeout=10).content for url in urls] == [first, second]


def test_request_of_another_accounts_or_an_unknown_task_reads_unknown(server):
    task_id = server.run(body(1))["output"]["task_id"]
    stranger = server.new_key(account="stranger")
    for key, wanted in ((stranger, task_id), (server.key, "00000000-0000-0000-0000-000000000000")):
        answer = own_request(server, wanted, key)
        assert answer.status_code == 200
        got = answer.json()
        assert (got["task_id"], got["task_status"]) == (wanted, "UNKNOWN") and "request" not in got
    assert own_request(server, task_id, "sk-not-a-key").status_code == 401


def test_request_of_an_expired_task_reads_unknown(make_server):
    s = make_server(IMAGESCOPE_WORKERS="1", IMAGESCOPE_TASK_TTL_SECONDS="1")
    task_id = s.run(body(1))["output"]["task_id"]
    time.sleep(1.5)
    assert own_request(s, task_id).json()["task_status"] == "UNKNOWN"
