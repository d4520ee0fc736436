"""BatchNorm1d/2d (ops/normalization.py), LayerNorm, RMSNorm, GroupNorm, InstanceNorm1d/2d,
Dropout1d and Dropout2d (ops/norms.py), LocalResponseNorm (ops/loss_extra.py). PyTorch's names,
arguments, defaults (InstanceNorm: affine=False, track_running_stats=False) and
initialisation (weight ones, bias zeros).

Shapes: N batch, C channels, then any spatial dims (L, or H and W).
"""

from __future__ import annotations

import numbers
import warnings

from tinygrad_cnn import backend, creation
from tinygrad_cnn.nn import init
from tinygrad_cnn.nn.layer_helpers import check_ndim, zeros_parameter
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.ops import loss_extra, norms
from tinygrad_cnn.ops import normalization as normalization_ops
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.ops.windows import int_at_least
from tinygrad_cnn.tensor import Tensor


def register_running_stats(module: Module, num_features: int, track: bool, device, dtype) -> None:
    """The buffers of BatchNorm and InstanceNorm: running_mean (C,) zeros, running_var (C,) ones
    and num_batches_tracked () int64 when ``track``, else the three registered as None."""
    if track:
        module.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype,
                                                              device=device))
        module.register_buffer("running_var", creation.ones(num_features, dtype=dtype,
                                                            device=device))
        module.register_buffer("num_batches_tracked", creation.zeros((), dtype="int64",
                                                                     device=device))
    else:
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            module.register_buffer(name, None)


def reset_running_stats(module: Module) -> None:
    """Running statistics back to mean 0, variance 1, no batches tracked (when tracked)."""
    if module.track_running_stats:
        init.zeros_(module.running_mean)
        init.ones_(module.running_var)
        module.num_batches_tracked.data[...] = 0


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
            self.bias = zeros_parameter((num_features,), device, dtype)
        else:
            self.weight = None
            self.bias = None
        register_running_stats(self, num_features, track_running_stats, device, dtype)

    def reset_running_stats(self) -> None:
        reset_running_stats(self)

    def forward(self, x: Tensor) -> Tensor:
        check_ndim(self, x, self._ndims, self._layout)
        if x.shape[1] != self.num_features:
            raise backend.ShapeError(f"{self!r}: expected {self.num_features} channels, got "
                                     f"{x.shape[1]} (input shape {x.shape})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            normalization_ops.count_batch(self.num_batches_tracked)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return normalization_ops.batch_norm(
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


def _set_affine(module: Module, shape, enabled: bool, bias: bool, device, dtype) -> None:
    """The affine parameters of a norm layer: weight ones and bias zeros of ``shape`` (the bias
    only with ``bias``), or both None when not ``enabled``."""
    module.weight = (Parameter(creation.ones(shape, dtype=dtype, device=device)) if enabled
                     else None)
    module.bias = (Parameter(creation.zeros(shape, dtype=dtype, device=device))
                   if enabled and bias else None)


def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class LayerNorm(Module):
    """Normalize over the last dims (normalized_shape) of each item: (*, *normalized_shape) ->
    same. With ``elementwise_affine``, weight (ones) and bias (zeros, unless bias=False) of
    shape normalized_shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = norms.normalized_shape_tuple(normalized_shape, "LayerNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _set_affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        """Weight back to ones and bias to zeros, where the layer has them."""
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        try:
            return norms.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalization over the last dims (normalized_shape) of each item:
    (*, *normalized_shape) -> same, y = x / sqrt(mean(x^2) + eps) [* weight]. ``eps=None`` is
    the machine epsilon of the input's dtype. With ``elementwise_affine``, a weight (ones) of
    shape normalized_shape (no bias, as PyTorch's)."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = norms.normalized_shape_tuple(normalized_shape, "RMSNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight = (Parameter(creation.ones(self.normalized_shape, dtype=dtype, device=device))
                       if elementwise_affine else None)      # a weight only, no bias (PyTorch's)

    def reset_parameters(self) -> None:
        """Weight back to ones, where the layer has one."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        try:
            return norms.rms_norm(x, self.normalized_shape, self.weight, self.eps)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalize each item's groups of num_channels / num_groups channels: (N, C, *) -> same.
    num_groups=1 normalizes the whole item (LayerNorm over C, H, W), num_groups=C each channel
    (InstanceNorm). With ``affine``, weight (ones) and bias (zeros) of shape (C,)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        self.num_groups = int_at_least(num_groups, 1, "num_groups", name)
        self.num_channels = int_at_least(num_channels, 1, "num_channels", name)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{name}: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.eps = eps
        self.affine = affine
        _set_affine(self, (self.num_channels,), affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        """Weight back to ones and bias to zeros, where the layer has them."""
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.ndim >= 2 and x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected {self.num_channels} channels, got "
                             f"{x.shape[1]} (input shape {x.shape})")
        return norms.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    _spatial = 2
    _layout = "(N, C, H, W) or (C, H, W)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        self.num_features = int_at_least(num_features, 1, "num_features", name)
        if momentum is not None and not isinstance(momentum, numbers.Real):
            raise TypeError(f"{name}: momentum must be a number or None, got {momentum!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _set_affine(self, (self.num_features,), affine, bias, device, dtype)
        register_running_stats(self, self.num_features, track_running_stats, device, dtype)

    def reset_running_stats(self) -> None:
        reset_running_stats(self)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in (self._spatial + 1, self._spatial + 2):
            raise ValueError(f"{self!r}: expected an input {self._layout}, got shape {x.shape}")
        unbatched = x.ndim == self._spatial + 1
        if unbatched:
            x = shape_ops.unsqueeze(x, 0)
        if x.shape[1] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"{self!r}: expected {self.num_features} channels, got "
                                 f"{x.shape[1]} (input shape {x.shape})")
            warnings.warn(f"{type(self).__name__}: the input has {x.shape[1]} channels but "
                          f"num_features={self.num_features}; num_features is not used because "
                          "affine=False and track_running_stats=False", UserWarning, stacklevel=2)
        # as PyTorch's InstanceNorm: num_batches_tracked is kept but never counted, and
        # momentum=None (a cumulative average for BatchNorm) leaves the running statistics as
        # they are
        factor = 0.0 if self.momentum is None else self.momentum
        use_input_stats = self.training or not self.track_running_stats
        out = norms.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                  use_input_stats, factor, self.eps)
        return shape_ops.squeeze(out, 0) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalize each channel of each item over L: (N, C, L) or (C, L) -> same."""

    _spatial = 1
    _layout = "(N, C, L) or (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Normalize each channel of each item over H and W: (N, C, H, W) or (C, H, W) -> same.
    PyTorch's defaults: affine=False, track_running_stats=False (the statistics of each input
    normalize it in training and eval); with track_running_stats the running averages are
    updated in training and used in eval, as BatchNorm's."""


class Dropout1d(Module):
    """In training, zero whole channels with probability p and scale the others by 1/(1-p):
    (N, C, L) or (C, L) -> same; the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout1d: probability p must be between 0 and 1, got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return norms.dropout1d(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Module):
    """In training, zero whole channels with probability p and scale the others by 1/(1-p):
    (N, C, H, W) -> same (a 3-D input is read as (N, C, L), as PyTorch's); the identity in eval
    mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: probability p must be between 0 and 1, got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return norms.dropout2d(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class LocalResponseNorm(Module):
    """local_response_norm: each channel divided by (k + alpha/size * sum of x^2 over ``size``
    neighbouring channels)^beta (AlexNet's); no parameters. (N, C, *) -> same shape."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        return loss_extra.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
