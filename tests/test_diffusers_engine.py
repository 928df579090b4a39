"""The diffusers engines on tiny random-weight Qwen-Image pipelines (see tiny_qwen.py).

The weights are built once per session, saved like real weights, and loaded through the
engines' own loading code. Pictures are noise; what is tested is what the engine does
with them: sizes, seeds, guidance, progress, cancellation, errors, and the edit inputs.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

import tiny_qwen  # noqa: E402
import tiny_wan  # noqa: E402
from imagescope.engines import EditJob, ImageJob, JobRefused
from imagescope.engines.diffusers.engine import (
    Canceled,
    DiffusersEditEngine,
    DiffusersOptions,
    DiffusersTextToImageEngine,
    EngineConfigError,
    expand_canvas,
)
from imagescope.tasks.spec import Doodle, Function, Strength


@pytest.fixture(scope="session")
def qwen_image(tmp_path_factory):
    """A tiny Qwen-Image weights directory: text-to-image, img2img and inpaint."""
    return tiny_qwen.build_qwen_image(tmp_path_factory.mktemp("weights") / "Qwen-Image")


@pytest.fixture(scope="session")
def controlnet(tmp_path_factory):
    """A tiny ControlNet for the tiny Qwen-Image's transformer."""
    return tiny_qwen.build_controlnet(tmp_path_factory.mktemp("weights") / "Qwen-Image-ControlNet")


@pytest.fixture(scope="session")
def qwen_image_edit(tmp_path_factory):
    """A tiny Qwen-Image-Edit-2509 weights directory (it has the VL processor)."""
    with tiny_qwen.video_processor_stand_in():
        path = tiny_qwen.build_qwen_image_edit(tmp_path_factory.mktemp("weights") / "Qwen-Image-Edit")
        yield path  # loading the processor needs the stand-in too


def options(weights, pipeline="QwenImagePipeline", **overrides) -> DiffusersOptions:
    settings = {"dtype": "fp32", "device": "cpu", "steps": 2, **overrides}
    return DiffusersOptions(weights, pipeline, **settings)


def job(seed=7, width=64, height=64, prompt="a red cat on a blue sofa", negative="", index=0, count=1):
    return ImageJob("qwen-image", prompt, negative, width, height, seed, index, count)


def edit_job(images, seed=7, width=64, height=64, mask=None, strength=None) -> EditJob:
    options = None if strength is None else Strength(strength)
    return EditJob(
        "qwen-image-edit",
        None,
        "make it blue",
        "",
        tuple(images),
        mask,
        width,
        height,
        seed,
        index=0,
        count=1,
        options=options,
    )


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def picture(width=64, height=64, colour=(200, 40, 40)) -> Image.Image:
    image = Image.new("RGB", (width, height), colour)
    image.paste((30, 60, 220), (width // 4, height // 4, width // 2, height // 2))
    return image


def box_mask(width=64, height=64, box=(16, 16, 48, 48)) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, box)
    return mask


# --- text to image -------------------------------------------------------------------


def test_each_image_of_a_task_has_the_exact_requested_size(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image))
    images = [engine.generate(job(seed=7 + i, index=i, count=2)) for i in range(2)]
    assert [image.size for image in images] == [(64, 64), (64, 64)]
    assert all(image.mode == "RGB" for image in images)


@pytest.mark.parametrize("width,height", [(72, 40), (33, 95), (16, 16)])
def test_sizes_off_the_16_pixel_grid_are_generated_larger_and_cropped(qwen_image, width, height):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image))
    assert engine.generate(job(width=width, height=height)).size == (width, height)


def test_same_seed_gives_the_same_pixels_another_seed_others(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image))
    first, again, other = (engine.generate(job(seed=s)) for s in (7, 7, 8))
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_negative_prompt_steers_the_picture_through_true_cfg(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image, true_cfg_scale=4.0))
    plain, steered = (engine.generate(job(negative=n)) for n in ("", "blurry, low quality"))
    assert not np.array_equal(pixels(plain), pixels(steered))


