"""Layer, RMS, group and instance normalization, and channel dropout (dropout1d, dropout2d),
written with Tensor ops (so twice differentiable). Batch normalization
lives in ops/normalization.py.

Shapes: N batch, C channels, G groups, then any spatial dims (L, or H and W).
Each normalizes a block of values by its own mean and biased variance,
    y = (x - mean) / sqrt(var + eps) [* weight + bias],
and differs only in the block: layer_norm the last dims of each item, group_norm C/G channels
(and all positions) of each item, instance_norm one channel of one item.
"""

from __future__ import annotations

import numbers
import warnings

from tinygrad_cnn import backend
from tinygrad_cnn.ops import elementwise, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _standardize(x: Tensor, dims: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x - mean) / sqrt(var + eps) over ``dims``, with the mean and biased var (keepdim)."""
    mean = reduction.mean(x, dims, keepdim=True)
    centered = x - mean
    var = reduction.mean(centered * centered, dims, keepdim=True)
    return centered / elementwise.sqrt(var + eps), mean, var


def _check_input(op: str, x, least: int, layout: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim < least:
        raise ValueError(f"{op}: expected an input {layout}, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {x.dtype}")


def _check_affine(op: str, shape: tuple[int, ...], weight, bias, what: str) -> None:
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{op}: {name} has shape {tuple(t.shape)} but must have shape "
                             f"{shape} ({what})")


def _per_channel(t: Tensor, ndim: int) -> Tensor:
    """(C,) -> (1, C, 1, ...) so it broadcasts against an (N, C, ...) input."""
    return shape_ops.reshape(t, (1, t.shape[0]) + (1,) * (ndim - 2))


def normalized_shape_tuple(normalized_shape, op: str) -> tuple[int, ...]:
    """An int or a sequence of positive ints as a tuple, or an error naming it."""
    shape = ((normalized_shape,) if isinstance(normalized_shape, numbers.Integral)
             else tuple(normalized_shape))
    if (not shape or any(not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1
                         for n in shape)):
        raise ValueError(f"{op}: normalized_shape must be a positive int or a non-empty sequence "
                         f"of them, got {normalized_shape!r}")
    return tuple(int(n) for n in shape)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last len(normalized_shape) dims of each item, PyTorch's F.layer_norm:
    input (*, *normalized_shape) -> same; weight, bias of shape normalized_shape or None."""
    op = "layer_norm"
    shape = normalized_shape_tuple(normalized_shape, op)
    _check_input(op, input, 1, f"(*, {', '.join(map(str, shape))})")
    if input.shape[input.ndim - len(shape):] != shape or input.ndim < len(shape):
        raise ValueError(f"{op}: normalized_shape={shape} expects an input of shape "
                         f"(*, {', '.join(map(str, shape))}), got {input.shape}")
    _check_affine(op, shape, weight, bias, "normalized_shape")
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    out, _, _ = _standardize(input, dims, eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """Root-mean-square normalization over the last len(normalized_shape) dims of each item,
    PyTorch's F.rms_norm: y = x / sqrt(mean(x^2) + eps) [* weight]; input (*, *normalized_shape)
    -> same; weight of shape normalized_shape or None. ``eps=None`` is the machine epsilon of
    the input's dtype (PyTorch's torch.finfo(dtype).eps)."""
    op = "rms_norm"
    shape = normalized_shape_tuple(normalized_shape, op)
    _check_input(op, input, 1, f"(*, {', '.join(map(str, shape))})")
    if input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"{op}: normalized_shape={shape} expects an input of shape "
                         f"(*, {', '.join(map(str, shape))}), got {input.shape}")
    _check_affine(op, shape, weight, None, "normalized_shape")
    if eps is None:
        eps = float(backend.array_module(input.data).finfo(input.dtype).eps)
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    mean_square = reduction.mean(input * input, dims, keepdim=True)
    out = input / elementwise.sqrt(mean_square + eps)
    return out if weight is None else out * weight


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each item's groups of C/G channels (with all their positions), PyTorch's
    F.group_norm: input (N, C, *) -> same; weight, bias (C,) or None."""
    op = "group_norm"
    _check_input(op, input, 2, "(N, C, *)")
    if not isinstance(num_groups, numbers.Integral) or isinstance(num_groups, bool) \
            or num_groups < 1:
        raise ValueError(f"{op}: num_groups must be a positive int, got {num_groups!r}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"{op}: the input's {c} channels (shape {input.shape}) are not "
                         f"divisible by num_groups={num_groups}")
    _check_affine(op, (c,), weight, bias, "one per channel")
    grouped = shape_ops.reshape(input, (n, int(num_groups), -1))           # (N, G, C/G * ...)
    out, _, _ = _standardize(grouped, (2,), eps)
    out = shape_ops.reshape(out, input.shape)
    if weight is not None:
        out = out * _per_channel(weight, input.ndim)
    if bias is not None:
        out = out + _per_channel(bias, input.ndim)
    return out


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel of each item over its positions, PyTorch's F.instance_norm:
    input (N, C, *) -> same; running_mean, running_var, weight, bias (C,) or None.

    ``use_input_stats``: the statistics of each (item, channel); running statistics, when given,
    are updated in place with their batch average, running = (1 - momentum) * running +
    momentum * mean over N (the variance unbiased). Otherwise the running statistics normalize.
    """
    op = "instance_norm"
    _check_input(op, input, 3, "(N, C, *) with at least one spatial dim")
    c = input.shape[1]
    _check_affine(op, (c,), weight, bias, "one per channel")
    _check_affine(op, (c,), running_mean, running_var, "one per channel")
    dims = tuple(range(2, input.ndim))
    if use_input_stats:
        count = input.size // max(input.shape[0] * c, 1)
        if count <= 1:
            raise ValueError(f"{op}: expected more than 1 spatial element when training, got "
                             f"input shape {input.shape}")
        out, mean, var = _standardize(input, dims, eps)                      # mean (N, C, 1...)
        if running_mean is not None and running_var is not None:
            m = float(momentum)
            batch_mean = mean.data.reshape(input.shape[0], c).mean(axis=0)
            unbiased = var.data.reshape(input.shape[0], c).mean(axis=0) * (count / (count - 1))
            running_mean.data[...] = ((1 - m) * running_mean.data
                                      + m * batch_mean.astype(running_mean.dtype))
            running_var.data[...] = ((1 - m) * running_var.data
                                     + m * unbiased.astype(running_var.dtype))
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: use_input_stats=False needs running_mean and running_var")
        mean = _per_channel(running_mean.detach(), input.ndim)
        var = _per_channel(running_var.detach(), input.ndim)
        out = (input - mean) / elementwise.sqrt(var + eps)
    if weight is not None:
        out = out * _per_channel(weight, input.ndim)
    if bias is not None:
        out = out + _per_channel(bias, input.ndim)
    return out


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p`` and scale the rest by 1 / (1 - p) in training;
    the identity otherwise (PyTorch's F.dropout1d). input (N, C, L) or unbatched (C, L) -> same.
    The mask, (N, C, 1) or (C, 1), comes from the library's seeded generator (manual_seed).
    ``inplace`` is accepted for PyTorch compatibility; the result is always a new tensor."""
    op = "dropout1d"
    _check_dropout_arguments(op, input, p)
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 3-D input (N, C, L) or a 2-D unbatched one (C, L), "
                         f"got shape {input.shape}")
    if not training or p == 0.0:
        return input
    return _drop_channels(op, input, p, input.shape[:-1] + (1,))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p`` and scale the rest by 1 / (1 - p) in training;
    the identity otherwise (PyTorch's F.dropout2d). input (N, C, H, W) -> same; a 3-D input is
    read as (N, C, L), as PyTorch does (with its warning). The mask, (N, C, 1, 1), comes from the
    library's seeded generator (manual_seed)."""
    op = "dropout2d"
    _check_dropout_arguments(op, input, p)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) (or 3-D, read as (N, C, L)), "
                         f"got shape {input.shape}")
    if input.ndim == 3:
        warnings.warn("dropout2d: received a 3-D input; as PyTorch, it is read as (N, C, L) and "
                      "whole channels are dropped (use a 4-D input for (N, C, H, W))",
                      UserWarning, stacklevel=2)
    if not training or p == 0.0:
        return input
    return _drop_channels(op, input, p, input.shape[:2] + (1,) * (input.ndim - 2))


def _check_dropout_arguments(op: str, input, p) -> None:
    """A probability in [0, 1] (not a bool) and a Tensor, or an error naming them."""
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be between 0 and 1, got {p!r}")
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")


def _drop_channels(op: str, input: Tensor, p: float, mask_shape) -> Tensor:
    """input times a keep mask of ``mask_shape`` (1 / (1 - p) or 0, from the library's seeded
    generator), broadcast over the dims where ``mask_shape`` is 1."""
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point tensor, got {input.dtype}")
    if p == 1.0:
        xp = backend.array_module(input.data)
        return input * Tensor._from_array(xp.zeros(mask_shape, dtype=input.dtype))
    mask = backend.keep_mask(input.device, mask_shape, p, input.dtype)  # scale or 0
    return input * Tensor._from_array(mask)
