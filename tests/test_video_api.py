"""The video endpoints end to end through the official SDK's VideoSynthesis (call, async_call,
wait, fetch, cancel, list), unchanged but for the base URL: the MP4 downloaded and decoded with
PyAV (codec, pixel format, size, fps, frame count), image-to-video from a ``file://`` input (the
SDK's upload flow), first-and-last-frame on its own endpoint, and a purge that takes the MP4."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from dataclasses import dataclass
from fractions import Fraction
from http import HTTPStatus

import av
import dashscope
import numpy as np
import requests
from dashscope import VideoSynthesis
from PIL import Image

VIDEO_PATH = "/services/aigc/video-generation/video-synthesis"
KF2V_PATH = "/services/aigc/image2video/video-synthesis"


@dataclass
class Clip:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: Fraction
    frames: list[np.ndarray]  # RGB


def fetch_clip(url: str) -> Clip:
    """The MP4 behind a result URL, served as video/mp4, decoded."""
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(r.content)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        context = stream.codec_context
        return Clip(context.name, context.pix_fmt, context.width, context.height, stream.average_rate, frames)


def submit(server, path: str, body: dict, key: str | None = None) -> requests.Response:
    return requests.post(server.api + path, json=body, headers=server.headers(key), timeout=10)


def run(server, path: str, body: dict, key: str | None = None) -> dict:
    """Submit over plain HTTP and wait for the task's end."""
    r = submit(server, path, body, key)
    assert r.status_code == 200, r.text
    assert r.json()["output"]["task_status"] == "PENDING"
    return server.wait(r.json()["output"]["task_id"], key)


