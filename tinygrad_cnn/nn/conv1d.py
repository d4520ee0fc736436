"""1-D layers: Conv1d, MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d. They call
ops/conv1d.py, which runs the 2-D ops on a unit height. PyTorch's names,
arguments, defaults and default initialisation.

Shapes: N batch, C_in/C_out channels, L input length, K kernel, OL output length.
"""

from __future__ import annotations

import math

from tinygrad_cnn import creation
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.layers import conv_extra_repr
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.ops import conv1d as conv1d_ops
from tinygrad_cnn.ops import padding as padding_ops
from tinygrad_cnn.ops.windows import check_flag, int_at_least
from tinygrad_cnn.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_input(layer: Module, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer!r}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim not in (2, 3):
        raise ValueError(f"{layer!r}: expected a 3-D input (N, C, L) or a 2-D unbatched one "
                         f"(C, L), got shape {x.shape}")


class Conv1d(Module):
    """1-D convolution (cross-correlation): (N, C_in, L) -> (N, C_out, OL),
    OL = floor((L + 2*padding - dilation*(K-1) - 1) / stride) + 1 (ceil(L / stride) for "same").

    ``padding_mode``: "zeros", "reflect", "replicate" or "circular" (F.pad's modes).
    weight (C_out, C_in/groups, K) and bias (C_out,) are initialised as PyTorch's
    (kaiming_uniform_(a=sqrt(5)), U(+-1/sqrt(fan_in))). Computed by conv2d on a unit height.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels = int_at_least(in_channels, 1, "in_channels", name)
        self.out_channels = int_at_least(out_channels, 1, "out_channels", name)
        self.groups = int_at_least(groups, 1, "groups", name)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.kernel_size = (conv1d_ops.positive_single(kernel_size, "kernel_size", name),)
        self.stride = (conv1d_ops.positive_single(stride, "stride", name),)
        self.dilation = (conv1d_ops.positive_single(dilation, "dilation", name),)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be an int, a 1-tuple, 'valid' or 'same', "
                                 f"got {padding!r}")
            self.padding = padding
        else:
            p = conv1d_ops.single(padding, "padding", name)
            if p < 0:
                raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
            self.padding = (p,)
        self.padding_mode = padding_mode
        shape = (self.out_channels, self.in_channels // self.groups, self.kernel_size[0])
        self.weight = Parameter(creation.zeros(shape, dtype=dtype, device=device))
        self.bias = (Parameter(creation.zeros((self.out_channels,), dtype=dtype, device=device))
                     if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias again from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in =
        in_channels / groups * kernel_size (PyTorch's kaiming_uniform_ with a=sqrt(5))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x)
        if x.shape[-2] != self.in_channels:
            raise ValueError(f"{self!r}: expected {self.in_channels} input channels, got "
                             f"{x.shape[-2]} (input shape {x.shape})")
        padding = self.padding
        if self.padding_mode != "zeros":   # F.pad's mode first, then an unpadded convolution
            if padding == "same":   # conv1d's "same": output ceil(L / stride)
                length, s, reach = x.shape[-1], self.stride[0], (
                    self.dilation[0] * (self.kernel_size[0] - 1) + 1)
                total = max((-(-length // s) - 1) * s + reach - length, 0)
                widths = (total // 2, total - total // 2)
            else:
                widths = (0, 0) if padding == "valid" else (padding[0], padding[0])
            try:
                x = padding_ops.pad(x, widths, self.padding_mode)
            except ValueError as e:
                raise ValueError(f"{self!r}: padding_mode={self.padding_mode!r}: {e}") from None
            padding = 0
        return conv1d_ops.conv1d(x, self.weight, self.bias, self.stride, padding,
                                 self.dilation, self.groups)

    def extra_repr(self) -> str:
        return conv_extra_repr(self, 1)


class MaxPool1d(Module):
    """Max over windows of kernel_size (stride defaults to it): (N, C, L) -> (N, C, OL),
    OL = floor((L + 2*padding - dilation*(K-1) - 1) / stride) + 1 (ceil with ceil_mode).
    With ``return_indices`` also each maximum's index into L."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        k = conv1d_ops.positive_single(kernel_size, "kernel_size", name)
        conv1d_ops.positive_single(self.stride, "stride", name)
        conv1d_ops.positive_single(dilation, "dilation", name)
        p = conv1d_ops.single(padding, "padding", name)
        if not 0 <= p <= k // 2:
            raise ValueError(f"{name}: padding must be between 0 and half the kernel size {k} "
                             f"(at most {k // 2}), got {padding!r}")
        check_flag(name, "ceil_mode", ceil_mode)
        check_flag(name, "return_indices", return_indices)

    def forward(self, x: Tensor):
        _check_input(self, x)
        return conv1d_ops.max_pool1d(x, self.kernel_size, self.stride, self.padding,
                                     self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool1d(Module):
    """Mean over windows of kernel_size (stride defaults to it): (N, C, L) -> (N, C, OL),
    OL = floor((L + 2*padding - K) / stride) + 1 (ceil with ceil_mode); the zero padding counts
    towards the mean when ``count_include_pad``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = (conv1d_ops.positive_single(kernel_size, "kernel_size", name),)
        self.stride = (self.kernel_size if stride is None
                       else (conv1d_ops.positive_single(stride, "stride", name),))
        p = conv1d_ops.single(padding, "padding", name)
        if not 0 <= p <= self.kernel_size[0] // 2:
            raise ValueError(f"{name}: padding must be between 0 and half the kernel size "
                             f"{self.kernel_size[0]} (at most {self.kernel_size[0] // 2}), got "
                             f"{padding!r}")
        self.padding = (p,)
        check_flag(name, "ceil_mode", ceil_mode)
        check_flag(name, "count_include_pad", count_include_pad)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x)
        return conv1d_ops.avg_pool1d(x, self.kernel_size, self.stride, self.padding,
                                     self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    """Average pooling to a fixed length whatever the input length: (N, C, L) or (C, L) ->
    (N, C, OL) or (C, OL), OL = output_size. Bin i covers floor(i*L/OL) .. ceil((i+1)*L/OL)."""

    def __init__(self, output_size):
        super().__init__()
        conv1d_ops.positive_single(output_size, "output_size", type(self).__name__)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x)
        return conv1d_ops.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(Module):
    """Max pooling to a fixed length OL = output_size, which must divide L (uneven bins are not
    implemented): (N, C, L) or (C, L) -> (N, C, OL) or (C, OL). With ``return_indices`` also
    each maximum's index into L."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        name = type(self).__name__
        conv1d_ops.positive_single(output_size, "output_size", name)
        check_flag(name, "return_indices", return_indices)
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, x: Tensor):
        _check_input(self, x)
        return conv1d_ops.adaptive_max_pool1d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
