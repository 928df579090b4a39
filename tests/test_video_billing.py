"""Video billed by the second (spec 000's FAQ): seconds from the model's free quota first (its
own, from the same account activation as the images'), then the tier's price per second; failed
tasks unbilled; usage rows and metrics in seconds of video; prices set per tier with
IMAGESCOPE_PRICES. And z-image-turbo's extend_price, charged when prompt_extend was on."""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy.orm import Session

from imagescope.accounting.accounts import Accounts
from imagescope.accounting.billing import charge
from imagescope.db import Account, Task, open_database
from imagescope.models.catalog import Catalog
from imagescope.tasks.records import request_to_json
from imagescope.tasks.spec import GenerationRequest
from test_video_api import VIDEO_PATH, run


def turbo(duration: int = 5, size: str = "832*480") -> dict:
    return {
        "model": "wan2.1-t2v-turbo",
        "input": {"prompt": "waves"},
        "parameters": {"size": size, "duration": duration, "prompt_extend": False},
    }


def usage(server) -> dict:
    r = requests.get(f"{server.api}/usage", headers=server.headers(None, False), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_video_seconds_come_from_the_free_quota_first_and_are_reported_in_seconds(make_server):
    s = make_server()
    assert run(s, VIDEO_PATH, turbo())["output"]["task_status"] == "SUCCEEDED"
    body = usage(s)
    [row] = [row for row in body["usage"] if row["model"] == "wan2.1-t2v-turbo"]
    assert (row["video_seconds"], row["free_video_seconds"], row["spend"]) == (5, 5, 0)
    assert (row["images"], row["free_images"], row["succeeded"]) == (0, 0, 1)
    [quota] = [q for q in body["free_quota"] if q["model"] == "wan2.1-t2v-turbo"]
    assert (quota["unit"], quota["free_quota"], quota["used"], quota["left"]) == ("seconds", 50, 5, 45)
    image_quota = next(q for q in body["free_quota"] if q["model"] == "qwen-image")
    assert image_quota["unit"] == "images" and image_quota["expires_at"] == quota["expires_at"]  # one activation


def test_a_models_two_names_share_one_free_quota(make_server):
    # wanx2.1-t2v-turbo and wan2.1-t2v-turbo are one model: switching names gives no second quota.
    s = make_server(IMAGESCOPE_FREE_QUOTA_IMAGES="8")
    run(s, VIDEO_PATH, turbo())  # 5 free seconds as wan2.1-t2v-turbo
    run(s, VIDEO_PATH, {**turbo(), "model": "wanx2.1-t2v-turbo"})  # 3 free, 2 paid
    body = usage(s)
    quotas = {q["model"]: q for q in body["free_quota"]}
    assert (quotas["wan2.1-t2v-turbo"]["used"], quotas["wanx2.1-t2v-turbo"]["left"]) == (8, 0)
    [row] = [row for row in body["usage"] if row["model"] == "wanx2.1-t2v-turbo"]
    assert (row["free_video_seconds"], row["spend"]) == (3, pytest.approx(2 * 0.036))
    assert quotas["wan2.1-i2v-turbo"]["left"] == 8  # another model keeps its own


def test_video_past_the_free_quota_is_charged_per_second_at_the_models_price(make_server):
    s = make_server(IMAGESCOPE_FREE_QUOTA_IMAGES="0", IMAGESCOPE_ADMIN_TOKEN="admin-secret")  # no free quota
    run(s, VIDEO_PATH, turbo())
    run(s, VIDEO_PATH, {**turbo(), "model": "wan2.5-t2v-preview", "parameters": {"size": "1280*720"}})
    rows = {row["model"]: row for row in usage(s)["usage"]}
    assert rows["wan2.1-t2v-turbo"]["spend"] == pytest.approx(5 * 0.036)
    assert rows["wan2.5-t2v-preview"]["spend"] == pytest.approx(5 * 0.10)  # 720P's price
    metrics = requests.get(f"{s.url}/metrics", timeout=10).text
    assert 'imagescope_video_seconds_generated_total{model="wan2.1-t2v-turbo"} 5.0' in metrics
    assert 'imagescope_images_generated_total{model="wan2.1-t2v-turbo"}' not in metrics
    admin = requests.get(
        f"{s.url}/admin/v1/usage?granularity=day", headers={"Authorization": "Bearer admin-secret"}, timeout=10
    )
    [row] = [row for row in admin.json()["usage"] if row["model"] == "wan2.1-t2v-turbo"]
    assert (row["video_seconds"], row["free_video_seconds"], row["images"]) == (5, 0, 0)


def test_a_failed_video_is_not_charged(make_server):
    s = make_server(IMAGESCOPE_FREE_QUOTA_IMAGES="0")
    assert run(s, VIDEO_PATH, turbo(duration=7))["output"]["task_status"] == "FAILED"
    [row] = usage(s)["usage"]
    assert (row["failed"], row["video_seconds"], row["spend"]) == (1, 0, 0)


def test_video_prices_are_set_per_tier_or_for_every_tier(make_server):
    s = make_server(
        IMAGESCOPE_FREE_QUOTA_IMAGES="0",
        IMAGESCOPE_PRICES="wan2.5-t2v-preview@480p=0.2,wan2.1-t2v-turbo=1",
    )
    run(s, VIDEO_PATH, {**turbo(), "model": "wan2.5-t2v-preview"})  # 832*480: the 480P tier
    run(s, VIDEO_PATH, turbo(size="1280*720"))
    rows = {row["model"]: row for row in usage(s)["usage"]}
    assert rows["wan2.5-t2v-preview"]["spend"] == pytest.approx(1.0)
    assert rows["wan2.1-t2v-turbo"]["spend"] == pytest.approx(5.0)


@pytest.mark.parametrize(("prompt_extend", "price"), [(True, 0.03), (False, 0.015)])
def test_extend_price_is_charged_per_image_when_prompt_extend_was_on(tmp_path, prompt_extend, price):
    db = open_database(f"sqlite:///{tmp_path / 'billing.db'}")
    Accounts(db).create_key(account="z")
    spec = Catalog().models["z-image-turbo"]
    request = GenerationRequest("z-image-turbo", "a fox", "", (1024, 1536), 1, 7, prompt_extend, False)
    with Session(db) as session, session.begin():
        account = session.query(Account).filter_by(name="z").one()
        task = Task(id=str(uuid.uuid4()), account_id=account.id, api_key_id=1, request=request_to_json(request))
        task.model = "z-image-turbo"
        [entry] = charge(session, task, 1, spec, quota=0)
        assert (entry.kind, entry.unit_price, entry.amount) == ("paid", price, price)
        [free] = charge(session, task, 1, spec, quota=10)
        assert (free.kind, free.amount) == ("free", 0)  # the free quota counts the image once either way
