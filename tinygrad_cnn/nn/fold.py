"""Unfold and Fold layers: F.unfold / F.fold (ops/unfold.py) with their arguments fixed.

Shapes: N batch, C channels, H, W image size, KH, KW kernel, L = number of block positions.
"""

from __future__ import annotations

from tinygrad_cnn.nn.module import Module
from tinygrad_cnn.ops import unfold as unfold_ops
from tinygrad_cnn.tensor import Tensor


class Unfold(Module):
    """(N, C, H, W) -> (N, C*KH*KW, L): each sliding block as a column (im2col)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return unfold_ops.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """(N, C*KH*KW, L) -> (N, C, H, W), (H, W) = output_size: columns summed back (col2im)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return unfold_ops.fold(x, self.output_size, self.kernel_size, self.dilation,
                               self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
