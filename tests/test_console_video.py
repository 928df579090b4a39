"""The web console's video group (and wan2.6-image's size presets) in a real Chromium, driven by
Playwright against a real server on the preview engine.

One server and one browser for the module (the fixtures of test_console.py); each test gets a
fresh browser context. Debian's Chromium plays H.264, so a result ``<video>`` really loads: its
metadata (readyState ≥ 1) says the size the server made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import expect

import test_console
from conftest import Server
from imagescope.models.video import VIDEO_MODELS
from test_console import cells, loaded_sizes, png, results, sign_in

browser, page = test_console.browser, test_console.page  # the fixtures: one Chromium, a fresh context a test

VIDEO = "/services/aigc/video-generation/video-synthesis"
ADMIN = "console-video-admin"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    s = Server(
        tmp_path_factory.mktemp("console-video") / "data",
        env={"IMAGESCOPE_WORKERS": "2", "IMAGESCOPE_ADMIN_TOKEN": ADMIN},
    ).start()
    yield s
    s.stop()


def video_metadata(video) -> dict:
    """The element's state once its metadata has loaded (or failed to: then readyState is 0)."""
    video.wait_for()
    return video.evaluate(
        """v => new Promise(done => {
            const state = () => done({readyState: v.readyState, width: v.videoWidth, height: v.videoHeight,
                                      duration: v.duration, muted: v.muted, error: v.error && v.error.code,
                                      playsinline: v.hasAttribute('playsinline'), controls: v.controls});
            if (v.readyState >= 1 || v.error) return state();
            v.addEventListener('loadedmetadata', state);
            v.addEventListener('error', state);
            setTimeout(state, 10000);
        })"""
    )


def upload_to(page, label: str, name: str, data: bytes) -> None:
    page.get_by_label(label, exact=True).set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )
    expect(page.get_by_role("list", name=f"Chosen: {label}").get_by_role("listitem")).to_have_count(1)


def caption_value(figure, name: str):
    return figure.locator("dt", has_text=re.compile(f"^{name}$")).locator("+ dd")


def submit_video(server: Server, body: dict, key: str | None = None) -> dict:
    answer = requests.post(server.api + VIDEO, json=body, headers=server.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return server.wait(answer.json()["output"]["task_id"], key)


# --- rules and policy --------------------------------------------------------------------------


def test_rules_json_gives_each_video_models_rules_from_the_video_table(server):
    models = requests.get(server.url + "/console/rules.json", timeout=10).json()["models"]
    for row in VIDEO_MODELS:
        for name in row.names:
            video = models[name]["video"]
            rules = row.rules
            assert video["mode"] == rules.mode.value and video["fps"] == rules.fps and video["sound"] == rules.sound
            assert (video["durations"], video["default_duration"]) == (list(rules.durations), rules.default_duration)
            assert (video["tiers"], video["default_tier"]) == (list(rules.tiers), rules.default_tier)
            assert models[name]["prompt_max"] == row.prompt_max
    turbo = models["wan2.1-t2v-turbo"]["video"]
    assert {"size": [832, 480], "tier": "480P"} in turbo["sizes"] and turbo["default_size"] == [1280, 720]
    assert "sizes" not in models["wan2.1-i2v-turbo"]["video"]  # i2v takes a resolution tier instead
    vace = models["wanx2.1-vace-plus"]["video"]
    assert vace["functions"]["image_reference"]["images"] == "ref_images_url"
    assert vace["functions"]["video_repainting"]["clips"] == ["video_url"]
    assert vace["parameters"]["control_condition"]["choices"] == ["posebodyface", "posebody", "depth", "scribble"]
    assert models["wan2.6-image"]["size_presets"] == {"1K": 1280 * 1280, "2K": 2048 * 2048}


def test_the_csp_lets_result_videos_load_from_wherever_result_images_may(server):
    policy = requests.get(server.url + "/", timeout=10).headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["media-src"] == directives["img-src"] == "'self' data: blob:"


# --- the playground ----------------------------------------------------------------------------


def test_the_video_group_shows_only_the_chosen_video_models_parameters(page, server):
    sign_in(page, server)
    model = page.get_by_label("Model", exact=True)
    assert model.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)") == ["Text to image", "Editing", "Video"]
    video_group = model.locator("optgroup[label=Video] option").all_inner_texts()
    assert {"wan2.1-t2v-turbo", "wanx2.1-i2v-plus", "wan2.2-kf2v-flash", "wanx2.1-vace-plus"} <= set(video_group)

    model.select_option("wan2.1-t2v-turbo")
    assert "832*480" in page.get_by_label("Size", exact=True).locator("option").all_inner_texts()
    assert page.get_by_label("Duration").locator("option").all_inner_texts() == ["5 s"]
    for absent in ("Number of images", "Input image", "Resolution", "Sound (the model adds a soundtrack)"):
        expect(page.get_by_label(absent, exact=True)).to_have_count(0)

    model.select_option("wan2.6-t2v")
    expect(page.get_by_label("Sound (the model adds a soundtrack)")).to_be_checked()
    expect(page.get_by_text("The preview engine makes silent videos: a preview has no sound.")).to_be_visible()
    assert len(page.get_by_label("Duration").locator("option").all_inner_texts()) == 14  # 2-15 s

    model.select_option("wanx2.1-i2v-turbo")
    assert page.get_by_label("Resolution").locator("option").all_inner_texts() == ["480P", "720P"]
    expect(page.get_by_label("Input image", exact=True)).to_have_count(1)
    expect(page.get_by_label("Size", exact=True)).to_have_count(0)

    model.select_option("wan2.2-kf2v-flash")
    expect(page.get_by_label("First frame", exact=True)).to_have_count(1)
    expect(page.get_by_label("Last frame", exact=True)).to_have_count(1)

    model.select_option("wanx2.1-vace-plus")
    expect(page.get_by_label("VACE function")).to_have_value("image_reference")
    expect(page.get_by_label("Reference images", exact=True)).to_have_attribute("multiple", "")
    page.get_by_label("VACE function").select_option("video_repainting")
    expect(page.get_by_label("Input video URL")).to_be_visible()
    assert "depth" in page.get_by_label("Control condition").locator("option").all_inner_texts()
    page.get_by_label("Prompt", exact=True).fill("a dancer")
    page.get_by_role("button", name="Generate").click()  # no video URL: said before anything is sent
    expect(page.locator("form").get_by_role("alert")).to_contain_text("video_repainting needs Input video URL")


