"""Layers with parameters or geometry: Linear, Conv2d, ConvTranspose2d, pools, Flatten, Dropout
(BatchNorm is with the other normalization layers, in nn/normalization.py). PyTorch's names,
arguments, defaults and default initialisation.

Shapes: N batch, C_in/C_out channels, H, W input size, KH, KW kernel, OH, OW output size.
"""

from __future__ import annotations

import math
import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.layer_helpers import check_channels, check_ndim, zeros_parameter
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.ops import conv, dense, normalization, pool, shape_extra
from tinygrad_cnn.ops import padding as padding_ops
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.ops.windows import (
    check_flag,
    conv_output_size,
    int_at_least,
    make_axis,
    output_padding_pair,
    pair,
    positive_pair,
    resolve_padding,
)
from tinygrad_cnn.tensor import Tensor


def _window_args(name: str, kernel_size, stride, dilation):
    """kernel_size, stride and dilation as pairs of positive ints, or an error naming the layer
    and the argument (checked before any output size is computed from them)."""
    return (positive_pair(kernel_size, "kernel_size", name), positive_pair(stride, "stride", name),
            positive_pair(dilation, "dilation", name))


def _pool_padding(name: str, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """A pool's padding (an int or a pair, as the pooling functions take) as
    ((top, bottom), (left, right))."""
    ph, pw = pair(padding, "padding", name)
    if ph < 0 or pw < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    return (ph, ph), (pw, pw)


def _check_output_size(layer: Module, x: Tensor, kernel, stride, pads, dilation,
                       ceil_mode: bool = False) -> None:
    """Raise, naming the layer and showing the formula with its numbers, when the kernel does not
    fit the padded input (the output would have <= 0 rows or columns; with ``ceil_mode`` a
    window may run past the end when it starts inside, as the ops allow). Arguments are checked
    pairs; ``pads`` is ((top, bottom), (left, right))."""
    for axis, size, k, s, p, d in zip(("height", "width"), x.shape[-2:], kernel, stride, pads,
                                      dilation, strict=True):
        out = conv_output_size(size, k, s, p, d)
        if out <= 0 and ceil_mode:
            try:  # the ops' own rule decides (windows.make_axis)
                make_axis(repr(layer), axis, size, k, s, d, p, ceil_mode=True)
                continue
            except ValueError:
                pass
        if out <= 0:
            formula, padded = (("2P", f"2*{p[0]}") if p[0] == p[1]
                               else ("P_before + P_after", f"{p[0]} + {p[1]}"))
            raise ValueError(
                f"{layer!r}: output {axis} would be {out} pixels for input shape {x.shape}: "
                f"floor((W + {formula} - D*(K-1) - 1) / S) + 1 = floor(({size} + {padded} - "
                f"{d}*({k}-1) - 1) / {s}) + 1 = {out}; use a smaller kernel or dilation, more "
                "padding, or a larger input"
            )


# ---------------------------------------------------------------------- dense


class Linear(Module):
    """y = x @ weight.T + bias; x (*, in_features) -> (*, out_features).

    weight (out_features, in_features) ~ U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's
    kaiming_uniform_(a=sqrt(5))), bias (out_features,) from the same range.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"Linear: {name} must be an int, got {value!r}")
            if value < 0:
                raise ValueError(f"Linear: {name} must be non-negative, got {value}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = zeros_parameter((out_features, in_features), device, dtype)
        self.bias = zeros_parameter((out_features,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias again from U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_bias(self.bias, self.weight)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim == 0:
            raise backend.ShapeError(f"{self!r}: expected an input (*, {self.in_features}), got "
                                     f"{getattr(x, 'shape', type(x).__name__)}")
        if x.shape[-1] != self.in_features:
            raise backend.ShapeError(f"{self!r}: input has {x.shape[-1]} features (shape "
                                     f"{x.shape}), expected {self.in_features} in the last dim")
        return dense.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _uniform_bias(bias: Parameter, weight: Parameter) -> None:
    """PyTorch's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(bias, -bound, bound)


# ---------------------------------------------------------------------- convolution


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_padding(name: str, padding, allow_strings: bool):
    """A conv layer's padding as stored: 'valid' or 'same' (Conv2d), a pair (ph, pw) when each
    axis is padded alike, else ((top, bottom), (left, right)); an error naming the layer otherwise.
    """
    if isinstance(padding, str) and allow_strings:
        if padding not in ("valid", "same"):
            raise ValueError(f"{name}: padding must be an int, a pair, ((top, bottom), (left, "
                             f"right)), 'valid' or 'same', got {padding!r}")
        return padding
    (top, bottom), (left, right) = resolve_padding(padding, None, None, None, None, name,
                                                   allow_strings=False)
    return (top, left) if top == bottom and left == right else ((top, bottom), (left, right))


def conv_extra_repr(layer: Module, ndim: int) -> str:
    """PyTorch's repr arguments of an ``ndim``-D conv layer: channels, kernel and stride, then
    each other argument that differs from its default."""
    s = (f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, "
         f"stride={layer.stride}")
    if layer.padding != (0,) * ndim:
        s += f", padding={layer.padding}"   # PyTorch: padding=same, no quotes
    if layer.dilation != (1,) * ndim:
        s += f", dilation={layer.dilation}"
    if getattr(layer, "output_padding", (0,) * ndim) != (0,) * ndim:
        s += f", output_padding={layer.output_padding}"
    if layer.groups != 1:
        s += f", groups={layer.groups}"
    if layer.bias is None:
        s += ", bias=False"
    if layer.padding_mode != "zeros":
        s += f", padding_mode={layer.padding_mode}"
    return s


class _ConvNd(Module):
    """Shared arguments, parameters and repr of Conv2d and ConvTranspose2d."""

    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, padding_mode, output_padding, device, dtype):
        super().__init__()
        name = type(self).__name__
        in_channels = int_at_least(in_channels, 1, "in_channels", name)
        out_channels = int_at_least(out_channels, 1, "out_channels", name)
        groups = int_at_least(groups, 1, "groups", name)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size, self.stride, self.dilation = _window_args(name, kernel_size, stride,
                                                                    dilation)
        self.padding = _conv_padding(name, padding, allow_strings=not self._transposed)
        self.output_padding = output_padding_pair(name, output_padding, self.stride,
                                                    self.dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:   # (C_in, C_out/groups, KH, KW)
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:                  # (C_out, C_in/groups, KH, KW)
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = zeros_parameter(shape, device, dtype)
        self.bias = zeros_parameter((out_channels,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias again from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in the
        product of weight dims 1 and up (PyTorch's kaiming_uniform_ with a=sqrt(5))."""
        # fan_in from weight dim 1: C_in/groups*KH*KW for Conv2d, C_out/groups*KH*KW transposed
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_bias(self.bias, self.weight)

    def _geometry(self, x: Tensor):
        """The checked (kernel, stride, ((top, bottom), (left, right)), dilation) for input x:
        attributes changed after construction are checked again, naming the layer."""
        name = type(self).__name__
        kernel, stride, dilation = _window_args(name, self.kernel_size, self.stride,
                                                self.dilation)
        pads = resolve_padding(self.padding, x.shape[2:], kernel, stride, dilation, name,
                               allow_strings=not self._transposed)
        return kernel, stride, pads, dilation

    def extra_repr(self) -> str:
        return conv_extra_repr(self, 2)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation): (N, C_in, H, W) -> (N, C_out, OH, OW),
    OH = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1) / stride) + 1.

    ``padding`` is an int, a pair (h, w), ((top, bottom), (left, right)), "valid" or "same"
    (OH = ceil(H / stride)), filled as ``padding_mode`` says: "zeros", "reflect", "replicate"
    or "circular" (F.pad's modes). weight (C_out, C_in/groups, KH, KW) and bias (C_out,) are
    initialised as PyTorch's (kaiming_uniform_(a=sqrt(5)), U(+-1/sqrt(fan_in))). Channel counts,
    groups, kernel_size, stride, dilation and padding are checked at construction.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        check_ndim(self, x, (4,), "(N, C, H, W)")
        check_channels(self, x, self.in_channels)
        kernel, stride, pads, dilation = self._geometry(x)
        _check_output_size(self, x, kernel, stride, pads, dilation)
        if self.padding_mode != "zeros":   # F.pad's mode first, then an unpadded convolution
            (top, bottom), (left, right) = pads
            try:
                x = padding_ops.pad(x, (left, right, top, bottom), self.padding_mode)
            except ValueError as e:
                raise ValueError(f"{self!r}: padding_mode={self.padding_mode!r}: {e}") from None
            pads = ((0, 0), (0, 0))
        return conv.conv2d(x, self.weight, self.bias, stride, pads, dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed convolution (conv2d's input gradient): (N, C_in, H, W) -> (N, C_out, OH, OW),
    OH = (H - 1)*stride - pad_top - pad_bottom + dilation*(KH-1) + output_padding + 1.

    ``padding`` is an int, a pair (h, w) or ((top, bottom), (left, right)), as
    F.conv_transpose2d takes. weight (C_in, C_out/groups, KH, KW); PyTorch's default
    initialisation (fan_in from dim 1). ``forward(x, output_size=(OH, OW))`` picks the
    output_padding that gives that size, as PyTorch's does.
    """

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        if padding_mode != "zeros":   # PyTorch's check and message
            raise ValueError(f'ConvTranspose2d: only "zeros" padding mode is supported, got '
                             f"{padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        """x (N, C_in, H, W) -> (N, C_out, OH, OW); ``output_size`` (OH, OW) or (N, C_out, OH, OW)
        chooses output_padding (then ignoring the layer's own) so the output has that size."""
        check_ndim(self, x, (4,), "(N, C, H, W)")
        check_channels(self, x, self.in_channels)
        name = type(self).__name__
        kernel, stride, pads, dilation = self._geometry(x)
        if output_size is None:
            extra = output_padding_pair(name, self.output_padding, stride, dilation)
        else:
            extra = self._output_padding(x, output_size, kernel, stride, pads, dilation)
        for axis, size, k, s, p, d, e in zip(("height", "width"), x.shape[2:], kernel, stride,
                                             pads, dilation, extra, strict=True):
            out = (size - 1) * s - p[0] - p[1] + d * (k - 1) + e + 1
            if out <= 0:
                padded = f"2*{p[0]}" if p[0] == p[1] else f"{p[0]} - {p[1]}"
                raise ValueError(
                    f"{self!r}: output {axis} would be {out} pixels for input shape {x.shape}: "
                    f"(H - 1)*S - P_before - P_after + D*(K-1) + output_padding + 1 = ({size} - "
                    f"1)*{s} - {padded} + {d}*({k}-1) + {e} + 1 = {out}; use less padding"
                )
        return conv.conv_transpose2d(x, self.weight, self.bias, stride, pads, extra, self.groups,
                                     dilation)

    def _output_padding(self, x: Tensor, output_size, kernel, stride, pads, dilation):
        """output_padding giving ``output_size``: each size must lie in [smallest, smallest +
        stride - 1], smallest being the size with output_padding 0 (PyTorch's rule)."""
        name = type(self).__name__
        if isinstance(output_size, str) or not hasattr(output_size, "__len__"):
            raise TypeError(f"{name}: output_size must be (OH, OW) or (N, C, OH, OW), got "
                            f"{output_size!r}")
        sizes = list(output_size)
        if len(sizes) == 4:
            sizes = sizes[2:]
        if len(sizes) != 2:
            raise ValueError(f"{name}: for a 4-D input, output_size must have 2 or 4 elements, "
                             f"got {len(sizes)} ({output_size!r})")
        if any(not isinstance(n, numbers.Integral) or isinstance(n, bool) for n in sizes):
            raise TypeError(f"{name}: output_size must hold ints, got {output_size!r}")
        wanted = (int(sizes[0]), int(sizes[1]))
        smallest = tuple((size - 1) * s - p[0] - p[1] + d * (k - 1) + 1 for size, k, s, p, d
                         in zip(x.shape[2:], kernel, stride, pads, dilation, strict=True))
        largest = tuple(lo + s - 1 for lo, s in zip(smallest, stride, strict=True))
        if any(not lo <= n <= hi for n, lo, hi in zip(wanted, smallest, largest, strict=True)):
            raise ValueError(f"{self!r}: requested an output size of {wanted}, but valid sizes "
                             f"range from {smallest} to {largest} (for an input of "
                             f"{x.shape[2:]})")
        return tuple(n - lo for n, lo in zip(wanted, smallest, strict=True))


# ---------------------------------------------------------------------- pooling


class _Pool2d(Module):
    """Shared checks of the windowed pools. Their arguments are kept as given (PyTorch's repr)
    and checked at construction and again in forward, before any output size is computed."""

    def _geometry(self):
        """(kernel, stride, ((top, bottom), (left, right)), dilation) as checked pairs."""
        name = type(self).__name__
        kernel, stride, dilation = _window_args(name, self.kernel_size, self.stride,
                                                getattr(self, "dilation", 1))
        pads = _pool_padding(name, getattr(self, "padding", 0))
        check_flag(name, "ceil_mode", self.ceil_mode)
        return kernel, stride, pads, dilation

    def _check(self, x: Tensor):
        """Checked (kernel, stride, (pad_h, pad_w), dilation) pairs of plain ints for input x."""
        check_ndim(self, x, (4,), "(N, C, H, W)")
        kernel, stride, pads, dilation = self._geometry()
        _check_output_size(self, x, kernel, stride, pads, dilation, self.ceil_mode)
        return kernel, stride, (pads[0][0], pads[1][0]), dilation


class MaxPool2d(_Pool2d):
    """Max over KHxKW windows (stride defaults to kernel_size): (N, C, H, W) -> (N, C, OH, OW),
    OH = floor((H + 2*padding - dilation*(KH-1) - 1) / stride) + 1 (ceil with ceil_mode).

    With ``return_indices`` also the flat index of each maximum in its H*W plane (N, C, OH, OW).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self._geometry()

    def forward(self, x: Tensor):
        kernel, stride, padding, dilation = self._check(x)
        return pool.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=self.ceil_mode,
                               return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """Mean over KHxKW windows (stride defaults to kernel_size): (N, C, H, W) -> (N, C, OH, OW),
    OH = floor((H + 2*padding - KH) / stride) + 1 (ceil with ceil_mode).

    The zero padding counts towards the mean when ``count_include_pad``; ``divisor_override``, a
    positive int, replaces the window size as the divisor.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        self._geometry()

    def _geometry(self):
        name = type(self).__name__
        check_flag(name, "count_include_pad", self.count_include_pad)
        if self.divisor_override is not None:
            pool.check_divisor_override(name, self.divisor_override)
        return super()._geometry()

    def forward(self, x: Tensor) -> Tensor:
        kernel, stride, padding, _ = self._check(x)
        divisor = self.divisor_override
        return pool.avg_pool2d(x, kernel, stride, padding, self.ceil_mode, self.count_include_pad,
                               None if divisor is None else int(divisor))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class LPPool2d(_Pool2d):
    """Power-average pooling (sum over the KHxKW window of x**p) ** (1/p), p = norm_type:
    (N, C, H, W) -> (N, C, OH, OW), OH = floor((H - KH) / stride) + 1 (ceil with ceil_mode).

    p = 1 is sum pooling, p = 2 L2-norm pooling; stride defaults to kernel_size; no padding.
    """

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode = ceil_mode
        self._geometry()

    def _geometry(self):
        pool.check_norm_type(type(self).__name__, self.norm_type)
        return super()._geometry()

    def forward(self, x: Tensor) -> Tensor:
        kernel, stride, _, _ = self._check(x)
        return pool.lp_pool2d(x, float(self.norm_type), kernel, stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


def _adaptive_size(name: str, output_size) -> tuple:
    """output_size as (OH, OW), each a positive int or None (keep the input's size)."""
    sizes = ((output_size, output_size)
             if output_size is None or isinstance(output_size, numbers.Integral) else output_size)
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 2 or any(
            s is not None and (not isinstance(s, numbers.Integral) or isinstance(s, bool))
            for s in sizes):
        raise TypeError(f"{name}: output_size must be an int, None or a pair of them, got "
                        f"{output_size!r}")
    if any(s is not None and s < 1 for s in sizes):
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    return tuple(None if s is None else int(s) for s in sizes)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size whatever the input size:
    (N, C, H, W) -> (N, C, OH, OW), (OH, OW) = output_size (an int for both, None keeps that
    input dim). Bin i covers rows floor(i*H/OH) .. ceil((i+1)*H/OH), so uneven bins overlap;
    output_size 1 is global average pooling.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size
        _adaptive_size(type(self).__name__, output_size)

    def forward(self, x: Tensor) -> Tensor:
        check_ndim(self, x, (4,), "(N, C, H, W)")
        size = _adaptive_size(type(self).__name__, self.output_size)
        return pool.adaptive_avg_pool2d(x, size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size: (N, C, H, W) -> (N, C, OH, OW), (OH, OW) =
    output_size (an int for both, None keeps that input dim), which must divide (H, W) (uneven
    bins are not implemented). With ``return_indices`` also the flat index of each maximum in
    its H*W plane (N, C, OH, OW).
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices
        _adaptive_size(type(self).__name__, output_size)

    def forward(self, x: Tensor):
        check_ndim(self, x, (4,), "(N, C, H, W)")
        size = _adaptive_size(type(self).__name__, self.output_size)
        return pool.adaptive_max_pool2d(x, size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---------------------------------------------------------------------- reshaping, regularising


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return shape_ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1): (N, C*H*W) ->
    (N, C, H, W) with Unflatten(1, (C, H, W)); the inverse of Flatten."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple or list of ints, got "
                            f"{type(unflattened_size).__name__}")
        for i, n in enumerate(unflattened_size):
            if isinstance(n, bool) or not isinstance(n, numbers.Integral):
                raise TypeError(f"Unflatten: unflattened_size must hold ints, got "
                                f"{type(n).__name__} at position {i} of {unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, x: Tensor) -> Tensor:
        return shape_extra.unflatten(x, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """In training, zero each element with probability p and scale the others by 1/(1-p);
    the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be between 0 and 1, got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return normalization.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
