"""The preview engine: deterministic, exact size, labelled, CJK-capable; and the PNGs that
carry its pictures (and every engine's): valid, lossless, small enough to write fast."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import requests
from PIL import Image

from imagescope.engines import ImageJob, PreviewEngine
from imagescope.engines.base import font
from imagescope.engines.preview import _wrap
from imagescope.tasks.png import SIGNATURE, encode_png


def job(**kw) -> ImageJob:
    base = dict(
        model="qwen-image",
        prompt="一只橘猫 an orange cat",
        negative_prompt="",
        width=900,
        height=500,
        seed=3,
        index=0,
        count=1,
    )
    return ImageJob(**{**base, **kw})


def test_same_job_same_pixels_other_seed_or_prompt_other_pixels():
    engine = PreviewEngine()
    a = engine.generate(job()).tobytes()
    assert a == engine.generate(job()).tobytes()
    assert a != engine.generate(job(seed=4)).tobytes()
    assert a != engine.generate(job(prompt="another prompt")).tobytes()


def test_the_index_and_count_of_an_image_change_nothing_in_it():
    engine = PreviewEngine()
    assert engine.generate(job(index=0, count=1)).tobytes() == engine.generate(job(index=3, count=4)).tobytes()


def test_exact_size_for_extreme_shapes():
    for w, h in [(512, 512), (768, 2700), (2700, 768), (1664, 928), (240, 8000)]:
        assert PreviewEngine().generate(job(width=w, height=h)).size == (w, h)


def test_bundled_font_draws_cjk_glyphs_not_missing_glyph_boxes():
    f = font(40)
    masks = {ch: bytes(f.getmask(ch)) for ch in "猫狗の한"}
    assert len(set(masks.values())) == 4  # a missing glyph would draw the same box each time
    assert all(any(m) for m in masks.values())


def test_long_prompts_are_wrapped_inside_the_image():
    image = PreviewEngine().generate(job(prompt="word " * 600 + "猫" * 2000, width=768, height=768))
    assert image.size == (768, 768)


def test_wrapped_prompt_lines_fit_the_width_as_pillow_measures_them():
    f = font(44)
    prompt = "AV To Wa Ty " * 40 + "一只橘猫坐在窗台上" * 30 + " Yo" * 50
    lines = _wrap(prompt, f, 1064, 100)
    assert len(lines) > 5
    assert all(f.getlength(line) <= 1064 for line in lines)


# --- the PNG writer ------------------------------------------------------------------


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each one's length and CRC checked as a strict reader does."""
    assert png[:8] == SIGNATURE
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert len(data) == length and crc == zlib.crc32(kind + data), kind
        found.append((kind, data))
        at += 12 + length
    return found


@pytest.mark.parametrize(
    ("mode", "size"), [("RGB", (1328, 1328)), ("RGBA", (7, 3)), ("L", (1, 1)), ("RGB", (240, 8000))]
)
def test_png_is_well_formed_and_decodes_to_the_same_pixels(mode, size):
    rng = np.random.default_rng(1)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8).squeeze(
        axis=2 if mode == "L" else None
    )
    image = Image.fromarray(pixels, mode)
    png = encode_png(image)

    kinds = chunks(png)
    assert [k for k, _ in kinds] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", kinds[0][1])
    assert (width, height, depth, color) == (*size, 8, {"L": 0, "RGB": 2, "RGBA": 6}[mode])
    raw = zlib.decompress(kinds[1][1])
    assert len(raw) == height * (1 + width * channels)
    assert set(raw[:: 1 + width * channels]) <= {0, 1, 2, 3, 4}  # a valid filter type on every row

    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == mode and decoded.tobytes() == image.tobytes()


def test_png_of_other_modes_is_left_to_pillow_and_still_lossless():
    image = Image.new("P", (40, 30), 5)
    image.putpalette([(i * 37) % 256 for i in range(768)])
    decoded = Image.open(io.BytesIO(encode_png(image)))
    assert decoded.mode == "P" and decoded.convert("RGB").tobytes() == image.convert("RGB").tobytes()


def test_a_1328_preview_png_is_a_few_hundred_kilobytes_not_half_a_megabyte():
    # The colour field's flat cells are what keep deflate fast; a smooth field at full size
    # (the earlier drawing) made this 580 kB and its encoding twice as slow.
    image = PreviewEngine().generate(job(width=1328, height=1328, prompt="一只橘猫坐在窗台上, an orange cat " * 8))
    assert len(encode_png(image)) < 400_000


def test_a_preview_task_serves_a_png_of_exactly_the_engines_pixels_same_bytes_each_time(server):
    prompt = "一只橘猫 an orange cat on a windowsill"
    body = {
        "model": "qwen-image",
        "input": {"prompt": prompt},
        "parameters": {"size": "1328*1328", "n": 1, "seed": 42, "prompt_extend": False},
    }
    served = []
    for _ in range(2):
        task = server.run(body)
        assert task["output"]["task_status"] == "SUCCEEDED", task
        r = requests.get(task["output"]["results"][0]["url"], timeout=10)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        served.append(r.content)
    assert served[0] == served[1]

    image = Image.open(io.BytesIO(served[0]))
    expected = PreviewEngine().generate(job(prompt=prompt, width=1328, height=1328, seed=42))
    assert image.format == "PNG" and image.mode == "RGB"
    assert image.tobytes() == expected.tobytes()