def png_data_uri(color: tuple[int, int, int], size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_sdk_video_call_makes_an_h264_mp4_of_the_asked_size_fps_and_length(sdk):
    rsp = VideoSynthesis.call(api_key=sdk.key, model="wan2.1-t2v-turbo", prompt="an orange cat", size="832*480", seed=3)
    assert rsp.status_code == HTTPStatus.OK, rsp
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.output.orig_prompt == "an orange cat"
    assert rsp.output.actual_prompt  # prompt_extend defaults to true
    assert rsp.output.submit_time and rsp.output.scheduled_time and rsp.output.end_time
    assert (rsp.usage.video_duration, rsp.usage.video_count, rsp.usage.video_ratio) == (5, 1, "832*480")
    clip = fetch_clip(rsp.output.video_url)
    assert (clip.codec, clip.pix_fmt) == ("h264", "yuv420p")
    assert (clip.width, clip.height, clip.fps, len(clip.frames)) == (832, 480, 30, 150)
    assert not np.array_equal(clip.frames[0], clip.frames[-1])  # it moves


def test_sdk_async_call_answers_pending_then_fetch_wait_and_list_see_the_video(sdk):
    task = VideoSynthesis.async_call(
        api_key=sdk.key, model="wanx2.1-t2v-turbo", prompt="rain on a window", size="624*624", prompt_extend=False
    )
    assert task.status_code == HTTPStatus.OK
    assert task.output.task_status == "PENDING"
    assert VideoSynthesis.fetch(task, api_key=sdk.key).output.task_status in ("PENDING", "RUNNING", "SUCCEEDED")
    done = VideoSynthesis.wait(task, api_key=sdk.key)
    assert done.output.task_status == "SUCCEEDED"
    assert done.output.task_id == task.output.task_id
    assert "actual_prompt" not in done.output  # prompt_extend was off
    assert fetch_clip(done.output.video_url).width == 624
    listed = VideoSynthesis.list(api_key=sdk.key, model_name="wanx2.1-t2v-turbo", page_size=100)
    assert listed.status_code == HTTPStatus.OK
    assert task.output.task_id in {item["task_id"] for item in listed.output["data"]}


def test_sdk_aio_video_synthesis_call_makes_the_same_video_as_the_blocking_call(sdk):
    """AioVideoSynthesis (aiohttp) mirrors VideoSynthesis: the same request, the same MP4."""
    from dashscope.aigc.video_synthesis import AioVideoSynthesis

    asked = {"model": "wan2.1-t2v-turbo", "prompt": "a paper boat", "size": "624*624", "seed": 7}
    done = asyncio.run(AioVideoSynthesis.call(api_key=sdk.key, prompt_extend=False, **asked))
    assert done.status_code == HTTPStatus.OK
    assert done.output.task_status == "SUCCEEDED"
    assert done.usage.video_duration == 5 and done.usage.video_ratio == "624*624"
    blocking = VideoSynthesis.call(api_key=sdk.key, prompt_extend=False, **asked)
    assert (
        requests.get(done.output.video_url, timeout=10).content
        == requests.get(blocking.output.video_url, timeout=10).content
    )


def test_sdk_cancel_of_a_pending_video_task_reads_canceled(make_server):
    s = make_server(IMAGESCOPE_WORKERS="0")  # nothing runs: the task stays PENDING
    dashscope.base_http_api_url, previous = s.api, dashscope.base_http_api_url
    try:
        task = VideoSynthesis.async_call(api_key=s.key, model="wan2.1-t2v-plus", prompt="a lighthouse")
        assert VideoSynthesis.cancel(task, api_key=s.key).status_code == HTTPStatus.OK
        assert VideoSynthesis.fetch(task, api_key=s.key).output.task_status == "CANCELED"
    finally:
        dashscope.base_http_api_url = previous


def test_sdk_i2v_uploads_a_file_input_and_keeps_its_aspect_ratio_from_its_first_frame(sdk, tmp_path):
    path = tmp_path / "portrait.png"
    Image.new("RGB", (600, 900), (200, 30, 30)).save(path)
    rsp = VideoSynthesis.call(
        api_key=sdk.key,
        model="wanx2.1-i2v-turbo",
        img_url=f"file://{path}",
        prompt="the red card flutters",
        resolution="480P",
        duration=3,
        prompt_extend=False,
    )
    assert rsp.output.task_status == "SUCCEEDED", rsp
    clip = fetch_clip(rsp.output.video_url)
    # 480P is 832*480 pixels: in 2:3 that is 512*768 (sides multiples of 16).
    assert (clip.width, clip.height, len(clip.frames)) == (512, 768, 90)
    assert rsp.usage.video_ratio == "512*768" and rsp.usage.video_duration == 3
    middle = clip.frames[0][300:468, 200:312].reshape(-1, 3).mean(axis=0)  # under the caption bands
    assert abs(middle[0] - 200) < 20 and middle[1] < 60  # it starts on the input picture


def test_sdk_kf2v_goes_to_the_image2video_endpoint_and_ends_on_the_last_frame(sdk):
    rsp = VideoSynthesis.call(
        api_key=sdk.key,
        model="wan2.2-kf2v-flash",
        first_frame_url=png_data_uri((220, 20, 20), (640, 640)),
        last_frame_url=png_data_uri((20, 20, 220), (640, 640)),
        prompt="red turns blue",
        resolution="480P",
    )
    assert rsp.output.task_status == "SUCCEEDED", rsp
    clip = fetch_clip(rsp.output.video_url)
    assert (clip.width, clip.height) == (624, 624)  # a square at 480P's pixels
    first, last = (frame[200:400, 200:400].reshape(-1, 3).mean(axis=0) for frame in (clip.frames[0], clip.frames[-1]))
    assert first[0] > 150 > first[2] and last[2] > 150 > last[0]
    request = requests.get(
        f"{sdk.api}/tasks/{rsp.output.task_id}/request", headers=sdk.headers(None, False), timeout=10
    )
    assert request.json()["endpoint"] == "image2video"


def test_video_endpoints_refuse_calls_without_the_async_header_as_the_image_endpoints_do(server):
    body = {"model": "wan2.1-t2v-turbo", "input": {"prompt": "x"}}
    image = requests.post(
        server.api + "/services/aigc/text2image/image-synthesis",
        json={"model": "qwen-image", "input": {"prompt": "x"}},
        headers=server.headers(asynchronous=False),
        timeout=10,
    )
    for path in (VIDEO_PATH, KF2V_PATH):
        r = requests.post(server.api + path, json=body, headers=server.headers(asynchronous=False), timeout=10)
        assert r.status_code == image.status_code == 403
        assert (r.json()["code"], r.json()["message"]) == (image.json()["code"], image.json()["message"])


def test_a_wan25_video_asked_for_sound_says_the_preview_made_it_silent(server):
    body = {"model": "wan2.5-t2v-preview", "input": {"prompt": "a drum"}, "parameters": {"size": "832*480"}}
    done = run(server, VIDEO_PATH, body)
    assert done["output"]["task_status"] == "SUCCEEDED"
    assert done["output"]["audio"] is False
    # The older models' usage, for every model: the newer ones' SR/ratio keys are not added.
    assert done["usage"] == {"video_duration": 5, "video_count": 1, "video_ratio": "832*480"}
    with av.open(io.BytesIO(requests.get(done["output"]["video_url"], timeout=10).content)) as container:
        assert not container.streams.audio
        assert container.streams.video[0].average_rate == 24  # wan2.5 makes 24 fps
        assert container.streams.video[0].frames == 120
    silent = {**body, "parameters": {"size": "832*480", "audio": False}}
    assert "audio" not in run(server, VIDEO_PATH, silent)["output"]  # not asked for: nothing to say


def test_purge_deletes_the_video_task_and_its_mp4(make_server):
    s = make_server(IMAGESCOPE_TASK_TTL_SECONDS="2", IMAGESCOPE_PURGE_INTERVAL_SECONDS="0.3")
    body = {"model": "wan2.1-t2v-turbo", "input": {"prompt": "fog"}, "parameters": {"size": "832*480"}}
    done = run(s, VIDEO_PATH, body)
    task_id = done["output"]["task_id"]
    assert requests.get(done["output"]["video_url"], timeout=10).status_code == 200
    deadline = time.time() + 15
    while time.time() < deadline and requests.get(done["output"]["video_url"], timeout=10).status_code != 404:
        time.sleep(0.2)
    assert requests.get(done["output"]["video_url"], timeout=10).status_code == 404  # the signed URL, still valid
    assert s.task(task_id)["output"]["task_status"] == "UNKNOWN"
    assert not (s.data_dir / "files" / task_id).exists()


def test_a_running_video_reports_frames_as_progress_and_stops_when_canceled(server):
    body = {
        "model": "wan2.6-t2v",
        "input": {"prompt": "a long pan over mountains"},
        "parameters": {"size": "1920*1080", "duration": 15, "prompt_extend": False},
    }
    task_id = submit(server, VIDEO_PATH, body).json()["output"]["task_id"]
    deadline = time.time() + 30
    output = server.task(task_id)["output"]
    while time.time() < deadline and "progress" not in output:
        time.sleep(0.02)
        output = server.task(task_id)["output"]
    assert output["task_status"] == "RUNNING", output
    assert output["progress"]["total_steps"] == 450  # 15 s at 30 fps: one step per frame
    r = requests.post(f"{server.api}/tasks/{task_id}/cancel", headers=server.headers(None, False), timeout=10)
    assert r.status_code == 200, r.text
    time.sleep(1)
    done = server.task(task_id)
    assert done["output"]["task_status"] == "CANCELED" and "video_url" not in done["output"]
    assert not (server.data_dir / "files" / task_id / "0.mp4").exists()


def test_the_same_seed_makes_the_same_video_and_watermark_marks_its_bottom_right(server):
    def made(**parameters: object) -> bytes:
        body = {
            "model": "wan2.1-t2v-turbo",
            "input": {"prompt": "a kite"},
            "parameters": {"size": "624*624", "seed": 11, "prompt_extend": False, **parameters},
        }
        done = run(server, VIDEO_PATH, body)
        return requests.get(done["output"]["video_url"], timeout=10).content

    plain = made()
    assert made() == plain  # deterministic, byte for byte
    frames = []
    for data in (plain, made(watermark=True)):
        with av.open(io.BytesIO(data)) as container:
            frames.append(next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int))
    difference = np.abs(frames[0] - frames[1]).sum(axis=2)
    assert difference[560:610, 450:620].max() > 100  # "AI-generated", bottom right
    assert difference[:400].mean() < 1  # and nothing else
