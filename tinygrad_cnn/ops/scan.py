"""Scans and products: cumsum, cumprod, prod.

dtype rule (PyTorch's): integer and bool inputs accumulate in int64; floating inputs keep their
dtype; ``dtype=`` converts the input first.
"""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled
from tinygrad_cnn.ops import conversion, elementwise, reduction, shape_extra
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _accumulate_dtype(x: Tensor, dtype, op: str) -> Tensor:
    if dtype is not None:
        return conversion.cast(x, dtype)
    if x.dtype.kind in "biu":
        return conversion.cast(x, backend.DEFAULT_INT)
    return x


def _reverse_cumsum(g: Tensor, dim: int) -> Tensor:
    """out[i] = sum_{j >= i} g[j] along ``dim``."""
    return shape_extra.flip(cumsum(shape_extra.flip(g, dim), dim), dim)


class Cumsum(Function):
    """Running sums of x along ``dim``, same shape; the gradient is the reversed running
    sum of the upstream gradient."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return ctx.xp.cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return _reverse_cumsum(grad, ctx.dim), None


class Cumprod(Function):
    """Running products of x along ``dim``, same shape; the gradient divides by x where x
    holds no zero, else takes the slower exact form."""

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
        if is_grad_enabled():  # create_graph: the form whose own derivatives are right
            return _cumprod_grad_with_zeros(x, grad, ctx.dim), None
        return _cumprod_grad_first_zero(x, y, grad, ctx.dim), None


def _cumprod_grad_with_zeros(x: Tensor, grad: Tensor, dim: int) -> Tensor:
    """sum_{j >= i} grad_j * prod_{k <= j, k != i} x_k without dividing by x (x may hold zeros):
    row i of an (n, n) matrix is x with x_i replaced by 1, cumulated along the row.
    Memory n^2 per line along ``dim``; taken only when x holds a zero and a graph of the
    backward is recorded (create_graph=True), since its derivatives are right everywhere."""
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


def _cumprod_grad_first_zero(x: Tensor, y: Tensor, grad: Tensor, dim: int) -> Tensor:
    """The same gradient in O(n) memory, exact but with wrong derivatives of its own (used when
    no graph is recorded). With z the first zero of a line: before z the division form holds
    (x_i != 0, and y_j = 0 from z on); at z, y_{z-1} * sum_{j >= z} grad_j prod_{z < k <= j} x_k;
    after z every term holds the factor x_z = 0."""
    xp = backend.array_module(x.data)
    x_last, y_last = shape_ops.transpose(x, dim, -1), shape_ops.transpose(y, dim, -1)
    g_last = shape_ops.transpose(grad, dim, -1)                            # (..., n)
    n = x_last.shape[-1]
    is_zero = x_last.data == 0
    first = xp.where(is_zero.any(-1, keepdims=True), xp.argmax(is_zero, -1)[..., None], n)
    position = xp.arange(n)
    before = Tensor._from_array(position < first)
    at = Tensor._from_array(position == first)
    from_z = Tensor._from_array(position >= first)
    safe_x = elementwise.where(before, x_last, 1.0)
    zero = elementwise.zeros_like_tensor(x_last)
    head = elementwise.where(before, _reverse_cumsum(g_last * y_last, -1) / safe_x, zero)
    tail = cumprod(elementwise.where(Tensor._from_array(position <= first), 1.0, x_last), -1)
    ones = Tensor._from_array(xp.ones(x_last.shape[:-1] + (1,), dtype=x.dtype))
    y_before = shape_ops.cat([ones, y_last[..., :-1]], -1)                # y_{i-1}
    at_z = y_before * reduction.sum(g_last * tail * from_z, -1, keepdim=True)
    out = head + elementwise.where(at, at_z, zero)
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
