"""OpenAI's image streaming at ``/v1``: ``stream: true`` with ``partial_images``, driven by the
official ``openai`` SDK (``client.images.generate(..., stream=True, partial_images=2)``) and by
raw HTTP for the framing.

The preview engine has no steps: its stream is the completed events alone. The pictures on the
way come from a diffusers engine on a tiny random-weight Qwen-Image pipeline (tiny_qwen.py),
bound to public model names by a models file, behind a real server in this process.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
import requests
from PIL import Image

from conftest import free_port

FLASH = "wan2.2-t2i-flash"  # n 1–4, sides 512–1440


def png(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    image.load()
    return image


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def sse(text: str) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent event stream."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


# --- the preview engine: no steps, so no pictures on the way ----------------------------------


def test_preview_engine_streams_only_one_completed_event_per_image(server):
    client = sdk(server.url, server.key)
    stream = client.images.generate(
        model=FLASH, prompt="a lighthouse", n=2, size="640x512", stream=True, partial_images=2, extra_body={"seed": 5}
    )
    events = list(stream)
    assert [event.type for event in events] == ["image_generation.completed"] * 2
    assert [png(event.b64_json).size for event in events] == [(640, 512)] * 2
    assert events[0].b64_json != events[1].b64_json  # image i is drawn with seed + i
    event = events[0]
    assert (event.size, event.quality, event.background, event.output_format) == ("640x512", "auto", "opaque", "png")
    assert abs(event.created_at - time.time()) < 60
    assert event.usage.total_tokens == 0 and event.usage.input_tokens_details.text_tokens == 0

    # The same images the one answer gives: streaming changes how they travel, not what they are.
    answer = client.images.generate(
        model=FLASH, prompt="a lighthouse", n=2, size="640x512", response_format="b64_json", extra_body={"seed": 5}
    )
    assert [png(e.b64_json).tobytes() for e in events] == [png(i.b64_json).tobytes() for i in answer.data]


def test_stream_is_framed_as_openais_event_lines_whatever_the_response_format(server):
    r = requests.post(
        f"{server.url}/v1/images/generations",
        json={"model": FLASH, "prompt": "p", "size": "512x512", "stream": True, "response_format": "url"},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=30,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    [(event, data)] = sse(r.text)
    assert event == data["type"] == "image_generation.completed"
    assert "url" not in data and png(data["b64_json"]).size == (512, 512)  # OpenAI's events carry no URL
    assert set(data) == {"type", "b64_json", "created_at", "size", "quality", "background", "output_format", "usage"}


def test_partial_images_outside_0_to_3_is_bad_request_naming_partial_images(server):
    client = sdk(server.url, server.key)
    for value in (4, -1):
        for stream in (True, False):
            with pytest.raises(openai.BadRequestError) as caught:
                client.images.generate(model=FLASH, prompt="p", size="512x512", stream=stream, partial_images=value)
            assert caught.value.param == "partial_images" and caught.value.type == "invalid_request_error"
            assert "partial_images must be between 0 and 3" in caught.value.message


def test_a_stream_timing_out_before_its_first_event_answers_the_error_envelope_and_status(make_server):
    s = make_server(IMAGESCOPE_WORKERS="0", IMAGESCOPE_SYNC_TIMEOUT_SECONDS="0.5")  # accepted, never run
    with pytest.raises(openai.InternalServerError) as caught:
        list(sdk(s.url, s.key).images.generate(model=FLASH, prompt="p", size="512x512", stream=True))
    assert caught.value.status_code == 500 and caught.value.code == "RequestTimeOut"
    assert caught.value.type == "server_error"


# --- a diffusers engine: the current latents, decoded at evenly spaced steps ------------------


class StreamServer:
    """A real server in this process (uvicorn on a free port) whose models file binds FLASH to
    a 6-step tiny Qwen-Image engine, wan2.2-t2i-plus to a 100-step one, and wan2.5-t2i-preview to
    ``gone`` (weights a test removes after the start)."""

    def __init__(self, data_dir: Path, weights: Path, gone: Path, task_ttl_s: float = 86400):
        import uvicorn

        from imagescope.accounting.accounts import Accounts
        from imagescope.app import create_app
        from imagescope.config import Settings
        from imagescope.db import open_database

        def engine(name: str, path: Path, steps: int) -> str:
            table = f'[engines.{name}]\nkind = "diffusers"\nweights = "{path}"\n'
            return table + f'dtype = "fp32"\ndevice = "cpu"\nsteps = {steps}\n'

        data_dir.mkdir(parents=True)
        models = data_dir / "models.toml"
        models.write_text(
            engine("fast", weights, 6)
            + engine("slow", weights, 100)
            + engine("gone", gone, 6)
            + f'[models]\n"{FLASH}" = "fast"\n"wan2.2-t2i-plus" = "slow"\n"wan2.5-t2i-preview" = "gone"\n'
        )
        settings = Settings(
            data_dir=data_dir,
            workers=1,
            models_file=models,
            task_ttl_s=task_ttl_s,
            purge_interval_s=0.3,
            submit_rps=1000,
        )
        self.files = settings.files_dir
        self.key, _ = Accounts(open_database(settings.db_url)).create_key()
        self.url = f"http://127.0.0.1:{free_port()}"
        config = uvicorn.Config(create_app(settings), port=int(self.url.rsplit(":", 1)[1]), log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        self.client = sdk(self.url, self.key)

    def tasks(self) -> list[dict]:
        r = requests.get(f"{self.url}/api/v1/tasks", headers={"Authorization": f"Bearer {self.key}"}, timeout=10)
        return r.json()["data"]

    def task(self, task_id: str) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"}
        return requests.get(f"{self.url}/api/v1/tasks/{task_id}", headers=headers, timeout=10).json()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    pytest.importorskip("diffusers")
    import tiny_qwen

    return tiny_qwen.build_qwen_image(tmp_path_factory.mktemp("weights") / "Qwen-Image")


@pytest.fixture(scope="module")
def diffusers_server(tmp_path_factory, weights) -> Iterator[StreamServer]:
    root = tmp_path_factory.mktemp("stream")
    gone = shutil.copytree(weights, root / "Qwen-Image-gone")
    server = StreamServer(root / "data", weights, gone)
    shutil.rmtree(gone)  # there when the server started, gone before its first task loads it
    yield server
    server.stop()


def test_diffusers_stream_sends_each_images_partial_pictures_indexed_from_0_then_its_completed_event(
    diffusers_server,
):
    s = diffusers_server
    stream = s.client.images.generate(
        model=FLASH, prompt="a red cat", n=2, size="512x512", stream=True, partial_images=2, extra_body={"seed": 9}
    )
    events = list(stream)
    kinds = [(event.type, getattr(event, "partial_image_index", None)) for event in events]
    partial, completed = "image_generation.partial_image", "image_generation.completed"
    assert kinds == [(partial, 0), (partial, 1), (completed, None)] * 2
    pictures = [np.asarray(png(event.b64_json)) for event in events]
    assert [p.shape for p in pictures] == [(512, 512, 3)] * 6
    assert all(event.size == "512x512" for event in events)
    # Pictures on the way are the image at earlier steps: each one of its own, none the image itself.
    assert len({p.tobytes() for p in pictures}) == 6

    # The task query's results are the images alone: the pictures on the way are not results.
    [task_id] = [t["task_id"] for t in s.tasks() if t["request_id"] == stream.response.headers["x-request-id"]]
    output = s.task(task_id)["output"]
    assert output["task_status"] == "SUCCEEDED" and len(output["results"]) == 2
    assert all(set(result) == {"url", "orig_prompt"} for result in output["results"])


def test_diffusers_partial_pictures_come_at_evenly_spaced_steps_and_leave_the_image_unchanged(weights):
    from imagescope.engines import ImageJob
    from imagescope.engines.diffusers.engine import DiffusersOptions, DiffusersTextToImageEngine

    engine = DiffusersTextToImageEngine("steps", DiffusersOptions(weights, dtype="fp32", device="cpu", steps=6))
    steps: list[int] = []
    seen: list[tuple[int, tuple[int, int]]] = []

    def keep(picture: Image.Image) -> None:
        seen.append((steps[-1], picture.size))

    job = ImageJob("qwen-image", "a red cat", "", 72, 40, 9, 0, 1, partial_images=2)
    image = engine.generate(job, progress=lambda step, total: steps.append(step), partial=keep)
    assert seen == [(2, (72, 40)), (4, (72, 40))]  # after steps 2 and 4 of 6, at the job's size
    plain = engine.generate(ImageJob("qwen-image", "a red cat", "", 72, 40, 9, 0, 1))
    assert np.array_equal(np.asarray(plain), np.asarray(image))  # the decoding disturbs nothing
    steps.clear()
    seen.clear()
    job = ImageJob("qwen-image", "a red cat", "", 72, 40, 9, 0, 1, partial_images=3)
    engine.generate(job, progress=lambda step, total: steps.append(step), partial=keep)
    assert [step for step, _ in seen] == [2, 3, 4]  # round(6 * i / 4): 1.5 → 2, 3, 4.5 → 4; never the last


def test_partial_pictures_are_files_of_the_task_purged_with_it(tmp_path, weights):
    s = StreamServer(tmp_path / "data", weights, weights, task_ttl_s=2)
    try:
        stream = s.client.images.generate(
            model="wan2.2-t2i-plus", prompt="p", size="512x512", stream=True, partial_images=3
        )
        events = iter(stream)
        assert next(events).type == "image_generation.partial_image"  # after step 25 of 100: still running
        [task_dir] = [d for d in s.files.iterdir() if (d / "partials").is_dir()]
        assert (task_dir / "partials" / "0-0.png").is_file()
        assert [event.type for event in events][-1] == "image_generation.completed"
        deadline = time.time() + 20
        while task_dir.exists():
            assert time.time() < deadline, "the task's files outlived it"
            time.sleep(0.2)
        assert s.task(task_dir.name)["output"]["task_status"] == "UNKNOWN"
    finally:
        s.stop()


def test_a_failure_after_the_first_event_ends_the_stream_with_an_error_event_the_sdk_raises(diffusers_server):
    s = diffusers_server
    stream = s.client.images.generate(
        model="wan2.2-t2i-plus", prompt="a slow cat", size="512x512", stream=True, partial_images=3
    )
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for event in stream:
            seen.append(event.type)
            if len(seen) == 1:  # after step 25 of 100: cancel the task from the tasks API
                [task] = [t for t in s.tasks() if t["request_id"] == stream.response.headers["x-request-id"]]
                headers = {"Authorization": f"Bearer {s.key}"}
                r = requests.post(f"{s.url}/api/v1/tasks/{task['task_id']}/cancel", headers=headers, timeout=10)
                assert r.status_code == 200, r.text
    assert seen[0] == "image_generation.partial_image" and "image_generation.completed" not in seen
    assert not isinstance(caught.value, openai.APIStatusError)  # the 200 had begun: an error event
    assert caught.value.code == "RequestCanceled" and caught.value.type == "server_error"


def test_a_task_failing_before_the_first_event_answers_the_error_envelope_never_a_server_path(diffusers_server):
    s = diffusers_server
    with pytest.raises(openai.InternalServerError) as caught:
        list(s.client.images.generate(model="wan2.5-t2i-preview", prompt="p", stream=True, partial_images=1))
    assert caught.value.status_code == 500 and caught.value.code == "InternalError"
    assert "Qwen-Image" not in str(caught.value.body) and "/" not in caught.value.message
