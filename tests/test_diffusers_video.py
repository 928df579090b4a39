"""The diffusers video engines on tiny random-weight Wan pipelines (tiny_wan.py), saved like real
weights and loaded through the engines' own loading code (and the models file's binding).

Clips of random weights are noise; what is tested is what the engines do around the model: the
frame mapping (frames.py), the MP4 decoded back with PyAV (size, rate, frame count, codec),
progress and cancellation between steps, seeds, which inputs reach the pipeline, refusals,
and which model each Wan pipeline may serve.
"""

from __future__ import annotations

import dataclasses
import textwrap
from fractions import Fraction

import numpy as np
import pytest
import requests

pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

import tiny_wan  # noqa: E402
from imagescope.engines import Canceled, JobRefused
from imagescope.engines.diffusers.frames import clip_to_model, model_frame_count, positions, resampled
from imagescope.engines.diffusers.options import DiffusersOptions
from imagescope.engines.diffusers.vace import grow
from imagescope.engines.diffusers.video import WanImageToVideoEngine, WanTextToVideoEngine, WanVideoEditEngine
from imagescope.engines.video import ImageToVideoEngine, TextToVideoEngine, VideoEditEngine, VideoJob
from imagescope.models.catalog import Catalog
from imagescope.models.models_file import ModelsFileError, load_bindings
from imagescope.tasks.spec import VaceFunction, VaceOptions
from test_video_preview import decode

RED, BLUE = Image.new("RGB", (90, 60), (200, 30, 30)), Image.new("RGB", (90, 60), (30, 30, 200))
BLACK, WHITE = Image.new("L", (90, 60), 0), Image.new("L", (90, 60), 255)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    return {
        "t2v": tiny_wan.build_wan_t2v(root / "Wan2.1-T2V"),
        "i2v": tiny_wan.build_wan_i2v(root / "Wan2.1-I2V"),
        "flf2v": tiny_wan.build_wan_i2v(root / "Wan2.1-FLF2V", "flf2v"),
        "wan2.2": tiny_wan.build_wan_i2v(root / "Wan2.2-I2V", "wan2.2"),
        "ti2v": tiny_wan.build_wan_i2v(root / "Wan2.2-TI2V", "ti2v"),
        "vace": tiny_wan.build_wan_vace(root / "Wan2.1-VACE"),
    }


def options(path, pipeline: str, **overrides) -> DiffusersOptions:
    return DiffusersOptions(path, pipeline, **{"dtype": "fp32", "device": "cpu", "steps": 2, **overrides})


def job(**changes) -> VideoJob:
    # 76*46 is no multiple of 16: drawn at 80*48 and cropped. 0.5 s at 10 fps: 5 frames, from 9 at 16 fps.
    base = VideoJob("wan2.1-t2v-turbo", "a red cat on a blue sofa", "", 76, 46, 10, 0.5, 3)
    return dataclasses.replace(base, **changes)


def pixels(mp4: bytes) -> np.ndarray:
    return np.stack(decode(mp4).frames).astype(np.int16)


# --- frames.py: from the model's frames to the job's ----------------------------------------------


@pytest.mark.parametrize(
    ("duration", "fps", "frames"),
    [(5, 16, 81), (10, 16, 161), (5, 24, 121), (0.5, 16, 9), (3, 16, 49), (0.3, 16, 9), (0.01, 16, 5)],
)
def test_the_model_is_asked_for_the_fewest_4k_plus_1_frames_covering_the_duration(duration, fps, frames):
    assert model_frame_count(duration, fps) == frames


def test_output_frames_are_spread_evenly_over_the_model_frames_both_ends_exact():
    assert positions(5, 9) == [0.0, 2.0, 4.0, 6.0, 8.0]
    spread = positions(150, 81)  # 5 s at 30 fps from 81 frames at 16 fps
    assert spread[0] == 0 and spread[-1] == 80 and len(spread) == 150
    assert all(b - a == pytest.approx(80 / 149) for a, b in zip(spread, spread[1:], strict=False))
    assert positions(1, 9) == [0.0] and positions(3, 1) == [0.0, 0.0, 0.0]


def test_a_resampled_frame_is_the_linear_blend_of_the_two_model_frames_around_it():
    model = np.stack([np.full((2, 4, 3), v, dtype=np.float32) for v in (0.0, 0.4, 0.8)])
    out = list(resampled(model, 5))  # positions 0, 0.5, 1, 1.5, 2
    assert [int(frame[0, 0, 0]) for frame in out] == [0, 51, 102, 153, 204]
    assert all(frame.dtype == np.uint8 and frame.shape == (2, 4, 3) for frame in out)


