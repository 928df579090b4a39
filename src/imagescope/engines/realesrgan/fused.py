"""RRDBNet arranged for inference: the same function as :class:`~.rrdbnet.RRDBNet`, with
fewer passes over memory and a peak that does not grow with the 16× picture.

Beside its 351 convolutions the plain module copies: every dense block concatenates its
growing input four times (576 channel-planes copied to feed five convolutions), and
LeakyReLU, the ×0.2 residual scale and the residual sum each pass over the activations
again. How much that costs depends on how fast the convolutions are: on a CPU with AMX a
profile of the plain module in bfloat16 was half such passes; on an AVX512-BF16 CPU without
AMX (convolutions at about 0.5 TFLOPS a core) it is 10-15 % at 256-pixel tiles, where the
activations no longer fit in cache. Here, built once from a loaded RRDBNet:

- weights converted once to the dtype the network runs in, channels-last like the
  activations (no conversion per call, no autocast);
- the dense blocks run in one preallocated buffer of 64 + 4·32 channels: a block's input is
  copied into the first 64, and each LeakyReLU writes its output straight into the next 32
  (the activation is the copy), so conv_k reads a prefix of the buffer and nothing is
  concatenated. A prefix of a channels-last tensor is not contiguous, so oneDNN still
  copies the input it reads: what the buffer saves is the cat's allocations and the
  separate LeakyReLU pass;
- the ×0.2 of each dense block's residual is folded into its conv5 weights and bias (one
  pass fewer per block), and the RRDB's ×0.2 rides on its sum (``alpha``);
- the ×4 tail (two nearest ×2 upsamplings, four convolutions at 4 and 16 times the pixels)
  runs in bands of rows, each with a halo that covers the tail's receptive field (2 rows of
  the 1× features either way), so the result is the same as in one piece while the
  memory is that of one band, and the band's tensors stay in cache.

Measured on the AVX512-BF16 CPU, one thread, a 272*272 tile in bfloat16: 6.14 s against
6.50 s for the plain module (−5.5 %); the convolutions themselves are then 90 % of the time.
Tried and left out: oneDNN's fused convolution + LeakyReLU (``mkldnn._convolution_pointwise``,
a private op: no faster), ``torch.jit.freeze`` (no faster), ``torch.compile`` with Inductor
(76 s to compile a tile shape, 1 % faster) and sums written into buffer slices (torch's
elementwise kernels run several times slower on a channel slice than on a whole tensor).

``tests/test_realesrgan.py`` holds it to the plain RRDBNet in float32 (and the plain one to
the ncnn graph itself).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from imagescope.engines.realesrgan.rrdbnet import LRELU_SLOPE, RESIDUAL_SCALE, RRDB, ResidualDenseBlock, RRDBNet

# Tail band: 1× feature rows per band. Its tensors at 16× the pixels then stay small enough
# to live in cache between the convolutions: 16 rows ran the tail 10-20 % faster than 8, 32 or
# the whole tile (1 thread, tiles of 288 and 544).
TAIL_BAND_ROWS = 16
_HALO = 2  # 1× feature rows that the tail's output rows reach beyond their own, either way
CHANNELS_LAST = torch.channels_last


def _leaky_relu_into(y: torch.Tensor, out: torch.Tensor) -> None:
    torch.ops.aten.leaky_relu.out(y, LRELU_SLOPE, out=out)


class _Conv:
    """A 3×3 convolution's weights in the run dtype, optionally scaled (folded) once."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype, scale: float = 1.0):
        assert conv.bias is not None  # RRDBNet's convolutions all have one
        self.weight = (conv.weight.detach() * scale).to(dtype).contiguous(memory_format=CHANNELS_LAST)
        self.bias = (conv.bias.detach() * scale).to(dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, 1, 1)