def test_without_true_cfg_the_negative_prompt_is_ignored(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image, true_cfg_scale=1.0))
    plain, steered = (engine.generate(job(negative=n)) for n in ("", "blurry, low quality"))
    assert np.array_equal(pixels(plain), pixels(steered))


def test_progress_sees_every_step_of_the_total(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image, steps=3))
    seen: list[tuple[int, int]] = []
    engine.generate(job(), progress=lambda step, total: seen.append((step, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cancel_after_step_two_raises_and_runs_no_further_step(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image, steps=4))
    seen: list[tuple[int, int]] = []
    with pytest.raises(Canceled, match="after step 2 of 4"):
        engine.generate(
            job(),
            progress=lambda step, total: seen.append((step, total)),
            should_stop=lambda: len(seen) >= 2,
        )
    assert seen == [(1, 4), (2, 4)]
    # The pipeline is left clean: the next call is the same as on a fresh engine.
    after = engine.generate(job())
    fresh = DiffusersTextToImageEngine("qwen-image", options(qwen_image, steps=4)).generate(job())
    assert np.array_equal(pixels(after), pixels(fresh))


def test_cancel_before_the_first_step(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image))
    seen = []
    with pytest.raises(Canceled, match="before the first step"):
        engine.generate(job(), progress=lambda *step: seen.append(step), should_stop=lambda: True)
    assert seen == []


def test_threads_share_one_pipeline_and_get_what_they_would_alone(qwen_image):
    engine = DiffusersTextToImageEngine("qwen-image", options(qwen_image))
    alone = {seed: pixels(engine.generate(job(seed=seed))) for seed in (1, 2, 3, 4)}
    together: dict[int, np.ndarray] = {}

    def draw(seed: int) -> None:
        together[seed] = pixels(engine.generate(job(seed=seed)))

    threads = [threading.Thread(target=draw, args=(seed,)) for seed in alone]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(alone[seed], together[seed]) for seed in alone)


def test_engines_on_one_weights_directory_share_its_modules(qwen_image):
    from imagescope.engines.diffusers.engine import shared_pipeline

    text = DiffusersTextToImageEngine("qwen-image", options(qwen_image))
    inpaint = DiffusersEditEngine("qwen-image-inpaint", options(qwen_image, "QwenImageInpaintPipeline"))
    text.load()
    inpaint.load()
    text_pipe, text_lock = shared_pipeline(text.name, text.options)
    inpaint_pipe, inpaint_lock = shared_pipeline(inpaint.name, inpaint.options)
    assert type(inpaint_pipe).__name__ == "QwenImageInpaintPipeline"
    assert inpaint_pipe.transformer is text_pipe.transformer
    assert inpaint_pipe.text_encoder is text_pipe.text_encoder
    assert inpaint_lock is text_lock


def test_a_wan_video_pipeline_draws_one_frame_as_the_image(tmp_path_factory):
    wan = tiny_wan.build_wan_t2v(tmp_path_factory.mktemp("weights") / "Wan2.1-T2V")
    engine = DiffusersTextToImageEngine("wan2.1-t2i", options(wan, "WanPipeline", guidance_scale=5.0))
    seen: list[tuple[int, int]] = []
    first = engine.generate(job(width=72, height=40), progress=lambda *step: seen.append(step))
    again = engine.generate(job(width=72, height=40))
    assert first.size == (72, 40)
    assert np.array_equal(pixels(first), pixels(again))
    assert seen == [(1, 2), (2, 2)]


# --- configuration errors ----------------------------------------------------------------


def test_missing_weights_directory_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "Qwen-Image"
    engine = DiffusersTextToImageEngine("qwen-image", options(missing))
    with pytest.raises(EngineConfigError) as raised:
        engine.generate(job())
    assert str(raised.value) == f"qwen-image weights not found: {missing} (expected model_index.json)"


def test_directory_without_model_index_is_incomplete(tmp_path):
    engine = DiffusersTextToImageEngine("qwen-image", options(tmp_path))
    with pytest.raises(EngineConfigError, match="weights incomplete: .* \\(expected model_index.json\\)"):
        engine.load()