def test_text_to_video_plays_a_muted_video_of_the_asked_size_with_its_details(page, server):
    sign_in(page, server)
    page.get_by_label("Model", exact=True).select_option("wan2.5-t2v-preview")
    page.get_by_label("Prompt", exact=True).fill("a paper boat on a rainy street")
    page.get_by_label("Size", exact=True).select_option("832*480")
    page.get_by_label("Seed").fill("42")
    with page.expect_request(lambda r: r.url.endswith(VIDEO)) as sent:
        page.get_by_role("button", name="Generate").click()
    assert sent.value.headers["x-dashscope-async"] == "enable"
    body = sent.value.post_data_json
    assert body["parameters"] == {
        "size": "832*480",
        "duration": 5,
        "seed": 42,
        "prompt_extend": True,
        "watermark": False,
        "audio": True,
    }

    region = results(page)
    video = region.locator("video")
    state = video_metadata(video)
    assert state["readyState"] >= 1 and (state["width"], state["height"]) == (832, 480)
    assert state["muted"] and state["playsinline"] and state["controls"] and abs(state["duration"] - 5) < 0.2
    expect(region.get_by_text(re.compile(r"Task .*: SUCCEEDED"))).to_be_visible()
    figure = region.locator("figure")
    expect(caption_value(figure, "Size")).to_have_text("832*480")
    expect(caption_value(figure, "Duration")).to_have_text("5 s")
    expect(caption_value(figure, "Frame rate")).to_have_text("24 fps")
    expect(caption_value(figure, "Seed")).to_have_text("42")
    expect(caption_value(figure, "Sound")).to_contain_text("silent")  # the preview made no sound
    expect(caption_value(figure, "Actual prompt")).to_contain_text("a paper boat on a rainy street")
    expect(region.get_by_text("this video is a labelled preview", exact=False)).to_be_visible()
    link = region.get_by_role("link", name="Download video")
    assert requests.get(link.get_attribute("href"), timeout=10).headers["content-type"] == "video/mp4"
    assert page.console_errors == []


