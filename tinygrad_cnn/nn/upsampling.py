"""Resampling layers: PixelShuffle, PixelUnshuffle (ops/resample.py).

Shapes: N batch, C channels, H, W input size, r the factor.
"""

from __future__ import annotations

from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.ops import resample
from tinygrad_cnn.tensor import Tensor


class PixelShuffle(Module):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), r = upscale_factor (sub-pixel convolution's
    rearrangement)."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        resample.check_factor(upscale_factor, "upscale_factor", type(self).__name__)
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return resample.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), r = downscale_factor; undoes PixelShuffle."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        resample.check_factor(downscale_factor, "downscale_factor", type(self).__name__)
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return resample.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