def test_weights_missing_a_part_name_the_part(qwen_image, tmp_path):
    broken = tmp_path / "Qwen-Image"
    shutil.copytree(qwen_image, broken)
    for weights in (broken / "transformer").glob("*.safetensors"):
        weights.unlink()
    engine = DiffusersTextToImageEngine("qwen-image", options(broken))
    with pytest.raises(EngineConfigError, match=f"weights incomplete: {broken / 'transformer'} has no weights"):
        engine.load()


def test_truncated_weights_file_is_a_config_error_naming_the_directory(qwen_image, tmp_path):
    broken = tmp_path / "Qwen-Image"
    shutil.copytree(qwen_image, broken)
    (weights,) = (broken / "vae").glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    engine = DiffusersTextToImageEngine("qwen-image", options(broken))
    with pytest.raises(EngineConfigError, match=f"qwen-image: cannot load QwenImagePipeline from {broken}"):
        engine.load()


def test_edit_pipeline_on_text_to_image_weights_names_what_is_missing(qwen_image):
    engine = DiffusersEditEngine("qwen-image-edit", options(qwen_image, "QwenImageEditPlusPipeline"))
    with pytest.raises(EngineConfigError, match="needs processor, which .* lacks"):
        engine.load()


def test_unknown_pipeline_class_is_a_config_error(qwen_image):
    with pytest.raises(EngineConfigError, match="no pipeline class 'QwenImagePipelin'"):
        options(qwen_image, "QwenImagePipelin")
    with pytest.raises(EngineConfigError, match="not an edit pipeline"):
        DiffusersEditEngine("x", options(qwen_image, "QwenImagePipeline"))


def test_bad_options_are_config_errors(qwen_image):
    with pytest.raises(EngineConfigError, match="dtype"):
        options(qwen_image, dtype="int8")
    with pytest.raises(EngineConfigError, match="device"):
        options(qwen_image, device="tpu")


# --- editing ---------------------------------------------------------------------------


def test_edit_plus_with_one_and_two_images_gives_the_requested_size(qwen_image_edit):
    engine = DiffusersEditEngine(
        "qwen-image-edit", options(qwen_image_edit, "QwenImageEditPlusPipeline", true_cfg_scale=1.0)
    )
    one = engine.edit(edit_job([picture(80, 48)], width=64, height=48))
    two = engine.edit(edit_job([picture(80, 48), picture(40, 40, (0, 200, 0))], width=72, height=40))
    assert one.size == (64, 48)
    assert two.size == (72, 40)


def test_edit_single_image_pipeline(qwen_image_edit):
    engine = DiffusersEditEngine(
        "qwen-image-edit", options(qwen_image_edit, "QwenImageEditPipeline", true_cfg_scale=1.0)
    )
    seen = []
    image = engine.edit(edit_job([picture()]), progress=lambda *step: seen.append(step))
    assert image.size == (64, 64)
    assert seen == [(1, 2), (2, 2)]


def test_edit_inputs_are_checked_against_the_pipeline(qwen_image_edit):
    plus = DiffusersEditEngine("qwen-image-edit", options(qwen_image_edit, "QwenImageEditPlusPipeline"))
    with pytest.raises(JobRefused, match="1 to 3 input images, not 4"):
        plus.edit(edit_job([picture()] * 4))
    with pytest.raises(JobRefused, match="takes no mask"):
        plus.edit(edit_job([picture()], mask=box_mask()))
    with pytest.raises(JobRefused, match="takes no strength"):
        plus.edit(edit_job([picture()], strength=0.5))


