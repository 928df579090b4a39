"""The preview video engine: a real H.264 MP4 of exactly the asked size, frame rate and length,
decoded back with PyAV; i2v starting on its input frame and kf2v ending on its last; moving,
deterministic, labelled, cancelable between frames, and cheap."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from imagescope.engines import Canceled
from imagescope.engines.video import ImageToVideoEngine, PreviewVideoEngine, TextToVideoEngine, VideoJob


def job(**kw) -> VideoJob:
    base = dict(
        model="wan2.1-t2v-turbo",
        prompt="一只橘猫 an orange cat running on the beach",
        negative_prompt="",
        width=160,
        height=96,
        fps=30,
        duration_s=1,
        seed=7,
    )
    return VideoJob(**{**base, **kw})


@dataclass
class Decoded:
    codec: str
    pix_fmt: str
    width: int
    height: int
    average_rate: Fraction
    profile: str
    colors: tuple[int, int, int, int]  # colorspace, primaries, transfer, range
    duration_s: float
    frames: list[np.ndarray]  # RGB


def decode(mp4: bytes) -> Decoded:
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert stream.duration is not None and stream.time_base is not None
        return Decoded(
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            average_rate=stream.average_rate,
            profile=stream.codec_context.profile,
            colors=(
                stream.codec_context.colorspace,
                stream.codec_context.color_primaries,
                stream.codec_context.color_trc,
                stream.codec_context.color_range,
            ),
            duration_s=float(stream.duration * stream.time_base),
            frames=frames,
        )


def picture(width: int, height: int, hue: int) -> Image.Image:
    """A smooth test picture (gradient and shapes) that an encoder keeps close to the original."""
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    base = np.array([hue, 255 - hue, 128], dtype=np.float64)
    rgb = np.clip(base * (0.4 + 0.6 * x) + 80 * y, 0, 255).astype(np.uint8)
    image = Image.fromarray(np.broadcast_to(rgb, (height, width, 3)).copy(), "RGB")
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width // 2, 3 * height // 4), fill=(hue, 40, 255 - hue))
    return image


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255**2 / max(mse, 1e-9))


def worst_block(a: np.ndarray, b: np.ndarray, n: int = 8) -> float:
    """The largest mean abs diff of any n×n block: a small blot the whole-frame figures would miss."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
    h, w = diff.shape[0] // n * n, diff.shape[1] // n * n
    return float(diff[:h, :w].reshape(h // n, n, w // n, n).mean(axis=(1, 3)).max())


def assert_shows(frame: np.ndarray, expected: np.ndarray) -> None:
    """Between the caption bands, ``frame`` is ``expected`` but for H.264's losses (about 39 dB
    here; an orb drawn over it costs 15 dB and blots a block by 40 levels or more)."""
    assert psnr(middle(frame), middle(expected)) > 33
    assert worst_block(middle(frame), middle(expected)) < 15


def middle(frame: np.ndarray) -> np.ndarray:
    """The rows between the caption bands of a compact (i2v/kf2v) caption at 256*160."""
    return frame[26:118]


@pytest.mark.parametrize(
    ("width", "height", "fps", "duration_s", "frames"),
    [
        (160, 96, 30, 1, 30),
        (162, 98, 24, 2, 48),
        (96, 160, 16, 1.5, 24),
        (128, 72, 24, 0.3, 7),
        (16, 240, 30, 0.5, 15),
        (2, 2, 30, 0.1, 3),
    ],
)
def test_the_mp4_is_h264_yuv420p_of_the_exact_size_rate_frame_count_and_duration(
    width, height, fps, duration_s, frames
):
    clip = decode(PreviewVideoEngine().make(job(width=width, height=height, fps=fps, duration_s=duration_s)))
    assert (clip.codec, clip.pix_fmt) == ("h264", "yuv420p")
    assert (clip.width, clip.height) == (width, height)
    assert all(frame.shape == (height, width, 3) for frame in clip.frames)
    assert len(clip.frames) == frames
    assert clip.average_rate == fps
    assert clip.duration_s == pytest.approx(frames / fps)


def test_the_mp4_is_what_browsers_play_moov_first_a_baseline_profile_and_tagged_bt601_colours():
    mp4 = PreviewVideoEngine().make(job())
    assert mp4[4:8] == b"ftyp"
    assert 0 < mp4.find(b"moov") < mp4.find(b"mdat")  # faststart: playable while downloading
    clip = decode(mp4)
    assert clip.profile in {"Constrained Baseline", "Baseline", "Main", "High"}  # no 4:4:4 or 10-bit profiles
    assert clip.colors == (6, 6, 6, 1)  # SMPTE 170M (BT.601) in limited range: what the planes hold


def test_the_engine_is_a_text_to_video_and_an_image_to_video_engine_with_last_frames():
    engine = PreviewVideoEngine()
    assert isinstance(engine, TextToVideoEngine) and isinstance(engine, ImageToVideoEngine)
    assert engine.takes_last_frame


def test_text_to_video_moves_from_frame_to_frame():
    frames = decode(PreviewVideoEngine().make(job(width=256, height=160))).frames
    steps = [mean_abs_diff(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    assert min(steps) > 0  # every frame differs from the one before
    assert mean_abs_diff(frames[0], frames[-1]) > 5  # and a second later the picture has moved


def test_image_to_video_starts_on_the_input_frame_fitted_to_the_size():
    first = picture(400, 300, hue=220)  # 4:3, fitted (resized, centre-cropped) to 16:10
    frames = decode(PreviewVideoEngine().make(job(width=256, height=160, first_frame=first))).frames
    expected = np.asarray(ImageOps.fit(first, (256, 160), Image.Resampling.LANCZOS))
    assert_shows(frames[0], expected)
    assert mean_abs_diff(middle(frames[-1]), middle(expected)) > 4  # it moved away from it


def test_first_and_last_frame_video_starts_on_the_first_and_ends_on_the_last():
    first, last = picture(256, 160, hue=230), picture(320, 200, hue=20)
    mp4 = PreviewVideoEngine().make(job(width=256, height=160, first_frame=first, last_frame=last))
    frames = decode(mp4).frames
    fitted_first = np.asarray(ImageOps.fit(first, (256, 160), Image.Resampling.LANCZOS))
    fitted_last = np.asarray(ImageOps.fit(last, (256, 160), Image.Resampling.LANCZOS))
    assert_shows(frames[0], fitted_first)
    assert_shows(frames[-1], fitted_last)
    assert mean_abs_diff(middle(frames[0]), middle(fitted_last)) > 30  # the two inputs are far apart
    halfway = frames[len(frames) // 2]
    assert mean_abs_diff(middle(halfway), middle(fitted_first)) > 10  # on the way, neither
    assert mean_abs_diff(middle(halfway), middle(fitted_last)) > 10


def test_same_job_same_frames_and_bytes_other_seed_or_prompt_other_frames():
    engine = PreviewVideoEngine()
    mp4 = engine.make(job())
    assert engine.make(job()) == mp4
    frames = decode(mp4).frames
    for other in (job(seed=8), job(prompt="a red fox in the snow")):
        assert mean_abs_diff(decode(engine.make(other)).frames[10], frames[10]) > 5


def test_every_frame_carries_the_preview_label_in_a_dark_band_with_yellow_text():
    frames = decode(PreviewVideoEngine().make(job(width=320, height=192, duration_s=0.2))).frames
    for frame in frames:
        band = frame[:20].astype(np.int16)
        yellow = (band[..., 0] > 180) & (band[..., 1] > 150) & (band[..., 2] < 110)
        assert yellow.sum() > 100  # the label's letters
        assert np.median(band.sum(axis=2)) < 150  # on a dark band


def test_progress_is_called_once_per_frame_in_order():
    calls: list[tuple[int, int]] = []
    PreviewVideoEngine().make(job(fps=16, duration_s=0.5), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 8) for i in range(1, 9)]


def test_should_stop_cancels_between_frames():
    calls: list[int] = []
    with pytest.raises(Canceled):
        PreviewVideoEngine().make(
            job(), progress=lambda done, total: calls.append(done), should_stop=lambda: len(calls) >= 3
        )
    assert calls == [1, 2, 3]


@pytest.mark.parametrize(("width", "height", "message"), [(161, 96, "width"), (160, 95, "height")])
def test_odd_sides_are_refused_with_a_value_error_naming_the_side(width, height, message):
    odd = width if message == "width" else height
    with pytest.raises(ValueError, match=f"^{message} must be a positive even number of pixels, got {odd}$"):
        job(width=width, height=height)


def test_a_clip_without_frames_or_a_last_frame_without_a_first_is_refused():
    with pytest.raises(ValueError, match="makes no frame"):
        job(fps=30, duration_s=0.01)
    with pytest.raises(ValueError, match="last_frame needs first_frame"):
        job(last_frame=picture(64, 64, hue=0))


def test_a_5_s_832x480_preview_costs_well_under_a_second_of_cpu_per_second_of_video():
    started = time.process_time()  # all the process's threads: the encoder's too
    mp4 = PreviewVideoEngine().make(job(width=832, height=480, fps=30, duration_s=5))
    cpu = time.process_time() - started
    assert len(decode(mp4).frames) == 150
    assert cpu / 5 < 0.5, f"{cpu / 5:.2f} CPU s per second of video"
