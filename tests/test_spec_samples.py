"""The SDK samples of spec 001 and 002 run unchanged, apart from the base URL and the key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

SAMPLES = Path(__file__).parent / "samples"


def run_sample(name: str, server, workdir: Path) -> str:
    source = (SAMPLES / name).read_text()
    source, count = re.subn(
        r"dashscope\.base_http_api_url = '[^']*'", f"dashscope.base_http_api_url = '{server.api}'", source
    )
    assert count == 1
    script = workdir / name
    script.write_text(source)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env={**os.environ, "DASHSCOPE_API_KEY": server.key},
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
