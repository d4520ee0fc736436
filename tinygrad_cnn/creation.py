"""Tensor factories: tensor, as_tensor, zeros, ones, empty, full, arange, eye, rand, randn,
randint, randperm, linspace, ..._like (rand_like, randn_like, randint_like too), and the
tensor-level helpers is_tensor and numel. Sizes and bounds are checked as torch's factories
check them: a float where an int belongs is a TypeError naming the factory, never truncated."""

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


def _floating_dtype(op: str, dtype):
    """A random float factory's dtype, or a TypeError: uniform and normal samples are real
    numbers (PyTorch refuses integer and bool dtypes too)."""
    if not backend.is_floating(dtype):
        integers = "randint_like" if op.endswith("_like") else "randint"
        raise TypeError(f"{op}: dtype must be floating point (float16, float32, float64), got "
                        f"{dtype.name}; use {integers} for integers")
    return dtype


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the library's seeded generator (see manual_seed)."""
    return _uniform("rand", shape, dtype, device, requires_grad)


def _uniform(op, shape, dtype, device, requires_grad) -> Tensor:
    shape, dtype, device, xp = _prepare(op, shape, dtype, device)
    _floating_dtype(op, dtype)
    values = backend.generator(device).random(shape, dtype=dtype if dtype.itemsize >= 4 else None)
    return _wrap(values.astype(dtype, copy=False), requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the library's seeded generator."""
    return _normal("randn", shape, dtype, device, requires_grad)


def _normal(op, shape, dtype, device, requires_grad) -> Tensor:
    shape, dtype, device, xp = _prepare(op, shape, dtype, device)
    _floating_dtype(op, dtype)
    values = backend.generator(device).standard_normal(
        shape, dtype=dtype if dtype.itemsize >= 4 else None
    )
    return _wrap(values.astype(dtype, copy=False), requires_grad)


def _int_bounds(op: str, low, high):
    """(low, high) as ints with low < high, or the error PyTorch's randint would give."""
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if low >= high:
        raise ValueError(f"{op}: low ({low}) must be less than high ({high})")
    return int(low), int(high)


def _check_range_fits(op: str, low: int, high: int, dtype) -> None:
    """[low, high) must hold values of an integer or bool ``dtype`` (no silent wrap-around)."""
    if dtype.kind == "b":
        smallest, largest = 0, 1
    elif dtype.kind in "iu":
        bits = 8 * dtype.itemsize
        smallest = -(2 ** (bits - 1)) if dtype.kind == "i" else 0
        largest = 2 ** (bits - 1) - 1 if dtype.kind == "i" else 2**bits - 1
    else:
        return
    if low < smallest or high - 1 > largest:
        raise ValueError(f"{op}: the range [{low}, {high}) does not fit in {dtype.name} "
                         f"([{smallest}, {largest}])")


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (``randint(high, size=...)`` means low = 0)."""
    if high is None:
        low, high = 0, low
    low, high = _int_bounds("randint", low, high)
    shape, dtype, device, xp = _prepare("randint", size, dtype, device, backend.DEFAULT_INT)
    _check_range_fits("randint", low, high, dtype)
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


# ---------------------------------------------------------------------- random ..._like


def _like_source(op: str, input) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    return input


def rand_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) with ``input``'s shape, and its dtype and device unless given
    (a floating dtype: an integer input needs ``dtype=``, as in PyTorch)."""
    _like_source("rand_like", input)
    return _uniform("rand_like", input.shape, input.dtype if dtype is None else dtype,
                    device or input.device, requires_grad)


def randn_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with ``input``'s shape, and its dtype and device unless given
    (a floating dtype, as for :func:`rand_like`)."""
    _like_source("randn_like", input)
    return _normal("randn_like", input.shape, input.dtype if dtype is None else dtype,
                   device or input.device, requires_grad)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, device=None,
                 requires_grad: bool = False) -> Tensor:
    """Integers in [low, high) with ``input``'s shape, and its dtype (a float input gives float
    values of integers) and device unless given. PyTorch's two forms:
    ``randint_like(input, high)`` and ``randint_like(input, low, high)``."""
    _like_source("randint_like", input)
    if high is None:
        low, high = 0, low
    low, high = _int_bounds("randint_like", low, high)
    shape, dtype, device, xp = _prepare("randint_like", input.shape,
                                        input.dtype if dtype is None else dtype,
                                        device or input.device)
    _check_range_fits("randint_like", low, high, dtype)
    if requires_grad and not backend.is_floating(dtype):
        raise TypeError(f"randint_like: only floating-point tensors can require gradients, the "
                        f"dtype is {dtype.name}")
    values = backend.generator(device).integers(low, high, size=shape)
    return _wrap(values.astype(dtype, copy=False), requires_grad)


# ---------------------------------------------------------------------- tensors as they are


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing its memory where it can (``torch.as_tensor``): a NumPy or
    CuPy array already of ``dtype`` on ``device`` is wrapped, not copied, so writes to one show
    in the other; a Tensor is returned itself, or ``data.to(device, dtype)`` (differentiable)
    when one of them differs. Python data is copied as by :func:`tensor` (floats: float32)."""
    if isinstance(data, Tensor):
        same_dtype = dtype is None or backend.check_dtype(dtype) == data.dtype
        same_device = device is None or backend.normalize_device(device) == data.device
        if same_dtype and same_device:
            return data
        return data.to(device=device, dtype=dtype)
    try:
        return Tensor(data, dtype=dtype, device=device)
    except TypeError as e:
        raise TypeError(f"as_tensor: {e}") from None


def is_tensor(obj) -> bool:
    """True when ``obj`` is a tinygrad_cnn Tensor (a Parameter too), False for arrays, numbers
    and anything else."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """The number of elements of ``input`` (the product of its shape; 1 for a 0-d tensor)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"numel: input must be a Tensor, got {type(input).__name__}")
    return input.numel()
