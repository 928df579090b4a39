"""Each video model family's rules and errors over real HTTP: sizes per tier, resolution tiers,
durations (accepted, then the task fails), fps, defaults, prompt limits, both name spellings, the
SDK's quirks (``input.extend_prompt``, ``input.function: "video-synthesis"``) and VACE's functions.

Rules that show in the stored request are read back from ``GET /tasks/{id}/request`` on a server
that runs no task (``IMAGESCOPE_WORKERS=0``), so they cost no video."""

from __future__ import annotations

import pytest
import requests

from test_video_api import KF2V_PATH, VIDEO_PATH, png_data_uri, run, submit


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    """A server that accepts tasks and runs none."""
    from conftest import Server

    s = Server(tmp_path_factory.mktemp("idle"), env={"IMAGESCOPE_WORKERS": "0"}).start()
    yield s
    s.stop()


def accepted(server, body: dict, path: str = VIDEO_PATH) -> dict:
    """The request as the task keeps it."""
    r = submit(server, path, body)
    assert r.status_code == 200, r.text
    task_id = r.json()["output"]["task_id"]
    kept = requests.get(f"{server.api}/tasks/{task_id}/request", headers=server.headers(None, False), timeout=10)
    return kept.json()["request"]


def refused(server, body: dict, path: str = VIDEO_PATH) -> tuple[int, str, str]:
    r = submit(server, path, body)
    return r.status_code, r.json()["code"], r.json()["message"]


def t2v(model: str, **parameters: object) -> dict:
    return {"model": model, "input": {"prompt": "a paper boat"}, "parameters": parameters}


IMAGE = png_data_uri((10, 120, 200), (480, 360))


def i2v(model: str, **parameters: object) -> dict:
    return {"model": model, "input": {"img_url": IMAGE}, "parameters": parameters}


@pytest.mark.parametrize(
    ("model", "default"),
    [
        ("wanx2.1-t2v-turbo", "1280*720"),
        ("wan2.1-t2v-turbo", "1280*720"),
        ("wanx2.1-t2v-plus", "1280*720"),
        ("wan2.2-t2v-plus", "1920*1080"),
        ("wan2.5-t2v-preview", "1920*1080"),
        ("wan2.6-t2v", "1920*1080"),  # the notes do not say: its largest tier, as wan2.2's and wan2.5's
    ],
)
def test_t2v_default_size_per_model(idle, model, default):
    kept = accepted(idle, t2v(model))
    assert kept["parameters"]["size"] == default
    assert kept["parameters"]["duration"] == 5 and kept["parameters"]["prompt_extend"] is True


def test_t2v_unlisted_size_is_refused_at_submission_with_the_hosted_words(idle):
    assert refused(idle, t2v("wanx2.1-t2v-turbo", size="1920*1080")) == (
        400,
        "InvalidParameter",
        "size must be in 1088*832,1280*720,480*832,624*624,720*1280,832*1088,832*480,960*960",
    )
    # wan2.2-t2v-plus has 480P and 1080P, not 720P
    assert refused(idle, t2v("wan2.2-t2v-plus", size="1280*720"))[2].startswith("size must be in 1080*1920,")
    assert accepted(idle, t2v("wan2.2-t2v-plus", size="480*832"))["parameters"]["size"] == "480*832"


def test_unsupported_duration_is_accepted_then_the_task_fails(server):
    done = run(server, VIDEO_PATH, t2v("wan2.1-t2v-turbo", size="832*480", duration=7))
    assert done["output"]["task_status"] == "FAILED"
    assert done["output"]["code"] == "InvalidParameter"
    assert done["output"]["message"] == "duration customization is not supported"
    assert "usage" not in done


def test_durations_each_model_makes_are_accepted(idle):
    assert accepted(idle, i2v("wanx2.1-i2v-turbo", duration=3))["parameters"]["duration"] == 3
    assert accepted(idle, t2v("wan2.5-t2v-preview", duration=10))["parameters"]["duration"] == 10
    assert accepted(idle, t2v("wan2.6-t2v", duration=13))["parameters"]["duration"] == 13  # 2-15 s


def test_i2v_needs_img_url(idle):
    assert refused(idle, {"model": "wan2.2-i2v-flash", "input": {"prompt": "x"}}) == (
        400,
        "InvalidParameter",
        "Field required: input.img_url",
    )


def test_i2v_resolution_must_be_one_of_the_models_tiers_and_defaults_per_model(idle):
    assert refused(idle, i2v("wanx2.1-i2v-plus", resolution="480P")) == (
        400,
        "InvalidParameter",
        "resolution must be in 720P, got '480P'",
    )
    assert accepted(idle, i2v("wan2.2-i2v-plus"))["parameters"]["resolution"] == "1080P"
    assert accepted(idle, i2v("wan2.2-i2v-flash"))["parameters"]["resolution"] == "720P"
    assert accepted(idle, i2v("wan2.5-i2v-preview", resolution="480p"))["parameters"]["resolution"] == "480P"


def test_t2v_needs_a_prompt_and_i2v_does_not(idle):
    assert refused(idle, {"model": "wan2.1-t2v-plus", "input": {}})[2] == "Field required: input.prompt"
    assert accepted(idle, i2v("wan2.1-i2v-turbo"))["input"]["prompt"] == ""


