"""RRDBNet, the Real-ESRGAN x4 generator, and loading it from ncnn files.

The layout is the one the shipped ``.param`` graphs spell out (module names follow BasicSR,
so its ``.pth`` state dicts fit too)::

    feat = conv_first(x)                                    Conv_0
    body = conv_body(RRDB × num_block (feat))               23 (photo) or 6 (anime) RRDBs
    feat = feat + body                                      BinaryOp add
    feat = lrelu(conv_up1(nearest×2 (feat)))                Interp 0=1 (nearest), 2.0
    feat = lrelu(conv_up2(nearest×2 (feat)))
    out  = conv_last(lrelu(conv_hr(feat)))                  3 channels, no activation

    RRDB(x)  = x + 0.2 · RDB3(RDB2(RDB1(x)))                Eltwise sum, coeffs 0.2, 1.0
    RDB(x)   = x + 0.2 · conv5(cat(x, x1, x2, x3, x4))      dense block, growth 32
               with x_k = lrelu(conv_k(cat(x, x1 … x_{k-1})))

All convolutions are 3×3, stride 1, padding 1, with bias; lrelu is LeakyReLU(0.2), which the
graph fuses into the convolution (``9=2 -23310=1,0.2``). Input and output are RGB in [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import torch
from torch import nn
from torch.nn import functional as F

from imagescope.engines.realesrgan.ncnn import (
    Convolution,
    NcnnFormatError,
    NcnnGraph,
    ParamValue,
    read_bin,
    read_param,
)

LRELU_SLOPE = 0.2
RESIDUAL_SCALE = 0.2
_ACTIVATION_NONE, _ACTIVATION_LEAKY_RELU = 0, 2


def _conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE, inplace=True)


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = _conv(num_feat, num_grow_ch)
        self.conv2 = _conv(num_feat + num_grow_ch, num_grow_ch)
        self.conv3 = _conv(num_feat + 2 * num_grow_ch, num_grow_ch)
        self.conv4 = _conv(num_feat + 3 * num_grow_ch, num_grow_ch)
        self.conv5 = _conv(num_feat + 4 * num_grow_ch, num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = _lrelu(self.conv1(x))
        x2 = _lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = _lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = _lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5: torch.Tensor = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5.mul_(RESIDUAL_SCALE).add_(x)


class RRDB(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.rdb3(self.rdb2(self.rdb1(x)))
        return out.mul_(RESIDUAL_SCALE).add_(x)


class RRDBNet(nn.Module):
    scale = 4

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32
    ):
        super().__init__()
        self.num_block = num_block
        self.conv_first = _conv(num_in_ch, num_feat)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = _conv(num_feat, num_feat)
        self.conv_up1 = _conv(num_feat, num_feat)
        self.conv_up2 = _conv(num_feat, num_feat)
        self.conv_hr = _conv(num_feat, num_feat)
        self.conv_last = _conv(num_feat, num_out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out: torch.Tensor = self.conv_last(_lrelu(self.conv_hr(feat)))
        return out

    def convolutions(self) -> list[tuple[str, nn.Conv2d, bool]]:
        """(name, conv, followed by LeakyReLU) in the order forward() runs them, which is the
        order an ncnn export lists them."""
        return [
            (name, module, not name.endswith(("conv5", "conv_first", "conv_body", "conv_last")))
            for name, module in self.named_modules()
            if isinstance(module, nn.Conv2d)
        ]


def _check_convolution(conv: Convolution, name: str, module: nn.Conv2d, leaky: bool) -> None:
    where = f"layer {conv.name} (RRDBNet {name})"
    expected = {
        "weight shape": (tuple(module.weight.shape), conv.weight_shape),
        "bias": (True, conv.bias),
        "stride": ((1, 1), conv.stride),
        "dilation": ((1, 1), conv.dilation),
        "padding": ((1, 1, 1, 1), conv.pad),
    }
    for what, (want, got) in expected.items():
        if want != got:
            raise NcnnFormatError(f"{where}: {what} is {got} in the .param, RRDBNet needs {want}")
    want = (_ACTIVATION_LEAKY_RELU, (LRELU_SLOPE,)) if leaky else (_ACTIVATION_NONE, ())
    got = (conv.activation, conv.activation_params if conv.activation else ())
    if got[0] != want[0] or not _close(got[1], want[1]):
        raise NcnnFormatError(
            f"{where}: activation {got} in the .param, RRDBNet needs {want} (type 2 = LeakyReLU with its slope)"
        )


def _close(a: ParamValue, b: tuple[float, ...]) -> bool:
    a = a if isinstance(a, tuple) else (a,)
    return len(a) == len(b) and all(abs(x - y) <= 1e-6 for x, y in zip(a, b, strict=True))


def _check_glue(graph: NcnnGraph, num_block: int) -> None:
    """The non-convolution layers: residual sums, upsampling and the long skip."""

    def fail(message: str) -> NoReturn:
        raise NcnnFormatError(f"graph does not match RRDBNet(num_block={num_block}): {message}")

    counts = {"Eltwise": 4 * num_block, "Concat": 12 * num_block, "Interp": 2, "BinaryOp": 1}
    for type_, want in counts.items():
        if (got := len(graph.of_type(type_))) != want:
            fail(f"{got} {type_} layers, expected {want}")
    for layer in graph.of_type("Eltwise"):
        if layer.param(0) != 1 or not _close(layer.param(1, ()), (RESIDUAL_SCALE, 1.0)):
            fail(f"layer {layer.name} is not the residual sum 0.2*block + input ({layer.params})")
    for layer in graph.of_type("Interp"):
        if layer.param(0) != 1 or layer.param(1) != 2.0 or layer.param(2) != 2.0:
            fail(f"layer {layer.name} is not a nearest-neighbour ×2 upsampling ({layer.params})")
    for layer in graph.of_type("Concat"):
        if layer.param(0, 0) != 0:
            fail(f"layer {layer.name} concatenates along axis {layer.param(0)}, not channels")
    if graph.of_type("BinaryOp")[0].param(0, 0) != 0:
        fail(f"layer {graph.of_type('BinaryOp')[0].name} is not an addition")
    known = {"Input", "Split", "Convolution", *counts}
    if unknown := sorted({layer.type for layer in graph.layers} - known):
        fail(f"unexpected layer types {unknown}")


def load_rrdbnet(param_path: Path, bin_path: Path, num_block: int) -> RRDBNet:
    """An RRDBNet in eval mode holding the weights of an ncnn export, after checking every
    layer of the export against the module: same convolutions in the same order, with the
    same shapes, padding and activations, and the same residual and upsampling glue."""
    graph = read_param(param_path)
    weights = read_bin(bin_path, graph)
    model = RRDBNet(num_block=num_block)
    convs = [Convolution.of(layer) for layer in graph.of_type("Convolution")]
    expected = model.convolutions()
    if len(convs) != len(expected):
        raise NcnnFormatError(
            f"{param_path}: {len(convs)} Convolution layers, RRDBNet(num_block={num_block}) has {len(expected)}"
        )
    _check_glue(graph, num_block)
    with torch.no_grad():
        for conv, (name, module, leaky) in zip(convs, expected, strict=True):
            _check_convolution(conv, name, module, leaky)
            module.weight.copy_(torch.from_numpy(weights[conv.name].weight))
            bias = weights[conv.name].bias
            # _conv makes every convolution with a bias, and _check_convolution checked the layer has one.
            assert module.bias is not None and bias is not None, conv.name
            module.bias.copy_(torch.from_numpy(bias))
    return model.eval().requires_grad_(False)
