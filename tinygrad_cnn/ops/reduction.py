"""Reductions over one or more dims: sum, mean, max/min, var/std, logsumexp, argmax."""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.cuda import sums as cuda_sums
from tinygrad_cnn.ops import conversion, elementwise
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor, ValuesIndices


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def sum_array(xp, x, dims, keepdim: bool = False):
    """``x.sum(axis=dims, keepdims=keepdim)`` on an array (dims sorted): on the GPU a sum over
    leading and trailing axes (a bias gradient) runs as cuBLAS products (cuda/sums.py)."""
    if cuda_sums.usable(xp, x, dims):
        return cuda_sums.sum_outer(xp, x, dims, keepdim)
    return xp.sum(x, axis=dims, keepdims=keepdim)


class Sum(Function):
    """x summed over ``dims`` (kept as size 1 with ``keepdim``); the gradient broadcast back."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape_in = x.shape
        ctx.dims = dims
        return sum_array(ctx.xp, x, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        grad = shape_ops.reshape(grad, _keepdim_shape(ctx.shape_in, ctx.dims))
        return shape_ops.expand(grad, ctx.shape_in), None, None


class Amax(Function):
    """Maximum over dims; tied maxima share the gradient equally (PyTorch's amax)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        return _extremum_forward(ctx, ctx.xp.max, x, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _extremum_backward(ctx, grad)


class Amin(Function):
    """Minimum over dims, computed directly (-max(-x) is wrong for unsigned and the most
    negative integer); tied minima share the gradient equally (PyTorch's amin)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        return _extremum_forward(ctx, ctx.xp.min, x, dims, keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _extremum_backward(ctx, grad)


def _extremum_forward(ctx, pick, x, dims, keepdim):
    xp = ctx.xp
    y = pick(x, axis=dims, keepdims=True)
    hit = x == y
    share = hit / xp.sum(hit, axis=dims, keepdims=True)
    ctx.save_for_backward(share.astype(x.dtype, copy=False))
    ctx.dims = dims
    return y if keepdim else y.reshape([n for i, n in enumerate(y.shape) if i not in dims])


def _extremum_backward(ctx, grad):
    (share,) = ctx.saved_tensors
    grad = shape_ops.reshape(grad, _keepdim_shape(share.shape, ctx.dims))
    return grad * share, None, None


def reduce_dims(dim, x: Tensor, op: str) -> tuple[int, ...]:
    """The dims a reduction runs over: normalised, and none at all for a 0-d tensor.

    PyTorch accepts dim 0 and -1 (and None) for a 0-d tensor and reduces over nothing: the
    result is the tensor itself (one element). NumPy has no axis 0 there, so it gets ``()``.
    """
    dims = shape_ops.normalize_dims(dim, x.ndim, op)
    return dims if x.ndim else ()


def _check_reducible(x: Tensor, dims, op: str):
    for d in dims:
        if x.shape[d] == 0:
            raise ValueError(f"{op}: cannot reduce over dim {d} of size 0 (shape {x.shape})")


def sum(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (None: all dims; an int or a tuple, negative allowed). Integer and bool
    tensors sum in int64 (PyTorch's rule; NumPy's would keep uint64 for unsigned ones)."""
    dims = reduce_dims(dim, x, "sum")
    if x.dtype.kind in "ub" or (x.dtype.kind == "i" and x.dtype.itemsize < 8):
        x = conversion.cast(x, backend.int64)
    return Sum.apply(x, dims, keepdim)


def mean(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (None: all dims)."""
    dims = reduce_dims(dim, x, "mean")
    if x.dtype.kind not in "f":
        raise TypeError(f"mean: needs a floating-point tensor, got {x.dtype}; use .float() first")
    count = 1
    for d in dims:
        count *= x.shape[d]
    return Sum.apply(x, dims, keepdim) * (1.0 / count if count else float("nan"))


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (None: all dims; int or tuple); ties share the gradient."""
    dims = reduce_dims(dim, x, "amax")
    _check_reducible(x, dims, "amax")
    return Amax.apply(x, dims, keepdim)


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (None: all dims; int or tuple); ties share the gradient."""
    dims = reduce_dims(dim, x, "amin")
    _check_reducible(x, dims, "amin")
    return Amin.apply(x, dims, keepdim)


def max(x: Tensor, dim=None, keepdim: bool = False):
    """PyTorch's max: the maximum of all elements, or with an int ``dim`` a named tuple
    ``(values, indices)``. With a tuple ``dim`` it returns the values only (like ``amax``)."""
    if isinstance(dim, numbers.Integral):
        return ValuesIndices(amax(x, dim, keepdim), argmax(x, dim, keepdim))
    return amax(x, dim, keepdim)


def min(x: Tensor, dim=None, keepdim: bool = False):
    """PyTorch's min; see ``max``."""
    if isinstance(dim, numbers.Integral):
        return ValuesIndices(amin(x, dim, keepdim), argmin(x, dim, keepdim))
    return amin(x, dim, keepdim)


def var(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
        unbiased=None) -> Tensor:
    """Variance: sum((x - mean)^2) / (n - correction); ``unbiased=False`` means correction 0."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = reduce_dims(dim, x, "var")
    count = 1
    for d in dims:
        count *= x.shape[d]
    centered = x - mean(x, dims, keepdim=True)
    # n - correction <= 0 (e.g. one element, unbiased) gives nan/inf, as in PyTorch
    denominator = count - correction
    scale = 1.0 / denominator if denominator > 0 else float("inf") if count else float("nan")
    return sum(centered * centered, dims, keepdim) * scale


def std(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
        unbiased=None) -> Tensor:
    """Standard deviation: sqrt(var)."""
    return elementwise.sqrt(var(x, dim, keepdim, correction=correction, unbiased=unbiased))


def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, stable for large |x| (the max is subtracted first)."""
    dims = reduce_dims(dim, x, "logsumexp")
    _check_reducible(x, dims, "logsumexp")
    xp = backend.array_module(x.data)
    m = xp.max(x.data, axis=dims, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) along dim: shift by 0 instead
    # m is a constant: d/dm of m + log(sum(exp(x - m))) is 0, so the gradient is exact
    shift = Tensor._from_array(m)
    out = elementwise.log(sum(elementwise.exp(x - shift), dims, keepdim=True)) + shift
    return out if keepdim else shape_ops.squeeze(out, dims)


def _arg_reduce(x: Tensor, dim, keepdim: bool, name: str) -> Tensor:
    xp = backend.array_module(x.data)
    if dim is None:
        out = getattr(xp, name)(x.data.reshape(-1))
        out = out.reshape((1,) * x.ndim) if keepdim else out
    else:
        d = shape_ops.normalize_dim(dim, x.ndim, name)
        _check_reducible(x, reduce_dims(d, x, name), name)
        # a 0-d tensor: its one element is at index 0 (NumPy has no axis 0 to name)
        out = getattr(xp, name)(x.data, axis=d if x.ndim else None, keepdims=keepdim)
    return Tensor._from_array(xp.asarray(out, dtype=backend.DEFAULT_INT))


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the (first) maximum over ``dim``, or into the flattened tensor; no gradient."""
    return _arg_reduce(x, dim, keepdim, "argmax")


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the (first) minimum; no gradient."""
    return _arg_reduce(x, dim, keepdim, "argmin")


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether any element over ``dim`` (None: all dims; an int or a tuple) is nonzero: a bool
    tensor, no gradient."""
    dims = reduce_dims(dim, x, "any")
    return Tensor._from_array(backend.array_module(x.data).any(x.data, axis=dims, keepdims=keepdim))


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element over ``dim`` (None: all dims; an int or a tuple) is nonzero: a bool
    tensor, no gradient."""
    dims = reduce_dims(dim, x, "all")
    return Tensor._from_array(backend.array_module(x.data).all(x.data, axis=dims, keepdims=keepdim))

