"""VACE video editing (wan(x)2.1-vace-plus) on the preview engine: the SDK's VideoSynthesis with
the function in ``extra_input`` (the SDK overwrites ``input.function`` with its own name), input
clips as data: URIs checked as MP4s (≤ 5 s), and what each function's preview shows."""

from __future__ import annotations

import base64
import io
import tempfile
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from dashscope import VideoSynthesis
from PIL import Image

from imagescope.errors import Refused
from imagescope.inputs.video import decode_video
from test_video_api import VIDEO_PATH, fetch_clip, png_data_uri, run, submit


def mp4_data_uri(
    seconds: float, color: tuple[int, int, int] = (30, 200, 40), size: tuple[int, int] = (96, 64), fps: int = 10
) -> str:
    """A small H.264 clip of one colour, ``seconds`` long at ``fps``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            pixels[:] = color
            for index in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


def vace(function: str, inputs: dict, **parameters: object) -> dict:
    return {
        "model": "wanx2.1-vace-plus",
        "input": {"prompt": "a garden", "function": function, **inputs},
        "parameters": {"prompt_extend": False, **parameters},
    }


def test_sdk_vace_takes_its_function_from_extra_input_and_makes_a_5s_720p_clip(sdk):
    rsp = VideoSynthesis.call(
        api_key=sdk.key,
        model="wan2.1-vace-plus",
        prompt="a red ball rolls through a blue room",
        extra_input={
            "function": "image_reference",
            "ref_images_url": [png_data_uri((220, 30, 30), (400, 400)), png_data_uri((30, 30, 220), (800, 450))],
        },
        obj_or_bg=["obj", "bg"],
        size="1280*720",
        prompt_extend=False,
    )
    assert rsp.status_code == HTTPStatus.OK, rsp
    assert rsp.output.task_status == "SUCCEEDED", rsp
    assert (rsp.usage.video_duration, rsp.usage.video_ratio) == (5, "1280*720")
    clip = fetch_clip(rsp.output.video_url)
    assert (clip.codec, clip.width, clip.height, clip.fps, len(clip.frames)) == ("h264", 1280, 720, 30, 150)
    scene = clip.frames[75].reshape(-1, 3).mean(axis=0)
    assert scene[2] > 150  # the "bg" reference is the scene


def test_vace_video_edit_paints_inside_the_mask_and_keeps_the_rest(server):
    picture = Image.new("L", (400, 400), 0)
    picture.paste(255, (200, 0, 400, 400))  # the right half is edited
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    mask = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    inputs = {"video_url": mp4_data_uri(2), "mask_image_url": mask}
    body = vace("video_edit", inputs, size="960*960", seed=5)  # a fixed seed: the paint's colour is the seed's
    done = run(server, VIDEO_PATH, body)
    assert done["output"]["task_status"] == "SUCCEEDED", done
    frame = fetch_clip(done["output"]["video_url"]).frames[60]
    left, right = (
        frame[300:700, 100:400].reshape(-1, 3).mean(axis=0),
        frame[300:700, 560:860].reshape(-1, 3).mean(axis=0),
    )
    assert left[1] > 160 and left[0] < 70  # the input clip's green, kept
    assert abs(right[1] - left[1]) > 30  # painted over


def test_vace_input_clip_longer_than_5_seconds_or_not_a_video_is_refused_at_submission(server):
    long_clip = vace("video_repainting", {"video_url": mp4_data_uri(6)}, control_condition="depth")
    r = submit(server, VIDEO_PATH, long_clip)
    assert r.status_code == 400
    assert r.json()["message"] == "input.video_url must be an MP4 video (H.264) of at most 5 seconds"
    not_video = vace("video_repainting", {"video_url": png_data_uri((1, 1, 1), (400, 400))}, control_condition="depth")
    assert submit(server, VIDEO_PATH, not_video).json()["message"] == r.json()["message"]


def test_an_input_clip_is_bounded_in_frames_and_decoded_at_most_1280_pixels_a_side():
    # 50 MB of H.264 can hold far more pixels than it seems: what a clip may cost is bounded.
    big = base64.b64decode(mp4_data_uri(0.3, size=(1920, 1088)).split(",", 1)[1])
    frames = decode_video(big, "video_url")
    assert len(frames) == 3 and frames[0].size == (1280, 725)
    too_many = base64.b64decode(mp4_data_uri(2.6, size=(32, 32), fps=120).split(",", 1)[1])  # 312 frames
    with pytest.raises(Refused) as refused:
        decode_video(too_many, "video_url")
    assert refused.value.message == "input.video_url must have at most 306 frames"


def test_vace_outpainting_shrinks_the_clip_into_the_middle(server):
    body = vace("video_outpainting", {"video_url": mp4_data_uri(1)}, size="960*960", left_scale=2, right_scale=2)
    done = run(server, VIDEO_PATH, body)
    assert done["output"]["task_status"] == "SUCCEEDED", done
    frame = fetch_clip(done["output"]["video_url"]).frames[30]
    middle, edge = (
        frame[400:560, 400:560].reshape(-1, 3).mean(axis=0),
        frame[400:560, 0:150].reshape(-1, 3).mean(axis=0),
    )
    assert middle[1] > 160 and edge[1] < middle[1] - 40  # the clip in the middle, a darker border


def test_http_inputs_are_fetched_when_the_task_runs(make_server, tmp_path):
    (tmp_path / "frame.png").write_bytes(base64.b64decode(png_data_uri((200, 200, 20), (640, 360)).split(",")[1]))
    (tmp_path / "clip.mp4").write_bytes(base64.b64decode(mp4_data_uri(1).split(",")[1]))
    files = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{files.server_address[1]}"
    try:
        s = make_server(IMAGESCOPE_INPUT_ALLOW_HOSTS=host)
        i2v = {"model": "wan2.2-i2v-flash", "input": {"img_url": f"http://{host}/frame.png"}}
        i2v["parameters"] = {"resolution": "480P", "prompt_extend": False}
        done = run(s, VIDEO_PATH, i2v)
        assert done["output"]["task_status"] == "SUCCEEDED", done
        assert done["usage"]["video_ratio"] == "848*480"  # 16:9 at about 832*480 pixels, sides of 16
        body = vace("video_repainting", {"video_url": f"http://{host}/clip.mp4"}, control_condition="scribble")
        assert run(s, VIDEO_PATH, body)["output"]["task_status"] == "SUCCEEDED"
        missing = {**i2v, "input": {"img_url": f"http://{host}/gone.png"}}
        failed = run(s, VIDEO_PATH, missing)["output"]
        assert (failed["task_status"], failed["code"]) == ("FAILED", "BadRequest.InputDownloadFailed")
    finally:
        files.shutdown()