def test_inpaint_repaints_where_the_mask_is_white(qwen_image):
    engine = DiffusersEditEngine("qwen-image-inpaint", options(qwen_image, "QwenImageInpaintPipeline"))
    centre = engine.edit(edit_job([picture()], mask=box_mask(), strength=1.0))
    again = engine.edit(edit_job([picture()], mask=box_mask(), strength=1.0))
    corner = engine.edit(edit_job([picture()], mask=box_mask(box=(0, 0, 16, 16)), strength=1.0))
    assert centre.size == (64, 64)
    assert np.array_equal(pixels(centre), pixels(again))
    assert not np.array_equal(pixels(centre), pixels(corner))
    with pytest.raises(JobRefused, match="needs a mask"):
        engine.edit(edit_job([picture()]))


def test_inpaint_off_the_16_pixel_grid_keeps_the_exact_size(qwen_image):
    engine = DiffusersEditEngine("qwen-image-inpaint", options(qwen_image, "QwenImageInpaintPipeline"))
    image = engine.edit(edit_job([picture(70, 50)], width=70, height=50, mask=box_mask(70, 50)))
    assert image.size == (70, 50)


def test_outpainting_paints_the_border_of_an_expanded_canvas(qwen_image):
    canvas, mask = expand_canvas(picture(48, 32), left=8, top=16, right=8, bottom=16)
    assert canvas.size == mask.size == (64, 64)
    border = np.asarray(mask)
    assert border[16:48, 8:56].max() == 0 and border[:16].min() == 255 and border[:, :8].min() == 255
    assert canvas.getpixel((0, 0)) == picture(48, 32).getpixel((0, 0))  # edges repeated outward

    engine = DiffusersEditEngine("qwen-image-inpaint", options(qwen_image, "QwenImageInpaintPipeline"))
    image = engine.edit(edit_job([canvas], mask=mask, strength=1.0))
    assert image.size == (64, 64)


def test_img2img_strength_sets_how_many_steps_run(qwen_image):
    engine = DiffusersEditEngine("qwen-image-img2img", options(qwen_image, "QwenImageImg2ImgPipeline", steps=4))
    seen: list[tuple[int, int]] = []
    image = engine.edit(edit_job([picture()], strength=0.5), progress=lambda *step: seen.append(step))
    assert image.size == (64, 64)
    assert seen == [(1, 2), (2, 2)]
    seen.clear()
    engine.edit(edit_job([picture()]), progress=lambda *step: seen.append(step))  # options' 0.6
    assert seen[-1] == (3, 3)  # diffusers starts at int(4 - 4 * 0.6) = step 1 of 4


def test_edit_inpaint_fits_its_own_size_to_the_requested_one(qwen_image_edit):
    engine = DiffusersEditEngine(
        "qwen-image-edit-inpaint",
        options(qwen_image_edit, "QwenImageEditInpaintPipeline", true_cfg_scale=1.0),
    )
    image = engine.edit(edit_job([picture(64, 48)], width=64, height=48, mask=box_mask(64, 48), strength=1.0))
    assert image.size == (64, 48)


# --- ControlNet: a picture drawn from noise, following the control image ----------------------


def sketch(width=64, height=64, box=(12, 12, 40, 40)) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    image.paste((0, 0, 0), box)
    image.paste((255, 255, 255), (box[0] + 3, box[1] + 3, box[2] - 3, box[3] - 3))
    return image


def doodle_job(image, seed=7, width=64, height=64, is_sketch=None) -> EditJob:
    options = None if is_sketch is None else Doodle(is_sketch)
    return EditJob(
        "wanx2.1-imageedit",
        Function.DOODLE,
        "a red house",
        "",
        (image,),
        None,
        width,
        height,
        seed,
        index=0,
        count=1,
        options=options,
    )


def controlnet_engine(weights, controlnet, **overrides) -> DiffusersEditEngine:
    return DiffusersEditEngine(
        "doodle", options(weights, "QwenImageControlNetPipeline", controlnet=controlnet, **overrides)
    )


def test_controlnet_draws_the_jobs_size_whatever_the_control_images(qwen_image, controlnet):
    engine = controlnet_engine(qwen_image, controlnet)
    assert engine.edit(doodle_job(sketch(96, 80), width=64, height=48)).size == (64, 48)
    assert engine.edit(doodle_job(sketch(40, 40), width=72, height=40)).size == (72, 40)


