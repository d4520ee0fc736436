"""Scans and products: cumsum, cumprod, prod.

dtype rule (PyTorch's): integer and bool inputs accumulate in int64; floating inputs keep their
dtype; ``dtype=`` converts the input first.
"""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import elementwise, reduction, shape_extra
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _accumulate_dtype(x: Tensor, dtype, op: str) -> Tensor:
    if dtype is not None:
        return elementwise.cast(x, dtype)
    if x.dtype.kind in "biu":
        return elementwise.cast(x, backend.DEFAULT_INT)
    return x


def _reverse_cumsum(g: Tensor, dim: int) -> Tensor:
    """out[i] = sum_{j >= i} g[j] along ``dim``."""
    return shape_extra.flip(cumsum(shape_extra.flip(g, dim), dim), dim)


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return ctx.xp.cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return _reverse_cumsum(grad, ctx.dim), None


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        ctx.has_zero = bool((x == 0).any())
        y = ctx.xp.cumprod(x, axis=dim)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        if not ctx.has_zero:
            # d y_j / d x_i = y_j / x_i for j >= i
            return _reverse_cumsum(grad * y, ctx.dim) / x, None
        return _cumprod_grad_with_zeros(x, grad, ctx.dim), None


def _cumprod_grad_with_zeros(x: Tensor, grad: Tensor, dim: int) -> Tensor:
    """sum_{j >= i} grad_j * prod_{k <= j, k != i} x_k without dividing by x (x may hold zeros):
    row i of an (n, n) matrix is x with x_i replaced by 1, cumulated along the row.
    Memory n^2 per slice along ``dim``; taken only when x holds a zero."""
    x_last = shape_ops.transpose(x, dim, -1)                       # (..., n)
    g_last = shape_ops.transpose(grad, dim, -1)                    # (..., n)
    n = x_last.shape[-1]
    xp = backend.array_module(x.data)
    eye = Tensor._from_array(xp.eye(n, dtype=bool))
    rows = elementwise.where(eye, 1.0, shape_ops.unsqueeze(x_last, -2))   # (..., n_i, n_k)
    partial = cumprod(rows, -1)                                    # (..., n_i, n_j)
    upper = Tensor._from_array(xp.triu(xp.ones((n, n), dtype=x.dtype)))  # j >= i
    out = reduction.sum(partial * upper * shape_ops.unsqueeze(g_last, -2), -1)  # (..., n_i)
    return shape_ops.transpose(out, dim, -1)


def _scan(x: Tensor, dim, dtype, op: str, fn) -> Tensor:
    d = shape_ops.normalize_dim(dim, x.ndim, op)
    x = _accumulate_dtype(x, dtype, op)
    if x.ndim == 0:
        return shape_ops.reshape(fn.apply(shape_ops.reshape(x, (1,)), 0), ())
    return fn.apply(x, d)


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sum along ``dim``: ``out[i] = input[0] + ... + input[i]``."""
    return _scan(input, dim, dtype, "cumsum", Cumsum)


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running product along ``dim``: ``out[i] = input[0] * ... * input[i]``; the gradient is
    exact where the input holds zeros (no division by them)."""
    return _scan(input, dim, dtype, "cumprod", Cumprod)


class Prod(Function):
    """Product over the last dim; the gradient of each factor is the product of the others."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.prod(x, axis=-1)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return shape_ops.unsqueeze(grad, -1) * _product_of_others(x)


def _product_of_others(x: Tensor) -> Tensor:
    """prod_{k != i} x_k along the last dim, as (product before i) * (product after i)."""
    ones = Tensor._from_array(backend.array_module(x.data).ones(x.shape[:-1] + (1,), x.dtype))

    def exclusive(t):
        return shape_ops.cat([ones, cumprod(t, -1)[..., :-1]], -1)

    return exclusive(x) * shape_extra.flip(exclusive(shape_extra.flip(x, -1)), -1)


def prod(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of all elements, or over ``dim`` (an int; a tuple of ints is also accepted)."""
    dims = shape_ops.normalize_dims(dim, input.ndim, "prod")
    x = _accumulate_dtype(input, dtype, "prod")
    dims = dims if x.ndim else ()
    rest = [i for i in range(x.ndim) if i not in dims]
    moved = shape_ops.permute(x, rest + list(dims))
    n = 1
    for d in dims:
        n *= x.shape[d]
    moved = shape_ops.reshape(moved, tuple(x.shape[i] for i in rest) + (n,))  # (..., n)
    out = Prod.apply(moved)
    if keepdim:
        out = shape_ops.reshape(out, tuple(1 if i in dims else n for i, n in enumerate(x.shape)))
    return out
