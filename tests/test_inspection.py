"""Content inspection (issue 15, item 6): prompts and input images before a task is accepted
(400 DataInspectionFailed, the hosted message; nothing accepted, counted or billed), input
images fetched when the task runs (the task FAILS with that code) and every output image
before it is stored (that image a DataInspectionFailed part, unbilled).

Real servers (``imagescope serve``) configured with a word list and an OpenAI-compatible
moderation endpoint: a small real HTTP server in this test, which flags by content (a word in
a text, a mostly red image) and records what it was sent; then the endpoint failing (too slow,
500, not JSON) under each ``IMAGESCOPE_INSPECTION_ON_ERROR`` mode.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dashscope
import numpy as np
import openai
import pytest
import requests
from dashscope import ImageSynthesis
from PIL import Image

from conftest import Server, download
from imagescope.accounting.accounts import Accounts
from imagescope.config import InspectionSettings, Settings, SettingsError
from imagescope.db import open_database
from imagescope.engines import PreviewEngine
from imagescope.engines.base import ImageJob
from imagescope.inspection import NoInspection
from imagescope.inspection.configured import AllOf, make_inspector
from imagescope.inspection.moderation import ModerationEndpoint, flagged
from imagescope.inspection.words import WordList

INPUT_MESSAGE = "Input data may contain inappropriate content."
OUTPUT_MESSAGE = "Output data may contain inappropriate content."
LISTED = "forbidden"  # in the word list
FLAGGED = "menacing"  # not listed: the moderation endpoint flags it
KEY = "sk-moderation"
TIMEOUT_S = 0.5  # the servers' IMAGESCOPE_INSPECTION_TIMEOUT_SECONDS
TEXT2IMAGE = "/services/aigc/text2image/image-synthesis"
EDIT = "/services/aigc/image2image/image-synthesis"
MESSAGES = "/services/aigc/multimodal-generation/generation"
WORDS = f"""# terms refused in prompts
{LISTED}
red  flag
狐狸
"""


def redness(image: Image.Image) -> float:
    """How much redder than its other channels an image is on average."""
    r, g, b = np.asarray(image.convert("RGB"), dtype=float).mean(axis=(0, 1))
    return float(r - max(g, b))


def mostly_red(image: Image.Image) -> bool:
    return redness(image) > 10


def solid(colour: tuple[int, int, int], size: int = 512) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


class Moderation:
    """A small OpenAI-compatible moderation endpoint (``POST /v1/moderations``): a text holding
    FLAGGED is flagged, an image when ``image_rule`` says so (default: mostly red). ``failure``
    makes it fail instead: "slow" (answers after the servers' timeout), "500", "garbage" (not
    JSON); ``images_only`` limits the failure to requests carrying an image. It also serves
    ``GET /red.png`` and ``/blue.png``, input images fetched when a task runs."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict]] = []
        self.reset()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                colours = {"/red.png": (220, 30, 30), "/blue.png": (30, 60, 220)}
                if self.path not in colours:
                    self._answer(404, b"{}")
                    return
                self._answer(200, solid(colours[self.path]), "image/png")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append((dict(self.headers), body))
                has_image = any(isinstance(item, dict) for item in body["input"])
                failure = outer.failure if (has_image or not outer.images_only) else None
                if failure == "slow":
                    time.sleep(TIMEOUT_S * 4)
                elif failure == "500":
                    self._answer(500, b'{"error": {"message": "overloaded"}}')
                    return
                elif failure == "garbage":
                    self._answer(200, b"<html>gateway</html>")
                    return
                results = [{"flagged": outer.judge(item), "categories": {}} for item in body["input"]]
                self._answer(200, json.dumps({"id": "modr-1", "model": body["model"], "results": results}).encode())

            def _answer(self, status: int, data: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.received.clear()
        self.failure: str | None = None
        self.images_only = False
        self.image_rule: Callable[[Image.Image], bool] = mostly_red

    def judge(self, item: str | dict) -> bool:
        if isinstance(item, str):
            return FLAGGED in item.lower()
        url = item["image_url"]["url"]
        assert item["type"] == "image_url" and url.startswith("data:image/png;base64,")
        return self.image_rule(Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))))

    def images(self) -> int:
        """How many image checks it was asked for."""
        return sum(1 for _, body in self.received for item in body["input"] if isinstance(item, dict))

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/v1"