def test_image_to_video_starts_from_an_uploaded_image_in_its_proportions(page, server):
    sign_in(page, server)
    page.get_by_label("Model", exact=True).select_option("wan2.1-i2v-turbo")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("form").get_by_role("alert")).to_contain_text("needs an input image")
    upload_to(page, "Input image", "hill.png", png(640, 480))
    page.get_by_label("Resolution").select_option("480P")
    page.get_by_label("Duration").select_option("3")
    with page.expect_request(lambda r: r.url.endswith(VIDEO)) as sent:
        page.get_by_role("button", name="Generate").click()
    body = sent.value.post_data_json
    assert body["input"]["img_url"].startswith("data:image/png;base64,") and "prompt_extend" in body["parameters"]
    assert (body["parameters"]["resolution"], body["parameters"]["duration"]) == ("480P", 3)
    state = video_metadata(results(page).locator("video"))
    assert state["readyState"] >= 1 and abs(state["width"] / state["height"] - 4 / 3) < 0.03
    assert abs(state["width"] * state["height"] - 832 * 480) < 0.05 * 832 * 480  # the 480P tier's pixels
    expect(caption_value(results(page).locator("figure"), "Duration")).to_have_text("3 s")


def test_vace_image_reference_sends_its_reference_images_with_a_role_each(page, server):
    sign_in(page, server)
    page.get_by_label("Model", exact=True).select_option("wanx2.1-vace-plus")
    page.get_by_label("Reference images", exact=True).set_input_files(
        files=[
            {"name": "cat.png", "mimeType": "image/png", "buffer": png(512, 512)},
            {"name": "room.png", "mimeType": "image/png", "buffer": png(640, 400)},
        ]
    )
    expect(page.get_by_role("list", name="Chosen: Reference images").get_by_role("listitem")).to_have_count(2)
    page.get_by_label("Image 2 (room.png) is").select_option("bg")
    page.get_by_label("Size", exact=True).select_option("960*960")
    page.get_by_label("Prompt", exact=True).fill("the cat walks through the room")
    with page.expect_request(lambda r: r.url.endswith(VIDEO)) as sent:
        page.get_by_role("button", name="Generate").click()
    body = sent.value.post_data_json
    assert body["input"]["function"] == "image_reference" and len(body["input"]["ref_images_url"]) == 2
    assert body["parameters"]["obj_or_bg"] == ["obj", "bg"] and body["parameters"]["size"] == "960*960"
    state = video_metadata(results(page).locator("video"))
    assert state["readyState"] >= 1 and (state["width"], state["height"]) == (960, 960)


def test_the_task_list_and_detail_show_a_video_task_with_its_video_and_duration(page, server):
    done = submit_video(
        server, {"model": "wan2.1-t2v-turbo", "input": {"prompt": "tasks of video"}, "parameters": {"size": "480*832"}}
    )
    task_id = done["output"]["task_id"]
    sign_in(page, server)
    page.get_by_role("link", name="Tasks").click()
    page.get_by_label("Model").select_option("wan2.1-t2v-turbo")
    page.get_by_role("button", name="Show tasks").click()
    expect(page.get_by_role("row", name=re.compile(task_id))).to_contain_text(
        cells("wan2.1-t2v-turbo", "video", "SUCCEEDED"), use_inner_text=True
    )
    page.get_by_role("button", name=task_id).click()
    detail = page.get_by_role("region", name="Task detail")
    expect(caption_value(detail, "Video").first).to_have_text("5 s, 480*832")
    expect(
        detail.get_by_role("region", name="Request").locator("dt", has_text=re.compile("^size$")).locator("+ dd")
    ).to_have_text("480*832")
    state = video_metadata(detail.locator("video"))
    assert state["readyState"] >= 1 and (state["width"], state["height"]) == (480, 832)


