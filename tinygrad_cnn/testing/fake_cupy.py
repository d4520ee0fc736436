"""A strict NumPy-backed stand-in for CuPy, to find CPU assumptions without a GPU (tests only).

With ``TINYGRAD_CNN_FAKE_GPU=1`` the backend takes this module for CuPy, so the "gpu" device
exists on any machine; ``TINYGRAD_CNN_FAKE_GPU=1 TINYGRAD_CNN_DEVICE=gpu pytest tests`` then runs
the suite with the GPU as the default device and fails wherever a test (or the library) treats
device data as NumPy data, as CuPy would:

- ``np.asarray(gpu_array)``, ``np.testing.*`` on it, ``float(np_array + gpu_array)`` ... raise
  TypeError (``__array__`` refuses, as CuPy's does); ``.get()`` is the explicit copy to the host;
- a NumPy array as an operand of a device operation or function raises TypeError
  ("Unsupported type"), except in ``array``/``asarray``/``asanyarray`` (host-to-device copies),
  and so does a Python list given to a ufunc;
- ``gpu_array[key] = numpy_array`` raises ValueError unless ``key`` is ``[:]``, as in CuPy;
- ``isinstance(x, numpy.ndarray)`` is False, ``flags`` has no ``writeable``, there is no
  ``ctypes``, and ``random.default_rng(...)`` has no ``permutation``/``shuffle``/``choice``.

Values are computed by NumPy, so numerics match the CPU exactly: this checks device handling,
not GPU numerics or speed. It is never imported unless the environment variable is set.
"""

from __future__ import annotations

import contextlib
import operator
import sys
import types

import numpy as np

from tinygrad_cnn.testing import fake_cuda_runtime

__version__ = "0.0-fake (NumPy " + np.__version__ + ")"

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")


def _unsupported(obj):
    return TypeError(f"Unsupported type {type(obj)} (fake CuPy: a NumPy array given to a device "
                     "operation; copy it with asarray first)")


def _unwrap(obj):
    """Device arrays (also inside tuples/lists) to their NumPy arrays; NumPy arrays are refused."""
    if type(obj) is ndarray:
        return obj._a
    if isinstance(obj, np.ndarray):
        raise _unsupported(obj)
    if type(obj) in (tuple, list):
        return type(obj)(_unwrap(o) for o in obj)
    return obj


def _unwrap_call(args, kwargs):
    return [_unwrap(a) for a in args], {k: _unwrap(v) for k, v in kwargs.items()}


def _wrap(result):
    """NumPy results as device arrays (a NumPy scalar as a 0-d array, as CuPy returns)."""
    if isinstance(result, np.ndarray):
        return ndarray(result)
    if isinstance(result, np.generic):
        return ndarray(np.asarray(result))
    if type(result) in (tuple, list):
        return type(result)(_wrap(r) for r in result)
    if isinstance(result, tuple):  # NumPy's named results (linalg.qr, ...): CuPy's are tuples
        return tuple(_wrap(r) for r in result)
    return result


# Device calls as they happen, for benchmarks/gpu_launches.py's count of what a step would launch
# on CuPy: each entry is (name, NumPy operands, NumPy result); see ``recording``.
_RECORDS: list | None = None


def _record(name, operands, result):
    if _RECORDS is not None:
        _RECORDS.append((name, [o for o in operands if isinstance(o, np.ndarray)],
                         result._a if type(result) is ndarray else result))
    return result


@contextlib.contextmanager
def recording():
    """Collect every device call made inside the block: yields the list it fills, of
    ``(name, operands, result)`` with NumPy operands and result (a result sharing memory with an
    operand is a view: on CuPy no kernel ran)."""
    global _RECORDS
    previous, _RECORDS = _RECORDS, []
    try:
        yield _RECORDS
    finally:
        _RECORDS = previous


_REDUCTIONS = {"sum", "max", "amax", "min", "amin", "mean", "prod", "any", "all", "argmax",
               "argmin", "std", "var", "cumsum", "cumprod", "ptp", "nansum", "nanmax", "nanmin"}


def _refuse_axis_of_0d(func, args, kwargs):
    """CuPy's reductions raise AxisError for axis=0 or -1 on a 0-d array, which NumPy accepts
    (seen on CuPy 14: log_softmax of a 0-d tensor failed on the GPU only)."""
    if getattr(func, "__name__", None) not in _REDUCTIONS:
        return
    owner = getattr(func, "__self__", None)
    if isinstance(owner, np.ndarray):   # a method: x.max(axis)
        array, axis = owner, kwargs.get("axis", args[0] if args else None)
    else:                               # a function: np.max(x, axis)
        array = args[0] if args else None
        axis = kwargs.get("axis", args[1] if len(args) > 1 else None)
    if isinstance(array, np.ndarray) and array.ndim == 0 and axis is not None and axis != ():
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension 0")


