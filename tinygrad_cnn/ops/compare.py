"""Comparisons, logic and tests: ==, !=, <, <=, >, >=, and/or/xor/not, isnan/isfinite/isinf,
isclose, count_nonzero. Their results are tensors with no gradient (bool; int64 counts),
broadcasting as the arithmetic does; allclose and equal answer with one Python bool.
"""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.ops.elementwise import as_tensor_operands, broadcast_shapes
from tinygrad_cnn.ops.shape import normalize_dims
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


def logical_xor(a, b) -> Tensor:
    """a xor b elementwise (non-zero is true), broadcasting (bool tensor)."""
    return _compare("logical_xor", a, b)


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
    """|a - b| <= atol + rtol * |b| elementwise (bool tensor, no gradient), broadcasting;
    ``rtol`` and ``atol`` non-negative, as PyTorch requires."""
    _check_tolerances("isclose", rtol, atol)
    a, b = as_tensor_operands(a, b)
    broadcast_shapes("isclose", a.shape, b.shape)
    xp = backend.array_module(a.data, b.data)
    return Tensor._from_array(xp.isclose(a.data, b.data, rtol=rtol, atol=atol,
                                         equal_nan=equal_nan))


def _check_tolerances(op: str, rtol, atol) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not value >= 0:
            raise ValueError(f"{op}: {name} must be non-negative, got {value}")


def _tensors(op: str, input, other) -> None:
    for name, value in (("input", input), ("other", other)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True when ``isclose`` holds everywhere: |input - other| <= atol + rtol * |other| for
    every element of the broadcast shape (a Python bool). Both are tensors of one dtype, as in
    PyTorch; NaN is close to NaN only with ``equal_nan=True``."""
    _tensors("allclose", input, other)
    if input.dtype != other.dtype:
        raise TypeError(f"allclose: input dtype {input.dtype} differs from other dtype "
                        f"{other.dtype} (shapes {input.shape} and {other.shape})")
    _check_tolerances("allclose", rtol, atol)
    broadcast_shapes("allclose", input.shape, other.shape)
    if input.dtype == bool:
        return bool(eq(input, other).data.all())
    return bool(isclose(input, other, rtol=rtol, atol=atol, equal_nan=equal_nan).data.all())


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and equal values (a Python bool): no
    broadcasting; dtypes promote as ``==`` does (1.0 equals 1); NaN equals nothing."""
    _tensors("equal", input, other)
    if input.shape != other.shape:
        return False
    return bool(eq(input, other).data.all())


def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """The number of non-zero elements (NaN counts) over ``dim`` (None or (): all of them; an
    int or a tuple of ints), as an int64 tensor of the remaining dims."""
    if not isinstance(input, Tensor):
        raise TypeError(f"count_nonzero: input must be a Tensor, got {type(input).__name__}")
    dims = normalize_dims(dim, input.ndim, "count_nonzero")
    xp = backend.array_module(input.data)
    axis = None if dim is None or input.ndim == 0 or not dims else dims
    counts = (input.data != 0).sum(axis=axis, dtype=backend.DEFAULT_INT)
    return Tensor._from_array(xp.asarray(counts))
