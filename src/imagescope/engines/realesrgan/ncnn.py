"""Reader for ncnn models: the ``.param`` text graph and the ``.bin`` weight blob.

    graph = read_param(Path("model.param"))
    weights = read_bin(Path("model.bin"), graph)   # {layer name: ConvolutionWeights}

The ``.param`` file is a magic line ``7767517``, a ``layer_count blob_count`` line, then one
line per layer::

    Convolution  Conv_1  1 1  in_blob out_blob  0=32 1=3 4=1 5=1 6=18432 9=2 -23310=1,2.0e-01

(type, name, bottom count, top count, bottom blobs, top blobs, then ``key=value`` params;
a key ``-23300 - k`` holds param ``k`` as an array ``n,v1,…,vn``).

The ``.bin`` file holds the weights of the layers that have any, in layer order, with no
names or lengths: a reader must know from the ``.param`` how much each layer takes. For a
Convolution that is ``weight_data_size`` weights behind a 4-byte storage tag (0 = float32,
``0x01306B47`` = float16, padded to 4 bytes), then, with ``bias_term``, ``num_output``
float32 biases with no tag. Anything this reader cannot account for byte by byte, it refuses
with an :class:`NcnnFormatError` that names the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

MAGIC = 7767517
TAG_FLOAT32 = 0x00000000
TAG_FLOAT16 = 0x01306B47
_ARRAY_KEY_BASE = -23300

# Layers that carry no weights: the .bin holds nothing for them.
WEIGHTLESS_TYPES = frozenset({"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"})


# A param's value: a number (int unless written with '.' or an exponent) or an array of them.
ParamValue = int | float | tuple[int | float, ...]


class NcnnFormatError(ValueError):
    """A ``.param`` or ``.bin`` file that is malformed or does not match what is expected."""


@dataclass(frozen=True)
class NcnnLayer:
    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: dict[int, ParamValue] = field(default_factory=dict)

    @overload
    def param(self, key: int) -> ParamValue | None: ...
    @overload
    def param(self, key: int, default: ParamValue) -> ParamValue: ...
    def param(self, key: int, default: ParamValue | None = None) -> ParamValue | None:
        return self.params.get(key, default)

    def int_param(self, key: int, default: int) -> int:
        """A param that must be a whole number (a count, a size, a flag)."""
        value = self.params.get(key, default)
        if not isinstance(value, int):
            raise NcnnFormatError(f"layer {self.name}: param {key} is {value!r}, not an integer")
        return value


@dataclass(frozen=True)
class NcnnGraph:
    layers: tuple[NcnnLayer, ...]
    blob_count: int

    def of_type(self, type_: str) -> list[NcnnLayer]:
        return [layer for layer in self.layers if layer.type == type_]


@dataclass(frozen=True)
class Convolution:
    """A Convolution layer's hyper-parameters, from its ``.param`` line."""

    name: str
    num_output: int
    num_input: int
    kernel: tuple[int, int]  # (h, w)
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int, int, int]  # (left, right, top, bottom)
    bias: bool
    activation: int  # 0 none, 1 relu, 2 leaky relu, …
    activation_params: tuple[float, ...]

    @staticmethod
    def of(layer: NcnnLayer) -> Convolution:
        num_output = layer.int_param(0, 0)
        kernel_w = layer.int_param(1, 0)
        kernel_h = layer.int_param(11, kernel_w)
        weight_count = layer.int_param(6, 0)
        if min(num_output, kernel_w, kernel_h, weight_count) <= 0:
            raise NcnnFormatError(
                f"layer {layer.name}: Convolution without num_output, kernel or weight_data_size ({layer.params})"
            )
        if weight_count % (num_output * kernel_h * kernel_w):
            raise NcnnFormatError(
                f"layer {layer.name}: weight_data_size {weight_count} is not a multiple of "
                f"num_output*kernel_h*kernel_w = {num_output * kernel_h * kernel_w}"
            )
        if layer.int_param(8, 0):
            raise NcnnFormatError(f"layer {layer.name}: int8-quantized convolutions are not supported")
        pad_left = layer.int_param(4, 0)
        pad_top = layer.int_param(14, pad_left)
        dilation_w, stride_w = layer.int_param(2, 1), layer.int_param(3, 1)
        activation_params = layer.param(10, ())
        if not isinstance(activation_params, tuple):
            activation_params = (activation_params,)
        return Convolution(
            name=layer.name,
            num_output=num_output,
            num_input=weight_count // (num_output * kernel_h * kernel_w),
            kernel=(kernel_h, kernel_w),
            stride=(layer.int_param(13, stride_w), stride_w),
            dilation=(layer.int_param(12, dilation_w), dilation_w),
            pad=(pad_left, layer.int_param(15, pad_left), pad_top, layer.int_param(16, pad_top)),
            bias=bool(layer.int_param(5, 0)),
            activation=layer.int_param(9, 0),
            activation_params=tuple(float(v) for v in activation_params),
        )

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """ncnn's weight order, which is also PyTorch's: (out, in, kh, kw)."""
        return (self.num_output, self.num_input, *self.kernel)


@dataclass(frozen=True)
class ConvolutionWeights:
    weight: np.ndarray  # float32, Convolution.weight_shape
    bias: np.ndarray | None  # float32, (num_output,)
    stored_as: str  # "float32" or "float16"


