"""``imagescope edit`` and the messages-protocol models from the command line: local files go
through the upload flow as the SDK sends them, and each model is called on its own endpoint
(``client/protocols.py``), as subprocesses against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from imagescope.client.protocols import (
    IMAGE2IMAGE_PATH,
    IMAGE_GENERATION_PATH,
    MULTIMODAL_PATH,
    TEXT2IMAGE_PATH,
    Ask,
    edit,
    text_to_image,
)
from test_client_cli import imagescope


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    image = Image.new("RGB", (640, 512), (40, 90, 160))
    ImageDraw.Draw(image).ellipse((200, 150, 440, 360), fill=(230, 200, 40))
    image.save(path)
    return path


@pytest.fixture
def mask(tmp_path) -> Path:
    path = tmp_path / "mask.png"
    image = Image.new("L", (640, 512), 0)
    ImageDraw.Draw(image).rectangle((200, 150, 440, 360), fill=255)
    image.save(path)
    return path


def pngs(stdout: str) -> list[Path]:
    return [Path(line) for line in stdout.strip().splitlines() if line.endswith(".png")]


def sizes(paths: list[Path]) -> list[tuple[int, int]]:
    found = []
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG"
            found.append(image.size)
    return found


def test_edit_uploads_a_local_image_and_mask_and_inpaints_with_description_edit_with_mask(
    server, photo, mask, tmp_path
):
    out = tmp_path / "out"
    r = imagescope(
        server, "edit", str(photo), "--model", "wanx2.1-imageedit", "--mask", str(mask),
        "--prompt", "a red balloon", "--n", "2", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    task_id = lines[0].split()[1]
    assert lines[0] == f"task {task_id} PENDING" and f"task {task_id} SUCCEEDED" in lines
    paths = pngs(r.stdout)
    assert sizes(paths) == [(640, 512), (640, 512)] and all(p.parent == out for p in paths)
    shown = imagescope(server, "tasks", "show", task_id)
    assert '"task_status": "SUCCEEDED"' in shown.stdout


def test_edit_passes_function_parameters_with_param(server, photo, tmp_path):
    # expand on the preview engine (super_resolution would run the real Real-ESRGAN: seconds of CPU)
    r = imagescope(
        server, "edit", str(photo), "--model", "wanx2.1-imageedit", "--function", "expand", "--prompt", "more sky",
        "--param", "left_scale=2", "--param", "top_scale=1.5", "--n", "1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert sizes(pngs(r.stdout)) == [(960, 640)]  # 640·(2+1)/2, 512·(1.5+1)/2


def test_edit_fuses_two_local_images_with_wan25(server, photo, mask, tmp_path):
    r = imagescope(
        server, "edit", str(photo), str(mask), "--model", "wan2.5-i2i-preview",
        "--prompt", "put the disc on the square", "--n", "1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(pngs(r.stdout)) == 1


def test_edit_with_qwen_image_edit_is_a_synchronous_messages_call(server, photo, tmp_path):
    r = imagescope(
        server, "edit", str(photo), "--model", "qwen-image-edit", "--prompt", "make it night",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "call to qwen-image-edit RUNNING"  # no task to show: a sync call
    [(width, height)] = sizes(pngs(r.stdout))
    assert abs(width / height - 640 / 512) < 0.02  # qwen-image-edit keeps the input's proportions


def test_edit_with_wan26_image_is_a_task_whose_images_are_in_choices(server, photo, tmp_path):
    r = imagescope(
        server, "edit", str(photo), "--model", "wan2.6-image", "--prompt", "as a watercolour",
        "--n", "1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("task ") and len(pngs(r.stdout)) == 1


def test_generate_with_qwen_image_max_is_a_synchronous_messages_call(server, tmp_path):
    r = imagescope(server, "generate", "a koi pond", "--model", "qwen-image-max", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "call to qwen-image-max RUNNING"
    assert sizes(pngs(r.stdout)) == [(1328, 1328)]  # qwen-image-max's default size, one image


def test_generate_with_wan26_t2i_is_a_task_on_the_image_generation_endpoint(server, tmp_path):
    r = imagescope(
        server, "generate", "a koi pond", "--model", "wan2.6-t2i", "--n", "2", "--size", "768*768",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("task ") and sizes(pngs(r.stdout)) == [(768, 768), (768, 768)]


def test_edit_refuses_a_mask_on_a_model_that_takes_none_before_uploading(server, photo, mask, tmp_path):
    r = imagescope(server, "edit", str(photo), "--model", "qwen-image-edit", "--mask", str(mask), "--prompt", "x")
    assert r.returncode == 2 and "takes neither --mask nor --function" in r.stderr


def test_edit_of_a_missing_file_exits_2_naming_it(server, tmp_path):
    missing = tmp_path / "nope.png"
    r = imagescope(server, "edit", str(missing), "--model", "wan2.5-i2i-preview", "--prompt", "x")
    assert r.returncode == 2 and r.stderr.strip() == f"error: no such file: {missing}"


def test_an_api_refusal_of_an_edit_exits_1_with_its_code(server, photo, tmp_path):
    r = imagescope(server, "edit", str(photo), "--model", "wanx2.1-imageedit", "--function", "no_such_function",
                   "--prompt", "x", "--out", str(tmp_path))  # fmt: skip
    assert r.returncode == 1 and r.stderr.startswith("InvalidParameter: ")


@pytest.mark.parametrize(
    ("model", "path", "asynchronous"),
    [
        ("wan2.2-t2i-flash", TEXT2IMAGE_PATH, True),
        ("qwen-image-plus", TEXT2IMAGE_PATH, True),
        ("qwen-image-max", MULTIMODAL_PATH, False),
        ("wan2.6-t2i", IMAGE_GENERATION_PATH, True),
    ],
)
def test_each_text_to_image_model_is_called_on_its_endpoint(model, path, asynchronous):
    call = text_to_image(Ask(model, prompt="p"))
    assert (call.path, call.asynchronous) == (path, asynchronous)


@pytest.mark.parametrize(
    ("model", "path", "asynchronous"),
    [
        ("wanx2.1-imageedit", IMAGE2IMAGE_PATH, True),
        ("wan2.5-i2i-preview", IMAGE2IMAGE_PATH, True),
        ("qwen-image-edit-plus", MULTIMODAL_PATH, False),
        ("wan2.6-image", IMAGE_GENERATION_PATH, True),
    ],
)
def test_each_editing_model_is_called_on_its_endpoint_with_uploads_resolved(model, path, asynchronous):
    call = edit(Ask(model, prompt="p", images=("oss://imagescope/1/abc/a.png",), function="description_edit"
                    if model == "wanx2.1-imageedit" else None))  # fmt: skip
    assert (call.path, call.asynchronous, call.references_uploads) == (path, asynchronous, True)