def test_usage_counts_seconds_of_video_and_the_free_quota_in_seconds(page, server):
    key = server.new_key(account="video-usage")
    submit_video(
        server, {"model": "wan2.1-t2v-turbo", "input": {"prompt": "counted"}, "parameters": {"size": "832*480"}}, key
    )
    sign_in(page, server, key)
    page.get_by_role("link", name="Usage").click()
    days = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Video seconds"))
    expect(days.get_by_role("row", name=re.compile("wan2.1-t2v-turbo"))).to_contain_text(
        cells("wan2.1-t2v-turbo", 1, 1, 0, 0, "100%", 0, 0, 5, 5, "$0.0000"), use_inner_text=True
    )
    left = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Left"))
    expect(left.get_by_role("row", name=re.compile("^wan2.1-t2v-turbo"))).to_contain_text(
        cells("wan2.1-t2v-turbo", "50 s", "5 s", "45 s"), use_inner_text=True
    )
    page.get_by_role("link", name="Admin").click()  # the server's report says seconds too
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Open admin").click()
    report = page.get_by_role("table", name="Usage of every account")
    expect(report.get_by_role("row", name=re.compile("video-usage"))).to_contain_text(
        cells("video-usage", "wan2.1-t2v-turbo", 1, "100%", "5 s", "5 s", "$0.0000"), use_inner_text=True
    )
    quota = page.get_by_role("table", name="Free quota left")
    expect(quota.get_by_role("row", name=re.compile("video-usage"))).to_contain_text(
        cells("video-usage", "wan2.1-t2v-turbo", "50 s", "5 s", "45 s"), use_inner_text=True
    )


def test_wan26_image_takes_the_2k_size_preset_in_the_first_images_proportions(page, server):
    sign_in(page, server)
    page.get_by_label("Model", exact=True).select_option("wan2.6-image")
    preset = page.get_by_label("Size preset")
    assert [t.split(":")[0] for t in preset.locator("option").all_inner_texts()] == ["Default (1K)", "1K", "2K"]
    page.get_by_label("Input images").set_input_files(
        files=[{"name": "wide.png", "mimeType": "image/png", "buffer": png(600, 400)}]
    )
    preset.select_option("2K")
    page.get_by_label("Prompt", exact=True).fill("the same scene at night")
    page.get_by_label("Number of images").fill("1")
    with page.expect_request(lambda r: r.url.endswith("/image-generation/generation")) as sent:
        page.get_by_role("button", name="Generate").click()
    assert sent.value.post_data_json["parameters"]["size"] == "2K"
    [[width, height]] = loaded_sizes(results(page).get_by_role("img"))
    assert abs(width / height - 1.5) < 0.02 and abs(width * height - 2048 * 2048) < 0.03 * 2048 * 2048


def test_a_size_preset_and_a_width_and_height_together_are_refused_in_words(page, server):
    sign_in(page, server)
    page.get_by_label("Model", exact=True).select_option("wan2.6-image")
    page.get_by_label("Input images").set_input_files(
        files=[{"name": "a.png", "mimeType": "image/png", "buffer": png(512, 512)}]
    )
    page.get_by_label("Size preset").select_option("1K")
    page.get_by_label("Width").fill("1024")
    page.get_by_label("Height").fill("1024")
    page.get_by_label("Prompt", exact=True).fill("x")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("form").get_by_role("alert")).to_have_text(
        "Choose a size preset or give the width and height, not both."
    )


def test_wan26_image_interleaved_mode_streams_text_and_pictures_in_turn(page, server):
    sign_in(page, server)
    page.get_by_label("Model", exact=True).select_option("wan2.6-image")
    page.get_by_label("Output").select_option("interleave")
    expect(page.get_by_label("Number of images")).to_have_count(0)  # one answer: max_images instead
    expect(page.get_by_label("Input images")).not_to_have_attribute("multiple", "")  # none or one
    page.get_by_label("Width").fill("1024")
    page.get_by_label("Height").fill("1024")
    page.get_by_label("Most images").fill("2")
    page.get_by_label("Prompt", exact=True).fill("how to fold a paper crane")
    with page.expect_request(lambda r: r.url.endswith("/multimodal-generation/generation")) as sent:
        page.get_by_role("button", name="Generate").click()
    assert sent.value.headers["x-dashscope-sse"] == "enable"
    parameters = sent.value.post_data_json["parameters"]
    assert (parameters["enable_interleave"], parameters["max_images"], parameters["size"]) == (True, 2, "1024*1024")
    assert "n" not in parameters
    region = results(page)
    expect(region.get_by_text("SUCCEEDED: 2 pictures of 1024*1024")).to_be_visible()
    texts = region.locator(".interleaved > *").evaluate_all("els => els.map(e => e.tagName)")
    assert texts == ["P", "FIGURE", "P", "FIGURE"]  # each picture after its text
    expect(region.locator(".interleaved-text").first).to_contain_text("how to fold a paper crane")
    assert loaded_sizes(region.get_by_role("img")) == [[1024, 1024], [1024, 1024]]