def _value(text: str) -> int | float:
    # ncnn's own rule: a value with '.' or an exponent is a float, otherwise an int.
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_layer(line: str, lineno: int) -> NcnnLayer:
    fields = line.split()
    if len(fields) < 4:
        raise NcnnFormatError(f"line {lineno}: a layer needs type, name and blob counts: {line!r}")
    type_, name = fields[0], fields[1]
    try:
        n_bottom, n_top = int(fields[2]), int(fields[3])
    except ValueError:
        raise NcnnFormatError(f"line {lineno} (layer {name}): bad blob counts {fields[2:4]}") from None
    blobs_end = 4 + n_bottom + n_top
    if len(fields) < blobs_end:
        raise NcnnFormatError(
            f"line {lineno} (layer {name}): expected {n_bottom} bottom and "
            f"{n_top} top blobs, found {len(fields) - 4} names"
        )
    params: dict[int, ParamValue] = {}
    for item in fields[blobs_end:]:
        key_text, sep, value_text = item.partition("=")
        try:
            key = int(key_text)
            if not sep:
                raise ValueError
            if key <= _ARRAY_KEY_BASE:
                count, *values = value_text.split(",")
                if int(count) != len(values):
                    raise ValueError
                params[_ARRAY_KEY_BASE - key] = tuple(_value(v) for v in values)
            else:
                params[key] = _value(value_text)
        except ValueError:
            raise NcnnFormatError(f"line {lineno} (layer {name}): bad param {item!r}") from None
    return NcnnLayer(type_, name, tuple(fields[4 : 4 + n_bottom]), tuple(fields[4 + n_bottom : blobs_end]), params)


def read_param(path: Path) -> NcnnGraph:
    """Parses a ``.param`` file and checks that the graph is wired: every bottom blob is
    some earlier layer's top, and the header's layer and blob counts are right."""
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or lines[0].strip() != str(MAGIC):
        raise NcnnFormatError(f"{path}: not an ncnn .param file (first line is not {MAGIC})")
    try:
        layer_count, blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise NcnnFormatError(f"{path}: second line must be 'layer_count blob_count'") from None
    layers = tuple(_parse_layer(line, i + 3) for i, line in enumerate(lines[2:]))
    if len(layers) != layer_count:
        raise NcnnFormatError(f"{path}: header says {layer_count} layers, file has {len(layers)}")
    produced: set[str] = set()
    for layer in layers:
        for blob in layer.bottoms:
            if blob not in produced:
                raise NcnnFormatError(
                    f"{path}: layer {layer.name} reads blob {blob!r}, which no earlier layer produces"
                )
        for blob in layer.tops:
            if blob in produced:
                raise NcnnFormatError(f"{path}: layer {layer.name} produces blob {blob!r} again")
            produced.add(blob)
    if len(produced) != blob_count:
        raise NcnnFormatError(f"{path}: header says {blob_count} blobs, layers produce {len(produced)}")
    return NcnnGraph(layers, blob_count)


class _Blob:
    """Reads the .bin front to back, failing with the layer's name when it runs short."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.offset = data, path, 0

    def take(self, size: int, layer: str, what: str) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise NcnnFormatError(
                f"{self.path}: layer {layer}: {what} needs {size} bytes at offset {self.offset}, "
                f"but the file ends at {len(self.data)} (truncated, or .param and .bin do not match)"
            )
        chunk, self.offset = self.data[self.offset : end], end
        return chunk

    def tagged_floats(self, count: int, layer: str) -> tuple[np.ndarray, str]:
        tag = int.from_bytes(self.take(4, layer, "the weight storage tag"), "little")
        if tag == TAG_FLOAT32:
            raw = self.take(4 * count, layer, f"{count} float32 weights")
            return np.frombuffer(raw, "<f4").astype(np.float32), "float32"
        if tag == TAG_FLOAT16:
            raw = self.take((2 * count + 3) // 4 * 4, layer, f"{count} float16 weights")
            return np.frombuffer(raw[: 2 * count], "<f2").astype(np.float32), "float16"
        raise NcnnFormatError(
            f"{self.path}: layer {layer}: unsupported weight storage tag 0x{tag:08X} at offset "
            f"{self.offset - 4} (only float32 0x00000000 and float16 0x{TAG_FLOAT16:08X}; "
            "int8 and table-quantized weights are not supported, or the files do not match)"
        )


def read_bin(path: Path, graph: NcnnGraph) -> dict[str, ConvolutionWeights]:
    """Reads every layer's weights from a ``.bin`` file laid out as ``graph`` says."""
    blob = _Blob(Path(path).read_bytes(), Path(path))
    weights: dict[str, ConvolutionWeights] = {}
    for layer in graph.layers:
        if layer.type in WEIGHTLESS_TYPES:
            continue
        if layer.type != "Convolution":
            raise NcnnFormatError(
                f"{path}: layer {layer.name} of type {layer.type} is not supported "
                "by this reader (cannot tell how many weight bytes it holds)"
            )
        conv = Convolution.of(layer)
        flat, stored_as = blob.tagged_floats(
            conv.num_output * conv.num_input * conv.kernel[0] * conv.kernel[1], layer.name
        )
        bias = None
        if conv.bias:
            raw = blob.take(4 * conv.num_output, layer.name, f"{conv.num_output} float32 biases")
            bias = np.frombuffer(raw, "<f4").astype(np.float32)
        for what, values in (("weights", flat), ("biases", bias)):
            if values is not None and not np.isfinite(values).all():
                raise NcnnFormatError(
                    f"{path}: layer {layer.name}: {what} hold NaN or infinity "
                    "(corrupt data, or .param and .bin do not match)"
                )
        weights[layer.name] = ConvolutionWeights(flat.reshape(conv.weight_shape), bias, stored_as)
    if blob.offset != len(blob.data):
        raise NcnnFormatError(
            f"{path}: {len(blob.data) - blob.offset} bytes left over after the "
            f"last layer (at offset {blob.offset}): .param and .bin do not match"
        )
    return weights