@pytest.fixture(scope="module")
def moderation() -> Iterator[Moderation]:
    endpoint = Moderation()
    yield endpoint
    endpoint.httpd.shutdown()


_ACCOUNTS: dict[Path, Accounts] = {}


def fresh_key(server: Server) -> str:
    """A key of a new account of ``server`` (its own task list and usage), made in its database
    directly: a ``keys create`` process per test costs seconds."""
    if server.data_dir not in _ACCOUNTS:
        _ACCOUNTS[server.data_dir] = Accounts(open_database(Settings(data_dir=server.data_dir).db_url))
    key, _ = _ACCOUNTS[server.data_dir].create_key(account=f"acct-{time.monotonic_ns()}")
    return key


def inspected_server(tmp_path_factory: pytest.TempPathFactory, moderation: Moderation, on_error: str) -> Server:
    words = tmp_path_factory.mktemp("words") / "words.txt"
    words.write_text(WORDS, encoding="utf-8")
    env = {
        "IMAGESCOPE_WORKERS": "2",
        "IMAGESCOPE_INSPECTION_WORDS": str(words),
        "IMAGESCOPE_INSPECTION_URL": moderation.url,
        "IMAGESCOPE_INSPECTION_API_KEY": KEY,
        "IMAGESCOPE_INSPECTION_TIMEOUT_SECONDS": str(TIMEOUT_S),
        "IMAGESCOPE_INSPECTION_ON_ERROR": on_error,
        "IMAGESCOPE_INPUT_ALLOW_HOSTS": moderation.host,  # its /red.png, fetched when a task runs
    }
    return Server(tmp_path_factory.mktemp(f"inspected-{on_error}"), env=env).start()


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory, moderation) -> Iterator[Server]:
    s = inspected_server(tmp_path_factory, moderation, "closed")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, moderation) -> Iterator[Server]:
    s = inspected_server(tmp_path_factory, moderation, "open")
    yield s
    s.stop()


@pytest.fixture
def inspected(closed_server: Server, moderation: Moderation) -> Iterator[Server]:
    """The fail-closed server with a fresh account (its own usage and task list) and a fresh endpoint."""
    moderation.reset()
    closed_server.key = fresh_key(closed_server)
    previous, dashscope.base_http_api_url = dashscope.base_http_api_url, closed_server.api  # the SDK's one change
    yield closed_server
    dashscope.base_http_api_url = previous
    moderation.reset()


def body(prompt: str, n: int = 1, seed: int = 7, negative_prompt: str = "") -> dict:
    given = {"prompt": prompt, "negative_prompt": negative_prompt} if negative_prompt else {"prompt": prompt}
    return {
        "model": "wan2.2-t2i-flash",
        "input": given,
        "parameters": {"n": n, "size": "512*512", "seed": seed, "prompt_extend": False},
    }


def edit(image: str) -> dict:
    return {
        "model": "wan2.5-i2i-preview",
        "input": {"prompt": "make it a painting", "images": [image]},
        "parameters": {"n": 1, "prompt_extend": False},
    }


def post(server: Server, path: str, payload: dict, asynchronous: bool = True) -> requests.Response:
    return requests.post(server.api + path, json=payload, headers=server.headers(None, asynchronous), timeout=30)


def refused(answer: requests.Response) -> None:
    assert answer.status_code == 400, answer.text
    got = answer.json()
    assert (got["code"], got["message"]) == ("DataInspectionFailed", INPUT_MESSAGE) and got["request_id"]