def _function(func):
    """``func`` (a NumPy function or bound method) taking and returning device arrays."""

    def call(*args, **kwargs):
        args, kwargs = _unwrap_call(args, kwargs)
        _refuse_axis_of_0d(func, args, kwargs)
        result = _wrap(func(*args, **kwargs))
        if _RECORDS is not None:
            owner = getattr(func, "__self__", None)
            _record(call.__name__, [owner, *args, *kwargs.values()], result)
        return result

    call.__name__ = getattr(func, "__name__", "function")
    call.__doc__ = getattr(func, "__doc__", None)
    return call


def _wrap_attr(value):
    """An attribute of NumPy (or of a NumPy submodule) as this module offers it."""
    if value is np.ndarray:
        return ndarray
    if isinstance(value, types.ModuleType):
        return _Namespace(value)
    if isinstance(value, np.ufunc):
        return _Ufunc(value)
    if isinstance(value, type) or not callable(value):
        return value  # dtypes, finfo/iinfo, constants
    return _function(value)


class _Namespace:
    """A NumPy submodule (lib, lib.stride_tricks, linalg, fft, ...) over device arrays."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return _wrap_attr(getattr(self._module, name))


class _Ufunc:
    """A NumPy ufunc over device arrays, with its reduce/accumulate/outer/at."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        for arg in args:
            if isinstance(arg, (list, tuple)):  # CuPy's ufuncs take arrays and scalars only
                raise _unsupported(arg)
        return _function(self._ufunc)(*args, **kwargs)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        return _function(value) if callable(value) else value


class _Flags:
    """CuPy's flags: c_contiguous, f_contiguous, owndata (no writeable, no aligned)."""

    def __init__(self, flags):
        self.c_contiguous = flags.c_contiguous
        self.f_contiguous = flags.f_contiguous
        self.owndata = flags.owndata

    def __getitem__(self, name):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


class _MemoryPointer:
    """What ``.data`` is on CuPy: a device pointer, not a buffer NumPy can read."""

    def __init__(self, array):
        self.ptr = array.__array_interface__["data"][0]


def _binary(op):
    def method(self, other):
        if isinstance(other, ndarray):
            return _record(op.__name__, [self._a, other._a], _wrap(op(self._a, other._a)))
        if isinstance(other, (np.ndarray, list)):
            raise _unsupported(other)
        if isinstance(other, (int, float, complex, bool, np.generic)):
            return _record(op.__name__, [self._a], _wrap(op(self._a, other)))
        return NotImplemented  # e.g. a Tensor: its reflected operator decides

    return method


def _reflected(op):
    def method(self, other):
        if isinstance(other, (np.ndarray, list)):
            raise _unsupported(other)
        if isinstance(other, (int, float, complex, bool, np.generic)):
            return _record(op.__name__, [self._a], _wrap(op(other, self._a)))
        return NotImplemented

    return method


def _inplace(op):
    def method(self, other):
        other = _unwrap(other) if not isinstance(other, list) else _raise(other)
        op(self._a, other)
        _record(op.__name__, [self._a, other], None)
        return self

    return method


def _raise(obj):
    raise _unsupported(obj)


