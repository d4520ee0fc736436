"""Layers with parameters or geometry: Linear, Conv2d, ConvTranspose2d, pools, Flatten, Dropout,
BatchNorm1d/2d. PyTorch's names, arguments, defaults and default initialisation.

Shapes: N batch, C_in/C_out channels, H, W input size, KH, KW kernel, OH, OW output size.
"""

from __future__ import annotations

import math

from tinygrad_cnn import creation
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.ops import conv, dense, normalization, pool
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.ops.windows import conv_output_size
from tinygrad_cnn.tensor import Tensor


def _pair(value, name: str, layer: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (value[0], value[1])
    raise TypeError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")


def _new_parameter(shape, device, dtype) -> Parameter:
    return Parameter(creation.zeros(shape, dtype=dtype, device=device))


def _check_ndim(layer: Module, x: Tensor, ndims: tuple[int, ...], layout: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer!r}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim not in ndims:
        raise ValueError(f"{layer!r}: expected a {' or '.join(f'{n}-D' for n in ndims)} input "
                         f"{layout}, got shape {x.shape}")


def _check_channels(layer: Module, x: Tensor, expected: int) -> None:
    if x.shape[1] != expected:
        raise ValueError(f"{layer!r}: expected {expected} input channels, got {x.shape[1]} "
                         f"(input shape {x.shape})")


def _check_output_size(layer: Module, x: Tensor, kernel, stride, padding, dilation) -> None:
    """Raise, naming the layer and showing the formula with its numbers, when the output
    would have <= 0 rows or columns."""
    for axis, size, k, s, p, d in zip(("height", "width"), x.shape[-2:], kernel, stride, padding,
                                      dilation, strict=False):
        out = conv_output_size(size, k, s, p, d)
        if out <= 0:
            raise ValueError(
                f"{layer!r}: output {axis} would be {out} pixels for input shape {x.shape}: "
                f"floor((W + 2P - D*(K-1) - 1) / S) + 1 = floor(({size} + 2*{p} - {d}*({k}-1) "
                f"- 1) / {s}) + 1 = {out}; use a smaller kernel or stride, more padding, or a "
                "larger input"
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
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = _new_parameter((out_features, in_features), device, dtype)
        self.bias = _new_parameter((out_features,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_bias(self.bias, self.weight)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim == 0:
            raise ValueError(f"{self!r}: expected an input (*, {self.in_features}), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: input has {x.shape[-1]} features (shape {x.shape}), "
                             f"expected {self.in_features} in the last dim")
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


class _ConvNd(Module):
    """Shared arguments, parameters and repr of Conv2d and ConvTranspose2d."""

    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, padding_mode, output_padding, device, dtype):
        super().__init__()
        name = type(self).__name__
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode {padding_mode!r} is not supported, "
                                      "only 'zeros'")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a pair, got "
                             f"{padding!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        self.stride = _pair(stride, "stride", name)
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding", name)
        self.dilation = _pair(dilation, "dilation", name)
        self.output_padding = _pair(output_padding, "output_padding", name)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        if self._transposed:   # (C_in, C_out/groups, KH, KW)
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:                  # (C_out, C_in/groups, KH, KW)
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _new_parameter(shape, device, dtype)
        self.bias = _new_parameter((out_channels,), device, dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # fan_in from weight dim 1: C_in/groups*KH*KW for Conv2d, C_out/groups*KH*KW transposed
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_bias(self.bias, self.weight)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation): (N, C_in, H, W) -> (N, C_out, OH, OW),
    OH = floor((H + 2*padding - dilation*(KH-1) - 1) / stride) + 1.

    ``padding`` is an int, a pair, "valid" or "same". weight (C_out, C_in/groups, KH, KW) and
    bias (C_out,) are initialised as PyTorch's (kaiming_uniform_(a=sqrt(5)), U(+-1/sqrt(fan_in))).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        _check_ndim(self, x, (4,), "(N, C, H, W)")
        _check_channels(self, x, self.in_channels)
        if not isinstance(self.padding, str):
            _check_output_size(self, x, self.kernel_size, self.stride, self.padding,
                               self.dilation)
        elif self.padding == "valid":
            _check_output_size(self, x, self.kernel_size, self.stride, (0, 0), self.dilation)
        return conv.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed convolution (conv2d's input gradient): (N, C_in, H, W) -> (N, C_out, OH, OW),
    OH = (H - 1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1.

    weight (C_in, C_out/groups, KH, KW); PyTorch's default initialisation (fan_in from dim 1).
    """

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        _check_ndim(self, x, (4,), "(N, C, H, W)")
        _check_channels(self, x, self.in_channels)
        for axis, size, k, s, p, d, e in zip(("height", "width"), x.shape[2:], self.kernel_size,
                                             self.stride, self.padding, self.dilation,
                                             self.output_padding, strict=False):
            out = (size - 1) * s - 2 * p + d * (k - 1) + e + 1
            if out <= 0:
                raise ValueError(
                    f"{self!r}: output {axis} would be {out} pixels for input shape {x.shape}: "
                    f"(H - 1)*S - 2P + D*(K-1) + output_padding + 1 = ({size} - 1)*{s} - 2*{p} "
                    f"+ {d}*({k}-1) + {e} + 1 = {out}; use less padding"
                )
        return conv.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                     self.output_padding, self.groups, self.dilation)


# ---------------------------------------------------------------------- pooling


class _Pool2d(Module):
    def _check(self, x: Tensor, kernel, stride, padding, dilation) -> None:
        _check_ndim(self, x, (4,), "(N, C, H, W)")
        name = type(self).__name__
        _check_output_size(self, x, _pair(kernel, "kernel_size", name),
                           _pair(stride, "stride", name), _pair(padding, "padding", name),
                           _pair(dilation, "dilation", name))


class MaxPool2d(_Pool2d):
    """Max over KHxKW windows (stride defaults to kernel_size): (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor):
        self._check(x, self.kernel_size, self.stride, self.padding, self.dilation)
        return pool.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                               ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """Mean over KHxKW windows (stride defaults to kernel_size): (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        self._check(x, self.kernel_size, self.stride, self.padding, 1)
        return pool.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                               self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class LPPool2d(_Pool2d):
    """Power-average pooling (sum of x**p over the window) ** (1/p)."""

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        self._check(x, self.kernel_size, self.stride, 0, 1)
        return pool.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (OH, OW) whatever the input size."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        _check_ndim(self, x, (4,), "(N, C, H, W)")
        return pool.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (OH, OW) whatever the input size."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, x: Tensor):
        _check_ndim(self, x, (4,), "(N, C, H, W)")
        return pool.adaptive_max_pool2d(x, self.output_size, self.return_indices)

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


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(creation.ones(num_features, dtype=dtype, device=device))
            self.bias = _new_parameter((num_features,), device, dtype)
        else:
            self.weight = None
            self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype,
                                                                device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype,
                                                              device=device))
            self.register_buffer("num_batches_tracked", creation.zeros((), dtype="int64",
                                                                       device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        _check_ndim(self, x, self._ndims, self._layout)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected {self.num_features} channels, got {x.shape[1]} "
                             f"(input shape {x.shape})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return normalization.batch_norm(
            x, self.running_mean if keep_running else None,
            self.running_var if keep_running else None, self.weight, self.bias,
            use_batch_stats, factor, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over every dim but C."""

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs per channel, over N, H and W."""

    _ndims = (4,)
    _layout = "(N, C, H, W)"