def usage(server: Server) -> list[dict]:
    answer = requests.get(server.api + "/usage", headers=server.headers(None, False), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["usage"]


def task_total(server: Server) -> int:
    return ImageSynthesis.list(api_key=server.key).output["total"]


# --- before a task is accepted: prompts -----------------------------------------------------------


def test_a_listed_word_in_the_prompt_is_refused_400_data_inspection_failed_and_nothing_is_accepted(
    inspected, moderation
):
    server = inspected
    rsp = ImageSynthesis.async_call(
        api_key=server.key, model="wan2.2-t2i-flash", prompt=f"a {LISTED.upper()} door", size="512*512"
    )
    assert (rsp.status_code, rsp.code, rsp.message) == (400, "DataInspectionFailed", INPUT_MESSAGE)
    assert task_total(server) == 0 and usage(server) == []  # no task, no invocation, no image
    assert moderation.received == []  # the word list refused it: the endpoint was not asked
    rsp = ImageSynthesis.async_call(api_key=server.key, model="wan2.2-t2i-flash", prompt="a door", size="512*512")
    assert rsp.status_code == 200 and task_total(server) == 1
    assert ImageSynthesis.wait(rsp, api_key=server.key).output.task_status == "SUCCEEDED"


def test_listed_words_are_refused_in_the_negative_prompt_and_in_the_messages_text(inspected):
    refused(post(inspected, TEXT2IMAGE, body("a garden", negative_prompt="Red   Flag, blur")))
    messages = {
        "model": "qwen-image",
        "input": {"messages": [{"role": "user", "content": [{"text": "一只红狐狸在雪地里"}]}]},
        "parameters": {"size": "1328*1328", "prompt_extend": False},
    }
    refused(post(inspected, MESSAGES, messages, asynchronous=False))
    assert task_total(inspected) == 0 and usage(inspected) == []


def test_a_listed_word_inside_another_word_passes(inspected):
    done = inspected.run(body(f"the un{LISTED}ness of red flags"))
    assert done["output"]["task_status"] == "SUCCEEDED"


def test_a_prompt_the_moderation_endpoint_flags_is_refused_and_it_was_sent_key_model_and_texts(inspected, moderation):
    refused(post(inspected, TEXT2IMAGE, body(f"a {FLAGGED} clown", negative_prompt="blurry")))
    [(headers, sent)] = moderation.received
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert sent == {"model": "omni-moderation-latest", "input": [f"a {FLAGGED} clown", "blurry"]}
    assert task_total(inspected) == 0 and usage(inspected) == []


# --- before a task is accepted: input images kept at submission ----------------------------------


def test_a_data_uri_input_image_the_endpoint_flags_is_refused_and_its_kept_copy_dropped(inspected, moderation):
    refused(post(inspected, EDIT, edit(data_uri(solid((220, 30, 30))))))
    assert moderation.images() == 1
    kept = [path for path in (inspected.data_dir / "files").rglob("*") if "inputs" in path.parts]
    assert kept == []  # the input kept under the refused task's id is gone
    assert task_total(inspected) == 0 and usage(inspected) == []


def test_an_input_image_passed_at_submission_is_not_inspected_again_when_the_task_runs(inspected, moderation):
    created = post(inspected, EDIT, edit(data_uri(solid((30, 60, 220)))))
    assert created.status_code == 200, created.text
    done = inspected.wait(created.json()["output"]["task_id"])["output"]
    assert done["task_status"] == "SUCCEEDED"
    assert moderation.images() == 2  # the input at submission, the output before it was stored


def test_a_video_task_does_not_inspect_again_the_frames_passed_at_submission(inspected, moderation):
    frames = {"first_frame_url": data_uri(solid((30, 60, 220))), "last_frame_url": data_uri(solid((20, 180, 60)))}
    kf2v = {
        "model": "wan2.2-kf2v-flash",
        "input": {"prompt": "blue turns green", **frames},
        "parameters": {"resolution": "480P"},
    }
    created = post(inspected, "/services/aigc/image2video/video-synthesis", kf2v)
    assert created.status_code == 200, created.text
    done = inspected.wait(created.json()["output"]["task_id"])["output"]
    assert done["task_status"] == "SUCCEEDED", done
    assert moderation.images() == 2  # both frames at submission, neither again when the task ran


def test_an_input_image_fetched_when_the_task_runs_that_is_flagged_fails_the_task(inspected, moderation):
    created = post(inspected, EDIT, edit(f"http://{moderation.host}/red.png"))
    assert created.status_code == 200, created.text  # a URL is fetched, and checked, when the task runs
    done = inspected.wait(created.json()["output"]["task_id"])
    out = done["output"]
    assert (out["task_status"], out["code"], out["message"]) == ("FAILED", "DataInspectionFailed", INPUT_MESSAGE)
    assert moderation.images() == 1 and not done.get("usage")
    [row] = usage(inspected)
    assert (row["invocations"], row["failed"], row["images"]) == (1, 1, 0)


# --- output images --------------------------------------------------------------------------------


def preview_seed() -> int:
    """A seed whose preview image (wan2.2-t2i-flash, "a lighthouse", 512*512) is mostly red and
    whose next image (seed + 1, the task's second) is not, by a margin."""
    engine = PreviewEngine()

    def red(seed: int) -> float:
        job = ImageJob("wan2.2-t2i-flash", "a lighthouse", "", 512, 512, seed, 0, 1)
        return redness(engine.generate(job))

    return next(seed for seed in range(1000) if red(seed) > 25 and red(seed + 1) < -5)


def test_one_flagged_output_of_two_is_a_data_inspection_failed_part_and_only_the_other_is_billed(inspected, moderation):
    seed = preview_seed()
    done = inspected.run(body("a lighthouse", n=2, seed=seed))
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}
    assert out["results"][0] == {"code": "DataInspectionFailed", "message": OUTPUT_MESSAGE}
    assert not mostly_red(download(out["results"][1]["url"]))
    assert done["usage"] == {"image_count": 1}
    assert moderation.images() == 2
    [row] = usage(inspected)
    assert (row["invocations"], row["succeeded"], row["images"]) == (1, 1, 1)
    stored = [path.name for path in (inspected.data_dir / "files").rglob("*.png") if out["task_id"] in str(path)]
    assert stored == ["1.png"]  # the flagged image was never stored


