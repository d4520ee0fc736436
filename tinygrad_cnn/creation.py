"""Tensor factories: tensor, zeros, ones, empty, full, arange, eye, rand, randn, randint,
randperm, linspace, ..._like. Sizes and bounds are checked as torch's factories check them: a
float where an int belongs is a TypeError naming the factory, never truncated."""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.tensor import Tensor
from tinygrad_cnn.tensor_shape_methods import _shape_args


def _prepare(op: str, shape, dtype, device, default_dtype=backend.DEFAULT_FLOAT):
    """(shape as a tuple of ints, dtype, device, array module) for factory ``op``."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    shape = _shape_args(shape)
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"{op}: a shape holds ints, got {size!r} ({type(size).__name__}) "
                            f"in {shape}")
    shape = tuple(int(size) for size in shape)
    if any(size < 0 for size in shape):
        raise ValueError(f"{op}: negative dimension in shape {shape}")
    dtype = backend.check_dtype(dtype if dtype is not None else default_dtype)
    device = backend.normalize_device(device)
    return shape, dtype, device, backend.xp_for_device(device)


def _count(op: str, name: str, value, *, none_ok: bool = False):
    """``value`` as a non-negative int (a size or a count), or a clear error naming it."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be a non-negative int{' or None' * none_ok}, got "
                        f"{value!r}")
    if value < 0:
        raise ValueError(f"{op}: {name} must be a non-negative int, got {value}")
    return int(value)


def _wrap(array, requires_grad) -> Tensor:
    return Tensor._from_array(array).requires_grad_(requires_grad)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor from Python data or an array (a copy); Python floats become float32."""
    if isinstance(data, Tensor):
        data = data.data
    t = Tensor(data, dtype=dtype, device=device)
    if t.data is data:
        t.data = t.data.copy()
    return t.requires_grad_(requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    shape, dtype, device, xp = _prepare("zeros", shape, dtype, device)
    return _wrap(xp.zeros(shape, dtype=dtype), requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    shape, dtype, device, xp = _prepare("ones", shape, dtype, device)
    return _wrap(xp.ones(shape, dtype=dtype), requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are not set (whatever the memory held, as ``torch.empty``): for
    outputs about to be written whole; ``empty(2, 3)`` or ``empty((2, 3))``."""
    shape, dtype, device, xp = _prepare("empty", shape, dtype, device)
    return _wrap(xp.empty(shape, dtype=dtype), requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it when not given)."""
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = bool
        elif isinstance(fill_value, numbers.Integral):
            dtype = backend.DEFAULT_INT
    shape, dtype, device, xp = _prepare("full", shape, dtype, device)
    return _wrap(backend.full(xp, shape, fill_value, dtype), requires_grad)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape, and its dtype and device unless given."""
    return zeros(t.shape, dtype=t.dtype if dtype is None else dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape, and its dtype and device unless given."""
    return ones(t.shape, dtype=t.dtype if dtype is None else dtype, device=device or t.device,
                requires_grad=requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An unset tensor (see :func:`empty`) with ``t``'s shape, and its dtype and device unless
    given."""
    return empty(t.shape, dtype=t.dtype if dtype is None else dtype, device=device or t.device,
                 requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` with ``t``'s shape, and its dtype and device unless given."""
    return full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype,
                device=device or t.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    for name, value in (("start", start), ("end", end), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"arange: {name} must be a real number, got {value!r}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = backend.DEFAULT_INT if is_int else backend.DEFAULT_FLOAT
    _, dtype, device, xp = _prepare("arange", (), dtype, device)
    return _wrap(xp.arange(start, end, step, dtype=dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """An n×m identity matrix (m = n when not given)."""
    n, m = _count("eye", "n", n), _count("eye", "m", m, none_ok=True)
    _, dtype, device, xp = _prepare("eye", (), dtype, device)
    return _wrap(xp.eye(n, m, dtype=dtype), requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the library's seeded generator (see manual_seed)."""
    shape, dtype, device, xp = _prepare("rand", shape, dtype, device)
    values = backend.generator(device).random(shape, dtype=dtype if dtype.itemsize >= 4 else None)
    return _wrap(values.astype(dtype, copy=False), requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the library's seeded generator."""
    shape, dtype, device, xp = _prepare("randn", shape, dtype, device)
    values = backend.generator(device).standard_normal(
        shape, dtype=dtype if dtype.itemsize >= 4 else None
    )
    return _wrap(values.astype(dtype, copy=False), requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (``randint(high, size=...)`` means low = 0)."""
    if high is None:
        low, high = 0, low
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"randint: {name} must be an int, got {value!r}")
    if low >= high:
        raise ValueError(f"randint: low ({low}) must be less than high ({high})")
    shape, dtype, device, xp = _prepare("randint", size, dtype, device, backend.DEFAULT_INT)
    values = backend.generator(device).integers(low, high, size=shape)
    return _wrap(values.astype(dtype, copy=False), False)


def randperm(n: int, dtype=None, device=None) -> Tensor:
    """A random permutation of 0..n-1, shape (n,), from the library's seeded generator."""
    n = _count("randperm", "n", n)
    _, dtype, device, xp = _prepare("randperm", (), dtype, device, backend.DEFAULT_INT)
    values = backend.permutation(backend.generator(device), n)
    return _wrap(values.astype(dtype, copy=False), False)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (float32 unless
    ``dtype`` is given; integer dtypes truncate toward zero)."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    start, end = (_scalar_value(v, name) for v, name in ((start, "start"), (end, "end")))
    _, dtype, device, xp = _prepare("linspace", (), dtype, device)
    values = xp.linspace(float(start), float(end), int(steps), dtype=xp.float64)
    return _wrap(values.astype(dtype), requires_grad)


def _scalar_value(value, name: str):
    """A number, or the value of a 0-d tensor, for linspace's bounds."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"linspace: {name} must be a number or a 0-d tensor, got shape "
                             f"{value.shape}")
        return value.item()
    return value
