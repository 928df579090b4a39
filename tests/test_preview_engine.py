"""The preview engine: deterministic, exact size, labelled, CJK-capable."""

from __future__ import annotations

from imagescope.engines import ImageJob, PreviewEngine
from imagescope.engines.base import font


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