def _unary(op):
    def method(self):
        return _record(op.__name__, [self._a], _wrap(op(self._a)))

    return method


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: a NumPy array that refuses to be taken for one."""

    __slots__ = ("_a",)
    __array_priority__ = 100  # below Tensor's 1000: ``array <op> Tensor`` asks the Tensor

    def __init__(self, array):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"fake CuPy ndarray wraps a NumPy array, got {type(array)}")
        self._a = array

    # -- the host boundary
    def get(self, stream=None, order="C", out=None):
        """A NumPy copy of the values (CuPy's device-to-host transfer)."""
        _record("device_to_host", [], None)
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, array, stream=None):
        """Copy a NumPy array of the same shape in (CuPy's host-to-device transfer)."""
        if not isinstance(array, np.ndarray) or array.shape != self._a.shape:
            raise ValueError("set: expected a NumPy array of the same shape")
        self._a[...] = array

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs, kwargs = _unwrap_call(inputs, kwargs)
        if "out" in kwargs:
            kwargs["out"] = tuple(kwargs["out"])
        return _wrap(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        args, kwargs = _unwrap_call(args, kwargs)
        return _wrap(func(*args, **kwargs))

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0

    def __dlpack__(self, **kwargs):
        raise BufferError("fake CuPy: device memory cannot be exported through DLPack")

    def __reduce__(self):
        return (_rebuild, (self._a,))

    # -- attributes CuPy has differently
    @property
    def flags(self):
        """CuPy's flags: c_contiguous, f_contiguous and owndata (no writeable)."""
        return _Flags(self._a.flags)

    @property
    def data(self):
        """A device pointer (``.ptr``), as CuPy's ``.data``, not a buffer NumPy can read."""
        return _MemoryPointer(self._a)

    @property
    def device(self):
        """The one fake ``cupy.cuda.Device`` (id 0)."""
        return fake_cuda_runtime.Device(0)

    @property
    def T(self):  # noqa: N802 - NumPy's name
        """The transpose, a device array."""
        return ndarray(self._a.T)

    @property
    def base(self):
        """The device array this one views, or None when it owns its memory."""
        return None if self._a.base is None else ndarray(self._a.base)

    def __getattr__(self, name):
        if name.startswith("__") or name in ("ctypes", "itemset", "newbyteorder"):
            raise AttributeError(f"fake CuPy ndarray has no attribute {name!r}")
        value = getattr(self._a, name)
        return _function(value) if callable(value) else _wrap(value)

    # -- Python protocols
    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (ndarray(np.asarray(self._a[i])) for i in range(len(self._a)))

    def __contains__(self, value):
        return bool((self._a == _unwrap(value)).any())

    def __bool__(self):
        _record("device_to_host", [], None)
        return bool(self._a)

    def __float__(self):
        _record("device_to_host", [], None)
        return float(self._a)

    def __int__(self):
        _record("device_to_host", [], None)
        return int(self._a)

    def __index__(self):
        return operator.index(self._a)

    def __complex__(self):
        return complex(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    __hash__ = None

    def __getitem__(self, key):
        index = _index(key)
        indices = list(index) if type(index) is tuple else [index]
        return _record("getitem", [self._a, *indices], _wrap(self._a[index]))

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim > 0:
            if not (isinstance(key, slice) and key == slice(None)):
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            self._a[key] = value
            return
        self._a[_index(key)] = _unwrap(value) if not isinstance(value, np.ndarray) else value
        _record("setitem", [self._a, _unwrap(value) if type(value) is ndarray else None], None)

    # -- operators
    __add__ = _binary(operator.add)
    __sub__ = _binary(operator.sub)
    __mul__ = _binary(operator.mul)
    __truediv__ = _binary(operator.truediv)
    __floordiv__ = _binary(operator.floordiv)
    __mod__ = _binary(operator.mod)
    __pow__ = _binary(operator.pow)
    __matmul__ = _binary(operator.matmul)
    __and__ = _binary(operator.and_)
    __or__ = _binary(operator.or_)
    __xor__ = _binary(operator.xor)
    __lshift__ = _binary(operator.lshift)
    __rshift__ = _binary(operator.rshift)
    __eq__ = _binary(operator.eq)
    __ne__ = _binary(operator.ne)
    __lt__ = _binary(operator.lt)
    __le__ = _binary(operator.le)
    __gt__ = _binary(operator.gt)
    __ge__ = _binary(operator.ge)
    __radd__ = _reflected(operator.add)
    __rsub__ = _reflected(operator.sub)
    __rmul__ = _reflected(operator.mul)
    __rtruediv__ = _reflected(operator.truediv)
    __rfloordiv__ = _reflected(operator.floordiv)
    __rmod__ = _reflected(operator.mod)
    __rpow__ = _reflected(operator.pow)
    __rmatmul__ = _reflected(operator.matmul)
    __rand__ = _reflected(operator.and_)
    __ror__ = _reflected(operator.or_)
    __rxor__ = _reflected(operator.xor)
    __iadd__ = _inplace(operator.iadd)
    __isub__ = _inplace(operator.isub)
    __imul__ = _inplace(operator.imul)
    __itruediv__ = _inplace(operator.itruediv)
    __ifloordiv__ = _inplace(operator.ifloordiv)
    __imod__ = _inplace(operator.imod)
    __ipow__ = _inplace(operator.ipow)
    __iand__ = _inplace(operator.iand)
    __ior__ = _inplace(operator.ior)
    __ixor__ = _inplace(operator.ixor)
    __neg__ = _unary(operator.neg)
    __pos__ = _unary(operator.pos)
    __abs__ = _unary(operator.abs)
    __invert__ = _unary(operator.invert)


ndarray.__module__ = "cupy._fake"  # backend.is_gpu_array knows device arrays by their module


def _index(key):
    """An index for the NumPy array underneath (device arrays in it unwrapped; NumPy index arrays
    are accepted, as CuPy copies them to the device)."""
    if type(key) is ndarray:
        return key._a
    if type(key) is tuple:
        return tuple(k._a if type(k) is ndarray else k for k in key)
    return key


def _rebuild(array):
    return ndarray(array)


# --------------------------------------------------------------------------- the module

def _zero_by_memset(a: np.ndarray) -> np.ndarray:
    """``a`` with -0.0 made +0.0, as CuPy leaves it where it fills with a zero: ``fill(0)`` is a
    memset, and so are 0-d transfers and ``full`` (chainer/chainer#1435; an H100 and an H200
    gave +0.0 for a 0-d -0.0 sent to the device)."""
    if a.dtype.kind == "f":
        a[a == 0] = 0
    return a


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0):
    """A device copy of host data or of a device array (CuPy's host-to-device transfer)."""
    host = _host(obj)
    a = np.array(host, dtype=dtype, copy=True if copy else None, order=order, ndmin=ndmin)
    if type(obj) is not ndarray and a.ndim == 0:
        a = _zero_by_memset(a.copy())
    return _record("array" if type(obj) is ndarray else "host_to_device", [host], ndarray(a))


def asarray(a, dtype=None, order=None):
    """``a`` on the device (no copy when it is a device array already of that dtype)."""
    if type(a) is ndarray:
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return _record("astype", [a._a], ndarray(a._a.astype(dtype)))
    host = np.array(_host(a), dtype=dtype, order=order, copy=True)
    if host.ndim == 0:
        host = _zero_by_memset(host)
    return _record("host_to_device", [], ndarray(host))


def full(shape, fill_value, dtype=None, order="C"):
    """NumPy's full, with CuPy's memset for a zero (-0.0 becomes +0.0)."""
    a = np.full(shape, _unwrap(fill_value), dtype=dtype, order=order)
    if np.ndim(_unwrap(fill_value)) == 0 and _unwrap(fill_value) == 0:
        a = _zero_by_memset(a)
    return _record("full", [], ndarray(a))


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    """NumPy's full_like on a device array's shape and dtype, with CuPy's memset for a zero."""
    like = _unwrap(a)
    return full(like.shape if shape is None else shape, fill_value,
                like.dtype if dtype is None else dtype)


asanyarray = asarray


def _host(obj):
    """Host data for a transfer: device arrays inside lists become their values."""
    if type(obj) is ndarray:
        return obj._a
    if type(obj) in (tuple, list):
        return type(obj)(_host(o) for o in obj)
    return obj


def asnumpy(a, stream=None, order="C", out=None):
    """``cupy.asnumpy``: a NumPy copy of a device array; host data as a NumPy array."""
    return a.get(order=order, out=out) if type(a) is ndarray else np.asarray(a, order=order)


def get_array_module(*args):
    """This module when any argument is a device array, else NumPy."""
    return sys.modules[__name__] if any(type(a) is ndarray for a in args) else np


def from_dlpack(obj):
    """``cupy.from_dlpack``: always a BufferError here (no device memory to import into)."""
    raise BufferError("fake CuPy: cannot import DLPack capsules")


class _Generator:
    """CuPy's ``random.Generator``: only its methods (no permutation, shuffle or choice), and a
    stream of its own (Philox): like CuPy's, its draws differ from NumPy's for the same seed, so
    a test that expects the CPU's values from the GPU fails here too."""

    _METHODS = ("random", "standard_normal", "integers", "uniform", "standard_exponential",
                "exponential", "standard_gamma", "gamma", "beta", "binomial", "poisson",
                "geometric", "dirichlet", "chisquare", "f", "hypergeometric", "logseries", "power")

    def __init__(self, seed=None):
        self._generator = np.random.Generator(np.random.Philox(seed))

    def __getattr__(self, name):
        if name not in self._METHODS:
            raise AttributeError(f"'Generator' object has no attribute {name!r}")
        return _function(getattr(self._generator, name))


class _Random(_Namespace):
    def default_rng(self, seed=None):
        return _Generator(seed)


random = _Random(np.random)


cuda = fake_cuda_runtime.cuda


def __getattr__(name):
    """Every other NumPy name, over device arrays."""
    return _wrap_attr(getattr(np, name))


class _Cupyx:
    """``cupyx.scatter_add``: target[index] += values with repeated indices added."""

    @staticmethod
    def scatter_add(target, index, values):
        np.add.at(target._a, _index(index), _unwrap(values))


# backend.scatter_add takes ``cupyx`` from here rather than importing it: installing the fake as
# sys.modules["cupyx"] would replace the real one for the whole process (a test module importing
# this one on a GPU machine broke every CuPy ufunc that imports cupyx.scipy)
FAKE_CUPYX = _Cupyx()
