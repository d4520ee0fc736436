"""Resampling layers: PixelShuffle, PixelUnshuffle, ChannelShuffle, Upsample (ops/resample.py).

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


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups (ShuffleNet): (N, C, *) -> same, C
    divisible by groups."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return resample.channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Upsample(Module):
    """Resize the spatial dims with F.interpolate: (N, C, *spatial) -> (N, C, *size).

    Give ``size`` (an int or one per spatial dim) or ``scale_factor``; ``mode`` "nearest"
    (default), "nearest-exact", "linear", "bilinear" or "trilinear"; ``align_corners`` for the
    linear modes (default False).
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        name = type(self).__name__
        if (size is None) == (scale_factor is None):
            raise ValueError(f"{name}: give exactly one of size and scale_factor, got "
                             f"size={size!r} and scale_factor={scale_factor!r}")
        if mode not in resample.INTERPOLATE_MODES:
            raise ValueError(f"{name}: mode must be one of "
                             f"{tuple(resample.INTERPOLATE_MODES)}, got {mode!r}")
        if align_corners is not None and mode not in resample.LINEAR_MODES:
            raise ValueError(f"{name}: align_corners can only be set with the linear modes "
                             f"{resample.LINEAR_MODES}, not with mode {mode!r}")
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return resample.interpolate(x, self.size, self.scale_factor, self.mode,
                                    self.align_corners, self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Upsample(size, scale_factor, mode="nearest") of an (N, C, H, W) input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Upsample(size, scale_factor, mode="bilinear", align_corners=True) (PyTorch's choice for
    this layer) of an (N, C, H, W) input."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