def test_input_image_outside_the_i2v_rules_is_refused(idle):
    small = png_data_uri((1, 2, 3), (200, 200))  # sides 360-2000
    status, code, _ = refused(idle, {"model": "wan2.2-i2v-flash", "input": {"img_url": small}})
    assert (status, code) == (400, "InvalidParameter")


def test_prompts_are_truncated_to_the_models_limit_never_refused(idle):
    body = {"model": "wan2.1-t2v-turbo", "input": {"prompt": "p" * 900, "negative_prompt": "n" * 600}}
    kept = accepted(idle, body)
    assert len(kept["input"]["prompt"]) == 800 and len(kept["input"]["negative_prompt"]) == 500
    body["model"] = "wan2.5-t2v-preview"
    body["input"]["prompt"] = "p" * 2100
    assert len(accepted(idle, body)["input"]["prompt"]) == 2000


def test_seed_out_of_range_is_refused(idle):
    assert refused(idle, t2v("wan2.1-t2v-turbo", seed=-1))[2] == "parameters.seed must be in [0, 2147483647], got -1"


def test_kf2v_models_live_on_their_own_endpoint_and_the_others_not_there(idle):
    body = {
        "model": "wanx2.1-kf2v-plus",
        "input": {"first_frame_url": IMAGE, "last_frame_url": IMAGE, "prompt": "x"},
    }
    assert refused(idle, body)[:2] == (404, "InvalidParameter")  # "Model not exist." on video-generation
    assert accepted(idle, body, KF2V_PATH)["parameters"]["resolution"] == "720P"
    assert refused(idle, t2v("wan2.1-t2v-turbo"), KF2V_PATH)[:2] == (404, "InvalidParameter")
    del body["input"]["last_frame_url"]
    assert refused(idle, body, KF2V_PATH)[2] == "Field required: input.last_frame_url"


def test_the_sdks_input_extend_prompt_counts_only_without_parameters_prompt_extend(idle):
    body = {"model": "wan2.1-t2v-turbo", "input": {"prompt": "x", "extend_prompt": False}}
    assert accepted(idle, body)["parameters"]["prompt_extend"] is False
    body["parameters"] = {"prompt_extend": True}
    assert accepted(idle, body)["parameters"]["prompt_extend"] is True


def test_the_sdks_function_name_is_ignored_by_t2v_and_is_no_vace_function(idle):
    body = {"model": "wan2.1-t2v-turbo", "input": {"prompt": "x", "function": "video-synthesis"}}
    assert "function" not in accepted(idle, body)["input"]
    vace = {"model": "wanx2.1-vace-plus", "input": {"prompt": "x", "function": "video-synthesis"}}
    status, code, message = refused(idle, vace)
    assert (status, code) == (400, "InvalidParameter")
    assert message.startswith("input.function must be one of image_reference, video_repainting")


def test_vace_functions_need_their_inputs_and_check_their_parameters(idle):
    def vace(function: str, inputs: dict, **parameters: object) -> dict:
        return {
            "model": "wan2.1-vace-plus",
            "input": {"prompt": "x", "function": function, **inputs},
            "parameters": parameters,
        }

    assert refused(idle, vace("video_repainting", {}))[2] == "Field required: input.video_url"
    clip = "https://example.com/clip.mp4"
    assert refused(idle, vace("video_repainting", {"video_url": clip}))[2] == (
        "Field required: parameters.control_condition"
    )
    assert refused(idle, vace("video_repainting", {"video_url": clip}, control_condition="depth", strength=2))[2] == (
        "parameters.strength must be in [0.0, 1.0], got 2"
    )
    assert refused(idle, vace("image_reference", {"ref_images_url": []}))[2] == (
        "input.ref_images_url must be a list of 1 to 3 images"
    )
    kept = accepted(idle, vace("image_reference", {"ref_images_url": [IMAGE, IMAGE]}, obj_or_bg=["obj", "bg"]))
    assert kept["parameters"]["obj_or_bg"] == ["obj", "bg"] and kept["parameters"]["size"] == "1280*720"
    assert refused(idle, vace("video_edit", {"video_url": clip}))[2] == "Field required: input.mask_image_url"
    assert refused(idle, vace("video_outpainting", {"video_url": clip}, top_scale=3))[2] == (
        "parameters.top_scale must be in [1.0, 2.0], got 3"
    )
    assert refused(idle, vace("image_reference", {"ref_images_url": [IMAGE]}, size="832*480"))[2].startswith(
        "size must be in 1088*832,1280*720,720*1280"
    )


def test_openapi_documents_both_video_endpoints_with_their_body_and_the_async_header(idle):
    document = requests.get(f"{idle.url}/openapi.json", timeout=10).json()
    for path in (VIDEO_PATH, KF2V_PATH):
        operation = document["paths"]["/api/v1" + path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/VideoRequest")
        assert any(p["name"] == "X-DashScope-Async" and p["required"] for p in operation["parameters"])
    schema = document["components"]["schemas"]
    assert {"img_url", "first_frame_url", "function", "ref_images_url"} <= set(schema["VideoInput"]["properties"])
