"""The diffusers engines behind the HTTP API: a models file binds public model names to tiny
random-weight Qwen-Image pipelines (tiny_qwen.py, saved and loaded like real weights), and
requests run through the real server, worker and engine code end to end.

The server runs in this process (uvicorn on a real port, in a thread): the Qwen edit pipelines'
processor needs the torchvision stand-in of tiny_qwen, which only patches this process.
Tiny pictures are noise; what is tested is what the service does with the engine: counts,
sizes, seeds, progress, cancellation, missing weights.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

pytest.importorskip("diffusers")

import uvicorn  # noqa: E402

import tiny_qwen  # noqa: E402
from conftest import download, free_port  # noqa: E402
from imagescope.accounting.accounts import Accounts
from imagescope.app import create_app
from imagescope.config import Settings
from imagescope.db import open_database
from imagescope.engines import ImageJob
from imagescope.engines.diffusers.engine import DiffusersOptions, DiffusersTextToImageEngine
from imagescope.errors import INTERNAL_ERROR_MESSAGE
from test_image2image import pattern, png_uri  # noqa: E402

T2I = "/services/aigc/text2image/image-synthesis"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    with tiny_qwen.video_processor_stand_in():
        yield {
            "image": tiny_qwen.build_qwen_image(root / "Qwen-Image"),
            "edit": tiny_qwen.build_qwen_image_edit(root / "Qwen-Image-Edit"),
            "controlnet": tiny_qwen.build_controlnet(root / "Qwen-Image-ControlNet"),
        }


class InProcessServer:
    def __init__(self, data_dir: Path, models: str, workers: int = 1):
        models_file = data_dir / "models.toml"
        data_dir.mkdir(parents=True, exist_ok=True)
        models_file.write_text(models)
        settings = Settings(data_dir=data_dir, workers=workers, models_file=models_file)
        self.key, _ = Accounts(open_database(settings.db_url)).create_key()
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        self.api = f"http://127.0.0.1:{self.port}/api/v1"

    def headers(self, asynchronous: bool = True) -> dict:
        h = {"Authorization": f"Bearer {self.key}"}
        return {**h, "X-DashScope-Async": "enable"} if asynchronous else h

    def submit(self, body: dict) -> str:
        r = requests.post(self.api + T2I, json=body, headers=self.headers(), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["output"]["task_id"]

    def task(self, task_id: str) -> dict:
        return requests.get(f"{self.api}/tasks/{task_id}", headers=self.headers(False), timeout=30).json()

    def wait(self, task_id: str, timeout: float = 240) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            body = self.task(task_id)
            if body["output"]["task_status"] not in ("PENDING", "RUNNING"):
                return body
            time.sleep(0.1)
        raise AssertionError(f"task {task_id} did not finish: {body}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(models: str, workers: int = 1) -> InProcessServer:
        started.append(InProcessServer(tmp_path / f"data{len(started)}", models, workers))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def engine_table(name: str, path: Path, steps: int = 2) -> str:
    return (
        f'[engines.{name}]\nkind = "diffusers"\nweights = "{path}"\ndtype = "fp32"\ndevice = "cpu"\nsteps = {steps}\n'
    )


def t2i(model: str, n: int, seed: int, prompt: str = "a red cat on a blue sofa") -> dict:
    return {
        "model": model,
        "input": {"prompt": prompt},
        "parameters": {"size": "512*512", "n": n, "seed": seed, "prompt_extend": False},
    }


def test_text_to_image_runs_the_bound_pipeline_with_counts_sizes_and_seeds(serve, weights):
    server = serve(engine_table("qwen", weights["image"]) + '[models]\n"wan2.2-t2i-flash" = "qwen"\n')
    listing = requests.get(server.api + "/models", headers=server.headers(False), timeout=10).json()
    kinds = {m["model"]: m.get("kind") for m in listing["data"]}
    assert kinds["wan2.2-t2i-flash"] == "diffusers" and kinds["wan2.2-t2i-plus"] == "preview"

    done = server.wait(server.submit(t2i("wan2.2-t2i-flash", n=2, seed=11)))
    assert done["output"]["task_status"] == "SUCCEEDED", done
    images = [np.asarray(download(r["url"])) for r in done["output"]["results"]]
    assert [i.shape for i in images] == [(512, 512, 3)] * 2
    assert not np.array_equal(images[0], images[1])  # image i draws with seed + i

    # Exactly what a bare engine call on the same weights makes for image 1 (seed 12).
    bare = DiffusersTextToImageEngine("bare", DiffusersOptions(weights["image"], dtype="fp32", device="cpu", steps=2))
    expected = bare.generate(ImageJob("wan2.2-t2i-flash", "a red cat on a blue sofa", "", 512, 512, 12, 1, 2))
    assert np.array_equal(np.asarray(expected), images[1])

    again = server.wait(server.submit(t2i("wan2.2-t2i-flash", n=1, seed=11)))
    assert np.array_equal(np.asarray(download(again["output"]["results"][0]["url"])), images[0])


def test_progress_shows_while_running_and_cancel_stops_the_engine_between_steps(serve, weights):
    server = serve(
        engine_table("slow", weights["image"], steps=4000)
        + engine_table("fast", weights["image"])
        + '[models]\n"wan2.2-t2i-plus" = "slow"\n"wan2.2-t2i-flash" = "fast"\n'
    )
    slow = server.submit(t2i("wan2.2-t2i-plus", n=1, seed=1))

    def progress_from(step: int) -> tuple[float, dict]:
        deadline = time.time() + 120
        while True:
            output = server.task(slow)["output"]
            if output["task_status"] == "RUNNING" and output.get("progress", {}).get("step", 0) >= step:
                return time.time(), output["progress"]
            assert time.time() < deadline, output
            time.sleep(0.05)

    first_seen, first = progress_from(2)
    seen, progress = progress_from(first["step"] + 3)
    assert progress["image"] == 1 and progress["image_count"] == 1 and progress["total_steps"] == 4000
    assert progress["step"] < 4000
    seconds_per_step = (seen - first_seen) / (progress["step"] - first["step"])

    canceled_at = time.time()
    r = requests.post(f"{server.api}/tasks/{slow}/cancel", headers=server.headers(False), timeout=10)
    assert r.status_code == 200, r.text
    # One worker: the next task starts only once the canceled one has stopped.
    fast = server.wait(server.submit(t2i("wan2.2-t2i-flash", n=1, seed=1)))
    assert fast["output"]["task_status"] == "SUCCEEDED"
    # Uncanceled, the slow task would hold the worker for its remaining steps (a minute or more).
    assert time.time() - canceled_at < max(15, 0.5 * (4000 - progress["step"]) * seconds_per_step)
    final = server.task(slow)["output"]
    assert final["task_status"] == "CANCELED" and "progress" not in final and "results" not in final


def test_weights_gone_at_run_time_fail_the_task_with_internal_error_logging_the_directory_never_sending_it(
    serve, weights, tmp_path, caplog
):
    moved = shutil.copytree(weights["image"], tmp_path / "Qwen-Image-copy")
    server = serve(engine_table("qwen", moved) + '[models]\n"wan2.2-t2i-flash" = "qwen"\n')
    shutil.rmtree(moved)  # present when the server started, gone before the first task loads it
    done = server.wait(server.submit(t2i("wan2.2-t2i-flash", n=1, seed=1)))
    output = done["output"]
    assert output["task_status"] == "FAILED" and output["code"] == "InternalError"
    # A server path is the operator's to see: the log names it, the client gets the generic message.
    assert output["message"] == INTERNAL_ERROR_MESSAGE and str(moved) not in str(done)
    assert str(moved) in caplog.text


def test_editing_models_run_the_bound_edit_pipelines(serve, weights):
    server = serve(
        engine_table("edit", weights["edit"])
        + '[models]\n"qwen-image-edit-plus" = "edit"\n"wanx2.1-imageedit" = "edit"\n'
        + '"wan2.6-image" = "edit"\n'
    )
    ramp, stripes = png_uri(pattern("ramp", (512, 512))), png_uri(pattern("stripes", (640, 512)))
    body = {
        "model": "qwen-image-edit-plus",
        "parameters": {"size": "512*512", "prompt_extend": False},
        "input": {
            "messages": [
                {"role": "user", "content": [{"image": ramp}, {"image": stripes}, {"text": "put the disc on the ramp"}]}
            ]
        },
    }
    r = requests.post(
        server.api + "/services/aigc/multimodal-generation/generation",
        json=body,
        headers=server.headers(False),
        timeout=240,
    )
    assert r.status_code == 200, r.text
    [part] = r.json()["output"]["choices"][0]["message"]["content"]
    assert download(part["image"]).size == (512, 512)

    mask = pattern("stripes", (640, 512)).convert("L").point(lambda v: 255 if v > 128 else 0)
    edit = {
        "model": "wanx2.1-imageedit",
        "parameters": {"n": 1},
        "input": {
            "function": "description_edit_with_mask",
            "prompt": "a window",
            "base_image_url": stripes,
            "mask_image_url": png_uri(mask),
        },
    }
    r = requests.post(
        server.api + "/services/aigc/image2image/image-synthesis", json=edit, headers=server.headers(), timeout=30
    )
    done = server.wait(r.json()["output"]["task_id"])
    assert done["output"]["task_status"] == "SUCCEEDED", done
    assert download(done["output"]["results"][0]["url"]).size == (640, 512)

    # Interleaved output has no diffusers engine: the stream ends in an error, never a preview.
    body = {
        "model": "wan2.6-image",
        "parameters": {"enable_interleave": True, "max_images": 1},
        "input": {"messages": [{"role": "user", "content": [{"text": "a tutorial"}]}]},
    }
    r = requests.post(
        server.api + "/services/aigc/multimodal-generation/generation",
        json=body,
        timeout=60,
        headers={**server.headers(False), "X-DashScope-Sse": "enable"},
    )
    assert r.status_code == 200 and "event:error" in r.text and "cannot answer interleaved" in r.text


def test_doodle_runs_on_qwen_image_with_a_controlnet_following_the_sketch(serve, weights):
    server = serve(
        engine_table("qwen-i2i", weights["image"])
        + 'pipeline = "QwenImageImg2ImgPipeline"\n'
        + f'controlnet = "{weights["controlnet"]}"\n[models]\n"wanx2.1-imageedit" = "qwen-i2i"\n'
    )
    listing = requests.get(server.api + "/models", headers=server.headers(False), timeout=10).json()["data"]
    [imageedit] = [m for m in listing if m["model"] == "wanx2.1-imageedit"]
    assert imageedit["functions"]["doodle"]["pipeline"] == "QwenImageControlNetPipeline"

    sketch = pattern("stripes", (512, 512)).convert("L").convert("RGB")
    doodle = {
        "model": "wanx2.1-imageedit",
        "parameters": {"n": 1, "seed": 3, "is_sketch": True},
        "input": {"function": "doodle", "prompt": "a lighthouse at dusk", "base_image_url": png_uri(sketch)},
    }
    r = requests.post(
        server.api + "/services/aigc/image2image/image-synthesis", json=doodle, headers=server.headers(), timeout=30
    )
    assert r.status_code == 200, r.text
    done = server.wait(r.json()["output"]["task_id"])
    assert done["output"]["task_status"] == "SUCCEEDED", done
    assert download(done["output"]["results"][0]["url"]).size == (512, 512)