def test_every_output_flagged_fails_the_task_with_data_inspection_failed_unbilled(inspected, moderation):
    moderation.image_rule = lambda image: True
    done = inspected.run(body("a lighthouse", n=2))
    out = done["output"]
    assert (out["task_status"], out["code"], out["message"]) == ("FAILED", "DataInspectionFailed", OUTPUT_MESSAGE)
    assert out["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 0, "FAILED": 2} and not done.get("usage")
    [row] = usage(inspected)
    assert (row["invocations"], row["failed"], row["images"], row["spend"]) == (1, 1, 0, 0.0)


# --- the OpenAI door ------------------------------------------------------------------------------


def test_the_openai_door_answers_a_refused_prompt_in_its_envelope_as_400_data_inspection_failed(inspected, moderation):
    client = openai.OpenAI(base_url=f"{inspected.url}/v1", api_key=inspected.key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as error:
        client.images.generate(model="wan2.2-t2i-flash", prompt=f"a {LISTED} city", size="512x512")
    assert error.value.status_code == 400
    assert error.value.body == {
        "message": INPUT_MESSAGE,
        "type": "invalid_request_error",
        "param": None,
        "code": "DataInspectionFailed",
    }
    moderation.image_rule = lambda image: True  # the one output flagged: the call fails with its code
    with pytest.raises(openai.BadRequestError) as error:
        client.images.generate(model="wan2.2-t2i-flash", prompt="a city", size="512x512")
    assert (error.value.code, error.value.body["message"]) == ("DataInspectionFailed", OUTPUT_MESSAGE)
    assert task_total(inspected) == 1


# --- the endpoint failing -------------------------------------------------------------------------

FAILURES = ["slow", "500", "garbage"]


@pytest.mark.parametrize("failure", FAILURES)
def test_the_endpoint_failing_closed_answers_503_service_unavailable_not_data_inspection_failed(
    inspected, moderation, failure
):
    moderation.failure = failure
    answer = post(inspected, TEXT2IMAGE, body("a quiet harbour"))
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "ServiceUnavailable"
    assert "moderation" not in answer.text and "127.0.0.1" not in answer.text  # nothing internal
    assert task_total(inspected) == 0 and usage(inspected) == []
    moderation.failure = None  # the endpoint is back: so is the server, which stayed up
    assert inspected.run(body("a quiet harbour"))["output"]["task_status"] == "SUCCEEDED"


def test_the_endpoint_failing_closed_on_an_output_image_makes_it_an_unbilled_internal_error(inspected, moderation):
    moderation.failure, moderation.images_only = "500", True  # texts pass at submission; images fail
    done = inspected.run(body("a quiet harbour"))
    out = done["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "InternalError") and not done.get("usage")
    assert "moderation" not in json.dumps(done)


def test_the_endpoint_failing_closed_on_a_fetched_input_fails_the_task_with_internal_error(inspected, moderation):
    moderation.failure, moderation.images_only = "garbage", True
    created = post(inspected, EDIT, edit(f"http://{moderation.host}/blue.png"))
    assert created.status_code == 200, created.text
    done = inspected.wait(created.json()["output"]["task_id"])
    out = done["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "InternalError") and not done.get("usage")
    assert moderation.images() == 1  # the fetched input: no output was made


@pytest.mark.parametrize("failure", FAILURES)
def test_the_endpoint_failing_open_passes_unchecked_and_the_task_succeeds(open_server, moderation, failure):
    moderation.reset()
    open_server.key = fresh_key(open_server)
    moderation.failure = failure
    try:
        done = open_server.run(body(f"a {FLAGGED} clown"))  # would be flagged, were the endpoint up
    finally:
        moderation.reset()
    assert done["output"]["task_status"] == "SUCCEEDED" and done["usage"] == {"image_count": 1}
    refused(post(open_server, TEXT2IMAGE, body(f"a {LISTED} clown")))  # the word list still refuses


# --- configuration --------------------------------------------------------------------------------


def test_inspection_is_off_by_default_and_each_configured_inspector_must_pass(tmp_path):
    assert isinstance(make_inspector(Settings.from_env({}).inspection), NoInspection)
    words = tmp_path / "words.txt"
    words.write_text("x\n")
    both = make_inspector(InspectionSettings(words=words, url="http://127.0.0.1:9/v1"))
    assert isinstance(both, AllOf)
    assert [type(each) for each in both.inspectors] == [WordList, ModerationEndpoint]


def test_a_missing_word_list_stops_serve_with_one_line_and_status_2(tmp_path):
    env = {**os.environ, "IMAGESCOPE_DATA_DIR": str(tmp_path / "data"), "IMAGESCOPE_INSPECTION_WORDS": "/no/words.txt"}
    done = subprocess.run(
        [sys.executable, "-m", "imagescope", "serve", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: IMAGESCOPE_INSPECTION_WORDS: the word list '/no/words.txt' cannot be read: No such file or directory"
    ]
    assert not (tmp_path / "data").exists()  # nothing was started or written


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "IMAGESCOPE_INSPECTION_WORDS",
            "/",
            "IMAGESCOPE_INSPECTION_WORDS: the word list '/' cannot be read: Is a directory",
        ),
        (
            "IMAGESCOPE_INSPECTION_URL",
            "moderation:8080",
            "IMAGESCOPE_INSPECTION_URL: must be an http(s) URL, not 'moderation:8080'",
        ),
        (
            "IMAGESCOPE_INSPECTION_URL",
            "http://mod:99999/v1",
            "IMAGESCOPE_INSPECTION_URL: must be an http(s) URL, not 'http://mod:99999/v1'",
        ),
        (
            "IMAGESCOPE_INSPECTION_ON_ERROR",
            "maybe",
            "IMAGESCOPE_INSPECTION_ON_ERROR: must be 'closed' or 'open', not 'maybe'",
        ),
        (
            "IMAGESCOPE_INSPECTION_TIMEOUT_SECONDS",
            "0",
            "IMAGESCOPE_INSPECTION_TIMEOUT_SECONDS: must be greater than 0, not '0'",
        ),
    ],
)
def test_an_unusable_inspection_setting_is_refused_naming_its_variable(variable, value, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert str(error.value) == message


# --- the inspectors' own rules ---------------------------------------------------------------------


def test_the_word_list_matches_whole_words_case_and_width_blind_and_unspaced_scripts_anywhere(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text(WORDS + "\n   # an indented comment\n\nkill\n", encoding="utf-8")
    words = WordList.from_file(path)
    assert words.terms == 4  # comments and blank lines are not terms

    def passes(text: str) -> bool:
        try:
            words.check_text([text])
        except Exception:
            return False
        return True

    for text in ("Kill it", "KILL!", "ｋｉｌｌ", "a red\tflag", "(forbidden)", "一只红狐狸"):
        assert not passes(text), text
    for text in ("skill", "killer", "red flags", "a redflag", "forbiddenness", "狐"):
        assert passes(text), text
    words.check_image(Image.new("RGB", (8, 8), (255, 0, 0)))  # text only: images pass


@pytest.mark.parametrize(
    "answer",
    [{}, {"results": []}, {"results": [{"flagged": "yes"}]}, [], "ok", {"results": [{}]}],
)
def test_an_answer_that_is_not_a_moderation_result_is_the_endpoint_failing(answer):
    with pytest.raises(ValueError):
        flagged(answer)
    assert flagged({"results": [{"flagged": False}, {"flagged": True}]}) is True