def test_an_input_clip_gives_each_model_frame_its_frame_at_the_same_time():
    clip = list(range(10))  # 10 frames at 30 fps: a third of a second
    assert clip_to_model(clip, 30, 16, 9) == [0, 2, 4, 6, 8, 9, 9, 9, 9]  # then its last, once it has ended


def test_a_video_edit_mask_grows_by_expand_ratio_in_its_expand_mode():
    mask = np.zeros((20, 20), dtype=bool)
    mask[8:12, 8:10] = True  # 4 rows, 2 columns: extent 4
    assert np.array_equal(grow(mask, 0.5, "original"), mask)
    box = grow(mask, 0.5, "bbox")  # the box, 2 pixels more on each side
    assert box.sum() == 8 * 6 and box[6:14, 6:12].all()
    hull = grow(mask, 0.25, "hull")  # the mask, dilated by a 1-pixel square
    assert hull.sum() == 6 * 4 and hull[7:13, 7:11].all()
    assert not grow(np.zeros((4, 4), dtype=bool), 0.5, "bbox").any()


# --- the engines -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fps", "duration", "frames"), [(10, 0.5, 5), (24, 1, 24)])
def test_text_to_video_makes_an_h264_mp4_of_the_exact_size_rate_and_frame_count(weights, fps, duration, frames):
    engine = WanTextToVideoEngine("t2v", options(weights["t2v"], "WanPipeline"))
    assert isinstance(engine, TextToVideoEngine) and not isinstance(engine, ImageToVideoEngine)
    clip = decode(engine.make(job(fps=fps, duration_s=duration)))
    assert (clip.codec, clip.pix_fmt, clip.width, clip.height) == ("h264", "yuv420p", 76, 46)
    assert clip.average_rate == Fraction(fps) and len(clip.frames) == frames
    assert clip.duration_s == pytest.approx(frames / fps)


