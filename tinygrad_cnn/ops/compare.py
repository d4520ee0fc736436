"""Comparisons, logic and tests: ==, !=, <, <=, >, >=, and/or/not, isnan/isfinite/isinf,
isclose. Their results are bool tensors with no gradient, broadcasting as the arithmetic does.
"""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.ops.elementwise import as_tensor_operands, broadcast_shapes
from tinygrad_cnn.tensor import Tensor


def _compare(ufunc_name, a, b):
    a, b = as_tensor_operands(a, b)
    broadcast_shapes(ufunc_name, a.shape, b.shape)
    xp = backend.array_module(a.data, b.data)
    return Tensor._from_array(getattr(xp, ufunc_name)(a.data, b.data))


def eq(a, b) -> Tensor:
    """a == b elementwise, broadcasting (bool tensor, no gradient)."""
    return _compare("equal", a, b)


def ne(a, b) -> Tensor:
    """a != b elementwise, broadcasting (bool tensor, no gradient)."""
    return _compare("not_equal", a, b)


def lt(a, b) -> Tensor:
    """a < b elementwise, broadcasting (bool tensor, no gradient)."""
    return _compare("less", a, b)


def le(a, b) -> Tensor:
    """a <= b elementwise, broadcasting (bool tensor, no gradient)."""
    return _compare("less_equal", a, b)


def gt(a, b) -> Tensor:
    """a > b elementwise, broadcasting (bool tensor, no gradient)."""
    return _compare("greater", a, b)


def ge(a, b) -> Tensor:
    """a >= b elementwise, broadcasting (bool tensor, no gradient)."""
    return _compare("greater_equal", a, b)


def logical_and(a, b) -> Tensor:
    """a and b elementwise (non-zero is true), broadcasting (bool tensor)."""
    return _compare("logical_and", a, b)


def logical_or(a, b) -> Tensor:
    """a or b elementwise (non-zero is true), broadcasting (bool tensor)."""
    return _compare("logical_or", a, b)


def logical_not(x: Tensor) -> Tensor:
    """not x elementwise (non-zero is true), same shape (bool tensor)."""
    return Tensor._from_array(backend.array_module(x.data).logical_not(x.data))


def isnan(x: Tensor) -> Tensor:
    """True where x is NaN, same shape (bool tensor, no gradient)."""
    return Tensor._from_array(backend.array_module(x.data).isnan(x.data))


def isfinite(x: Tensor) -> Tensor:
    """True where x is neither infinite nor NaN, same shape (bool tensor)."""
    return Tensor._from_array(backend.array_module(x.data).isfinite(x.data))


def isinf(x: Tensor) -> Tensor:
    """True where x is +inf or -inf (bool tensor, no gradient)."""
    return Tensor._from_array(backend.array_module(x.data).isinf(x.data))


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol * |b| elementwise (bool tensor, no gradient), broadcasting."""
    a, b = as_tensor_operands(a, b)
    broadcast_shapes("isclose", a.shape, b.shape)
    xp = backend.array_module(a.data, b.data)
    return Tensor._from_array(xp.isclose(a.data, b.data, rtol=rtol, atol=atol,
                                         equal_nan=equal_nan))