def test_controlnet_same_seed_same_pixels_another_control_image_another_picture(qwen_image, controlnet):
    engine = controlnet_engine(qwen_image, controlnet)
    first, again = (engine.edit(doodle_job(sketch(), is_sketch=True)) for _ in range(2))
    other = engine.edit(doodle_job(sketch(box=(30, 8, 60, 60)), is_sketch=True))
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))
    weaker = controlnet_engine(qwen_image, controlnet, controlnet_conditioning_scale=0.25)
    assert not np.array_equal(pixels(first), pixels(weaker.edit(doodle_job(sketch(), is_sketch=True))))


def test_controlnet_is_loaded_once_and_shares_the_qwen_image_modules(qwen_image, controlnet, tmp_path):
    from imagescope.engines.diffusers.engine import shared_pipeline

    text = DiffusersTextToImageEngine("qwen-image", options(qwen_image, controlnet=controlnet))
    doodle, again = controlnet_engine(qwen_image, controlnet), controlnet_engine(qwen_image, controlnet)
    copy = shutil.copytree(controlnet, tmp_path / "another-controlnet")
    other = controlnet_engine(qwen_image, copy)
    (text_pipe, lock), (pipe, doodle_lock) = (shared_pipeline(e.name, e.options) for e in (text, doodle))
    assert type(text_pipe).__name__ == "QwenImagePipeline"  # the option is the ControlNet pipelines' only
    assert pipe is shared_pipeline(again.name, again.options)[0]
    assert pipe.transformer is text_pipe.transformer and doodle_lock is lock
    other_pipe = shared_pipeline(other.name, other.options)[0]
    assert other_pipe is not pipe and other_pipe.controlnet is not pipe.controlnet
    assert other_pipe.transformer is text_pipe.transformer


def test_controlnet_progress_and_cancel(qwen_image, controlnet):
    engine = controlnet_engine(qwen_image, controlnet, steps=3)
    seen: list[tuple[int, int]] = []
    engine.edit(doodle_job(sketch()), progress=lambda *step: seen.append(step))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    seen.clear()
    with pytest.raises(Canceled, match="after step 1 of 3"):
        engine.edit(doodle_job(sketch()), progress=lambda *step: seen.append(step), should_stop=lambda: bool(seen))
    assert seen == [(1, 3)]


def test_controlnet_takes_one_image_and_no_mask_or_strength(qwen_image, controlnet):
    engine = controlnet_engine(qwen_image, controlnet)
    with pytest.raises(JobRefused, match="takes 1 input image, not 2"):
        engine.edit(replace(doodle_job(sketch()), images=(sketch(), sketch())))
    with pytest.raises(JobRefused, match="takes no mask"):
        engine.edit(replace(doodle_job(sketch()), mask=box_mask()))
    with pytest.raises(JobRefused, match="takes no strength"):
        engine.edit(replace(doodle_job(sketch()), function=None, options=Strength(0.5)))


def test_a_missing_or_incomplete_controlnet_directory_is_a_config_error_naming_it(qwen_image, controlnet, tmp_path):
    missing = tmp_path / "nowhere" / "Qwen-Image-ControlNet"
    with pytest.raises(EngineConfigError) as raised:
        controlnet_engine(qwen_image, missing).load()
    assert str(raised.value) == f"doodle controlnet not found: {missing} (expected config.json)"
    partial = shutil.copytree(controlnet, tmp_path / "partial")
    for weights in partial.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(EngineConfigError, match=f"doodle controlnet incomplete: {partial} has no weights"):
        controlnet_engine(qwen_image, partial).edit(doodle_job(sketch()))
    with pytest.raises(EngineConfigError, match="needs controlnet, which .* lacks"):
        controlnet_engine(qwen_image, None).load()
    with pytest.raises(EngineConfigError, match="controlnet_conditioning_scale must be greater than 0"):
        options(qwen_image, controlnet_conditioning_scale=0)
