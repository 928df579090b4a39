"""The SDK samples of spec 001–004 (ImageSynthesis, MultiModalConversation) run unchanged, apart
from the base URL and the key — and for the editing samples, their public image URLs swapped for
the samples' own file:// method (this machine cannot reach the hosted service's image CDN), which
exercises the SDK's upload flow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import download

SAMPLES = Path(__file__).parent / "samples"


def run_sample(name: str, server, workdir: Path, local_files: dict[str, str] | None = None) -> str:
    source = (SAMPLES / name).read_text()
    source, count = re.subn(
        r"dashscope\.base_http_api_url = '[^']*'", f"dashscope.base_http_api_url = '{server.api}'", source
    )
    assert count <= 1  # spec 003's sample has none: the SDK's DASHSCOPE_HTTP_BASE_URL applies
    for variable, path in (local_files or {}).items():
        source, count = re.subn(
            rf'^{variable} = "https?://[^"]*"$', f'{variable} = "file://" + "{path}"', source, flags=re.M
        )
        assert count == 1, variable
    script = workdir / name
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env={**os.environ, "DASHSCOPE_API_KEY": server.key, "DASHSCOPE_HTTP_BASE_URL": server.api},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "sample, size",
    [
        ("spec001_sdk_sync_call.py", (1328, 1328)),
        ("spec001_sdk_async_call.py", (1328, 1328)),
        ("spec002_sdk_sync_call.py", (1280, 1280)),
        ("spec002_sdk_async_call.py", (1280, 1280)),
    ],
)
def test_spec_sdk_sample_runs_unchanged_and_downloads_the_png(sample, size, server, tmp_path):
    out = run_sample(sample, server, tmp_path)
    assert "SUCCEEDED" in out
    assert "Failed" not in out
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1, out
    assert Image.open(pngs[0]).size == size


def test_spec001_multimodal_conversation_sample_prints_the_choices_answer(server, tmp_path):
    answer = json.loads(run_sample("spec001_sdk_multimodal_call.py", server, tmp_path))
    assert answer["status_code"] == 200 and answer["output"]["task_metric"]["SUCCEEDED"] == 1
    [part] = answer["output"]["choices"][0]["message"]["content"]
    assert download(part["image"]).size == (1328, 1328)
    assert answer["usage"]["width"] == 1328 and answer["usage"]["image_count"] == 1


def photo(path: Path, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), "RGB").resize(size, Image.BICUBIC).save(path)


def test_spec003_sample_edits_with_a_mask_from_local_files(server, tmp_path):
    photo(tmp_path / "base_image.jpeg", (768, 512), 1)
    mask = Image.new("L", (768, 512), 0)
    mask.paste(255, (200, 100, 500, 400))
    mask.save(tmp_path / "mask_image.png")
    out = run_sample(
        "spec003_sdk_sync_call.py",
        server,
        tmp_path,
        {"mask_image_url": "./mask_image.png", "base_image_url": "./base_image.jpeg"},
    )
    assert "SUCCEEDED" in out and "'SUCCEEDED': 1" in out.replace('"', "'")


def test_spec004_sample_fuses_two_local_images(server, tmp_path):
    photo(tmp_path / "image_1.png", (552, 736), 2)
    photo(tmp_path / "image_2.png", (848, 480), 3)
    out = run_sample(
        "spec004_sdk_sync_call.py", server, tmp_path, {"image_url_1": "./image_1.png", "image_url_2": "./image_2.png"}
    )
    assert "SUCCEEDED" in out
    pngs = [p for p in tmp_path.glob("*.png") if not p.name.startswith("image_")]
    assert len(pngs) == 1 and Image.open(pngs[0]).size == (1280, 1280)