class _DenseBlock:
    """A ResidualDenseBlock on a buffer whose first ``num_feat`` channels hold its input."""

    def __init__(self, block: ResidualDenseBlock, dtype: torch.dtype):
        self.grow = [_Conv(c, dtype) for c in (block.conv1, block.conv2, block.conv3, block.conv4)]
        self.conv5 = _Conv(block.conv5, dtype, scale=RESIDUAL_SCALE)
        self.num_feat = block.conv1.in_channels
        self.growth = block.conv1.out_channels

    def residual(self, x: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
        """0.2·conv5(x, x1 … x4), computed in ``buffer`` (which it overwrites): x + this is the
        block's output."""
        buffer[:, : self.num_feat].copy_(x)
        end = self.num_feat
        for conv in self.grow:
            _leaky_relu_into(conv(buffer[:, :end]), buffer[:, end : end + self.growth])
            end += self.growth
        return self.conv5(buffer)


class FusedRRDBNet:
    """A loaded RRDBNet, ready to run in ``dtype`` on the device its weights are on.

    Call it with (N, 3, H, W) RGB in [0, 1] of any float dtype; it returns (N, 3, 4H, 4W) in
    ``dtype``. Calls share nothing but the weights: concurrent calls are safe.
    """

    scale = RRDBNet.scale

    def __init__(self, model: RRDBNet, dtype: torch.dtype):
        self.dtype = dtype
        self.device = model.conv_first.weight.device
        self.conv_first = _Conv(model.conv_first, dtype)
        rrdbs = [rrdb for rrdb in model.body if isinstance(rrdb, RRDB)]
        self.blocks = [
            (_DenseBlock(r.rdb1, dtype), _DenseBlock(r.rdb2, dtype), _DenseBlock(r.rdb3, dtype)) for r in rrdbs
        ]
        self.conv_body = _Conv(model.conv_body, dtype)
        self.conv_up1, self.conv_up2, self.conv_hr, self.conv_last = (
            _Conv(c, dtype) for c in (model.conv_up1, model.conv_up2, model.conv_hr, model.conv_last)
        )
        self.num_feat = model.conv_first.out_channels
        self.buffer_channels = self.num_feat + 4 * self.blocks[0][0].growth

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.tail(self.trunk(x.to(self.device, self.dtype).contiguous(memory_format=CHANNELS_LAST)))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """conv_first, the RRDBs and conv_body with the long skip: the 1× features."""
        feat = self.conv_first(x)
        n, _, h, w = feat.shape
        buffer = torch.empty(
            n, self.buffer_channels, h, w, dtype=self.dtype, device=self.device, memory_format=CHANNELS_LAST
        )
        # The sums stay in whole tensors (a copy into the buffer is fast; a sum into it is not).
        a = feat
        for rdb1, rdb2, rdb3 in self.blocks:
            b = rdb1.residual(a, buffer).add_(a)
            c = rdb2.residual(b, buffer).add_(b)
            # RRDB(a) = a + 0.2·RDB3(c) = a + 0.2·(c + residual)
            a = torch.add(a, rdb3.residual(c, buffer).add_(c), alpha=RESIDUAL_SCALE)
        return feat.add_(self.conv_body(a))

    def _tail_piece(self, feat: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu_(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), LRELU_SLOPE)
        feat = F.leaky_relu_(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), LRELU_SLOPE)
        return self.conv_last(F.leaky_relu_(self.conv_hr(feat), LRELU_SLOPE))

    def tail(self, feat: torch.Tensor, band: int = TAIL_BAND_ROWS) -> torch.Tensor:
        """The ×4 upsampling head, ``band`` rows of the 1× features at a time."""
        n, _, h, w = feat.shape
        if band >= h:
            return self._tail_piece(feat)
        s = self.scale
        out = torch.empty(n, 3, s * h, s * w, dtype=self.dtype, device=self.device)
        for r0 in range(0, h, band):
            r1 = min(h, r0 + band)
            c0, c1 = max(0, r0 - _HALO), min(h, r1 + _HALO)
            piece = self._tail_piece(feat[:, :, c0:c1])
            out[:, :, s * r0 : s * r1] = piece[:, :, s * (r0 - c0) : s * (r1 - c0)]
        return out