def test_progress_follows_the_denoising_steps_and_should_stop_cancels_between_them(weights):
    engine = WanTextToVideoEngine("t2v-3", options(weights["t2v"], "WanPipeline", steps=3))
    seen: list[tuple[int, int]] = []
    engine.make(job(), progress=lambda step, total: seen.append((step, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]

    seen.clear()
    with pytest.raises(Canceled):  # asked after each step: the first one stops it
        engine.make(job(), progress=lambda step, total: seen.append((step, total)), should_stop=lambda: bool(seen))
    assert seen == [(1, 3)]
    with pytest.raises(Canceled):
        engine.make(job(), progress=lambda step, total: seen.append((step, total)), should_stop=lambda: True)
    assert seen == [(1, 3)]  # stopped before the first step


def test_the_same_seed_makes_the_same_clip_and_another_seed_another(weights):
    engine = WanTextToVideoEngine("t2v", options(weights["t2v"], "WanPipeline"))
    first = pixels(engine.make(job(seed=11)))
    assert np.array_equal(first, pixels(engine.make(job(seed=11))))
    assert not np.array_equal(first, pixels(engine.make(job(seed=12))))


def test_image_to_video_draws_from_its_first_frame_and_kf2v_from_its_last_too(weights):
    engine = WanImageToVideoEngine("wan2.2", options(weights["wan2.2"], "WanImageToVideoPipeline"))
    assert isinstance(engine, ImageToVideoEngine) and engine.takes_last_frame and not engine.needs_last_frame
    red = pixels(engine.make(job(first_frame=RED)))
    assert red.shape == (5, 46, 76, 3)
    assert not np.array_equal(red, pixels(engine.make(job(first_frame=BLUE))))  # the first frame reaches the model
    assert not np.array_equal(red, pixels(engine.make(job(first_frame=RED, last_frame=RED))))  # so does a last
    with pytest.raises(JobRefused, match="first frame"):
        engine.make(job())
    # FLF2V embeds both frames (CLIP): which last frame it is shows even in tiny random weights.
    flf2v = WanImageToVideoEngine("flf2v", options(weights["flf2v"], "WanImageToVideoPipeline"))
    ending_red = pixels(flf2v.make(job(first_frame=RED, last_frame=RED)))
    assert not np.array_equal(ending_red, pixels(flf2v.make(job(first_frame=RED, last_frame=BLUE))))


@pytest.mark.parametrize(
    ("kind", "use"), [("i2v", "never"), ("flf2v", "required"), ("wan2.2", "optional"), ("ti2v", "never")]
)
def test_a_last_frame_is_taken_only_by_weights_trained_to_end_on_one(weights, kind, use):
    engine = WanImageToVideoEngine(kind, options(weights[kind], "WanImageToVideoPipeline"))
    assert engine.takes_last_frame is (use != "never") and engine.needs_last_frame is (use == "required")
    if use == "never":
        with pytest.raises(JobRefused, match="cannot end a video on a given last frame"):
            engine.make(job(first_frame=RED, last_frame=BLUE))
    elif use == "required":  # FLF2V: first-and-last-frame only
        assert decode(engine.make(job(first_frame=RED, last_frame=BLUE))).width == 76
        with pytest.raises(JobRefused, match="needs a last frame"):
            engine.make(job(first_frame=RED))


def test_ti2v_weights_run_at_their_native_24_fps_into_the_jobs_frames(weights):
    engine = WanImageToVideoEngine("ti2v", options(weights["ti2v"], "WanImageToVideoPipeline"))
    clip = decode(engine.make(job(first_frame=RED, fps=30, duration_s=0.2)))  # 24 fps * 0.2 s: 5 model frames
    assert len(clip.frames) == 6 and clip.average_rate == 30 and (clip.width, clip.height) == (76, 46)


def vace_job(function: VaceFunction, **inputs) -> VideoJob:
    return job(model="wan2.1-vace-plus", function=function, **inputs)


@pytest.mark.parametrize(
    ("function", "inputs"),
    [
        (VaceFunction.IMAGE_REFERENCE, {"reference_images": (RED, BLUE)}),
        (VaceFunction.VIDEO_EDIT, {"video": (RED, BLUE) * 3, "mask": (WHITE,) * 6}),
        (VaceFunction.VIDEO_EXTENSION, {"video": (RED, BLUE)}),
        (VaceFunction.VIDEO_EXTENSION, {"first_frame": RED, "last_frame": BLUE}),
        (
            VaceFunction.VIDEO_OUTPAINTING,
            {"video": (RED,) * 4, "vace": VaceOptions(left_scale=1.5, right_scale=1.5, top_scale=2)},
        ),
    ],
)
def test_every_vace_function_it_runs_makes_the_exact_clip(weights, function, inputs):
    engine = WanVideoEditEngine("vace", options(weights["vace"], "WanVACEPipeline"))
    clip = decode(engine.edit_video(vace_job(function, **inputs)))
    assert (clip.width, clip.height, len(clip.frames), clip.average_rate) == (76, 46, 5, 10)


def test_vace_reference_images_and_the_mask_reach_the_pipeline(weights):
    engine = WanVideoEditEngine("vace", options(weights["vace"], "WanVACEPipeline"))
    assert isinstance(engine, VideoEditEngine)
    one = pixels(engine.edit_video(vace_job(VaceFunction.IMAGE_REFERENCE, reference_images=(RED,))))
    two = pixels(engine.edit_video(vace_job(VaceFunction.IMAGE_REFERENCE, reference_images=(RED, BLUE))))
    assert not np.array_equal(one, two)
    keep = pixels(engine.edit_video(vace_job(VaceFunction.VIDEO_EDIT, video=(RED,) * 5, mask=(BLACK,))))
    redraw = pixels(engine.edit_video(vace_job(VaceFunction.VIDEO_EDIT, video=(RED,) * 5, mask=(WHITE,))))
    assert not np.array_equal(keep, redraw)


def test_video_repainting_and_jobs_without_their_inputs_are_refused_with_a_message(weights):
    engine = WanVideoEditEngine("vace", options(weights["vace"], "WanVACEPipeline"))
    assert VaceFunction.VIDEO_REPAINTING not in engine.functions and len(engine.functions) == 4
    refusals = [
        (vace_job(VaceFunction.VIDEO_REPAINTING, video=(RED,)), "annotator"),
        (vace_job(VaceFunction.VIDEO_EDIT, video=(RED,)), "needs a mask"),
        (vace_job(VaceFunction.VIDEO_EDIT, mask=(WHITE,)), "needs an input video"),
        (vace_job(VaceFunction.IMAGE_REFERENCE), "reference images"),
        (vace_job(VaceFunction.VIDEO_EXTENSION), "first clip, a first frame or a last frame"),
        (vace_job(VaceFunction.VIDEO_OUTPAINTING, video=(RED,), vace=VaceOptions(top_scale=5)), "between 1 and 4"),
    ]
    for refused, message in refusals:
        with pytest.raises(JobRefused, match=message):
            engine.edit_video(refused)


@pytest.mark.parametrize("fast", [{"cache": "first_block"}, {"cache": "taylorseer"}, {"quantize": "fp8"}])
def test_the_step_caches_and_fp8_apply_to_wan_video_engines_and_keep_the_clip_exact(tmp_path, fast):
    # Wan's repeated blocks are ``blocks`` (Qwen-Image's ``transformer_blocks``): first_block needs 2.
    wan = tiny_wan.build_wan_t2v(tmp_path / "Wan2.1-T2V", layers=2)
    engine = WanTextToVideoEngine(f"wan-{next(iter(fast.values()))}", options(wan, "WanPipeline", **fast))
    first, again = engine.make(job()), engine.make(job())
    clip = decode(first)
    assert (clip.width, clip.height, len(clip.frames)) == (76, 46, 5)
    assert np.array_equal(pixels(first), pixels(again))


def test_the_watermark_is_drawn_in_the_bottom_right_corner_only(weights):
    engine = WanTextToVideoEngine("t2v", options(weights["t2v"], "WanPipeline"))
    plain = pixels(engine.make(job(width=160, height=96)))
    marked = pixels(engine.make(job(width=160, height=96, watermark="AI-generated")))
    changed = np.argwhere(np.abs(plain - marked).max(axis=(0, 3)) > 40)  # beyond the encoder's noise
    assert len(changed) and changed[:, 0].min() > 96 // 2 and changed[:, 1].min() > 160 // 3


# --- the models file -----------------------------------------------------------------------------


def models_file(tmp_path, text: str):
    path = tmp_path / "models.toml"
    path.write_text(textwrap.dedent(text))
    return path


def engine_table(name: str, path, pipeline: str, extra: str = "") -> str:
    settings = 'dtype = "fp32"\ndevice = "cpu"\nsteps = 2\n'
    return f'[engines.{name}]\nkind = "diffusers"\nweights = "{path}"\npipeline = "{pipeline}"\n{settings}{extra}'


def test_the_models_file_binds_each_wan_pipeline_to_the_video_models_of_its_mode(weights, tmp_path):
    path = models_file(
        tmp_path,
        engine_table("wan-t2v", weights["t2v"], "WanPipeline", "fps = 8\n")
        + engine_table("wan-flf2v", weights["flf2v"], "WanImageToVideoPipeline")
        + engine_table("wan-vace", weights["vace"], "WanVACEPipeline", "controlnet_conditioning_scale = 0.5\n")
        + "[models]\n"
        + '"wan2.1-t2v-turbo" = "wan-t2v"\n"wanx2.1-t2v-turbo" = "wan-t2v"\n"wan2.2-t2i-flash" = "wan-t2v"\n'
        + '"wan2.1-kf2v-plus" = "wan-flf2v"\n"wan2.2-kf2v-flash" = "wan-flf2v"\n"wan2.1-vace-plus" = "wan-vace"\n',
    )
    bindings = load_bindings(path, Catalog())
    engines = {model: bindings.engines[bindings.catalog.models[model].engine] for model in bindings.catalog.models}
    t2v, flf2v, vace = engines["wan2.1-t2v-turbo"], engines["wan2.1-kf2v-plus"], engines["wan2.1-vace-plus"]
    assert isinstance(t2v, WanTextToVideoEngine) and engines["wanx2.1-t2v-turbo"] is t2v
    assert isinstance(flf2v, WanImageToVideoEngine) and engines["wan2.2-kf2v-flash"] is flf2v
    assert isinstance(vace, WanVideoEditEngine) and vace.options.controlnet_conditioning_scale == 0.5
    assert type(engines["wan2.2-t2i-flash"]).__name__ == "DiffusersTextToImageEngine"  # one frame a picture
    assert engines["wan2.5-t2v-preview"] is bindings.engines["preview"]  # what the file leaves out stays
    listing = {entry["model"]: entry for entry in bindings.describe()}
    assert (
        listing["wan2.1-t2v-turbo"]["engine"] == "wan-t2v" and listing["wan2.1-t2v-turbo"]["pipeline"] == "WanPipeline"
    )
    # At its native 8 fps the model makes 5 frames for 0.5 s; the MP4 has the job's 5 at 10 fps all the same.
    clip = decode(t2v.make(job()))
    assert (len(clip.frames), clip.average_rate, clip.width, clip.height) == (5, 10, 76, 46)


@pytest.mark.parametrize(
    ("engine", "model", "message"),
    [
        (
            ("t2v", "WanPipeline", ""),
            "wan2.1-i2v-turbo",
            "models.\"wan2.1-i2v-turbo\": engine 'e' runs WanPipeline, which makes text-to-video, but "
            "wan2.1-i2v-turbo makes image-to-video: set its pipeline to WanImageToVideoPipeline",
        ),
        (
            ("flf2v", "WanImageToVideoPipeline", ""),
            "wan2.2-t2i-flash",
            "models.\"wan2.2-t2i-flash\": engine 'e' runs WanImageToVideoPipeline, a video pipeline, but "
            "wan2.2-t2i-flash is an image model",
        ),
        (
            ("vace", "WanVACEPipeline", ""),
            "wan2.1-t2v-turbo",
            "set its pipeline to WanPipeline",
        ),
        (
            ("i2v", "WanImageToVideoPipeline", ""),
            "wan2.1-kf2v-plus",
            "models.\"wan2.1-kf2v-plus\": engine 'e' runs WanImageToVideoPipeline on weights that cannot end a "
            "video on a given frame",
        ),
        (("t2v", "WanPipeline", "true_cfg_scale = 4.0\n"), "wan2.1-t2v-turbo", "engines.e.true_cfg_scale: is not"),
        (
            ("flf2v", "WanImageToVideoPipeline", ""),
            "wan2.1-i2v-turbo",
            "make first-and-last-frame video only (FLF2V), but wan2.1-i2v-turbo makes image-to-video from one frame",
        ),
        (("t2v", "WanPipeline", "fps = 0\n"), "wan2.1-t2v-turbo", "engines.e.fps: must be at least 1, not 0"),
    ],
)
def test_a_pipeline_bound_to_a_model_it_cannot_serve_is_refused_naming_the_key(
    weights, tmp_path, engine, model, message
):
    kind, pipeline, extra = engine
    path = models_file(tmp_path, engine_table("e", weights[kind], pipeline, extra) + f'[models]\n"{model}" = "e"\n')
    with pytest.raises(ModelsFileError) as refused:
        load_bindings(path, Catalog())
    assert message in str(refused.value) and str(path) in str(refused.value)


def test_an_image_pipeline_bound_to_a_video_model_is_refused(tmp_path):
    weights = tiny_wan.build_zimage(tmp_path / "Z-Image-Turbo")
    path = models_file(tmp_path, engine_table("z", weights, "ZImagePipeline") + '[models]\n"wan2.1-t2v-turbo" = "z"\n')
    with pytest.raises(
        ModelsFileError, match="runs ZImagePipeline, an image pipeline, but wan2.1-t2v-turbo makes text-to-video"
    ):
        load_bindings(path, Catalog())


# --- through the server ------------------------------------------------------------------------


def test_the_sdks_video_synthesis_runs_the_bound_wan_pipeline_into_the_hosted_rate_and_length(
    weights, tmp_path, monkeypatch
):
    import dashscope
    from dashscope import VideoSynthesis

    from test_diffusers_http import InProcessServer

    # At a native 1 fps the model makes 9 frames for 5 s (a tiny test's budget); the MP4 has 30 fps' 150.
    table = engine_table("wan-t2v", weights["t2v"], "WanPipeline", "fps = 1\n")
    server = InProcessServer(tmp_path / "data", table + '[models]\n"wan2.1-t2v-turbo" = "wan-t2v"\n')
    monkeypatch.setattr(dashscope, "base_http_api_url", server.api)  # the only change a user makes
    try:
        task = VideoSynthesis.async_call(
            api_key=server.key, model="wan2.1-t2v-turbo", prompt="an orange cat", size="832*480", seed=3
        )
        assert task.status_code == 200, task
        server.wait(task.output.task_id)  # polled every 0.1 s, not the SDK's widening 1-5 s
        rsp = VideoSynthesis.fetch(task, api_key=server.key)
        assert rsp.output.task_status == "SUCCEEDED" and rsp.usage.video_duration == 5
        clip = decode(requests.get(rsp.output.video_url, timeout=30).content)
        assert (clip.codec, clip.pix_fmt, clip.width, clip.height) == ("h264", "yuv420p", 832, 480)
        assert clip.average_rate == 30 and len(clip.frames) == 150
    finally:
        server.stop()
