"""Array backends: NumPy on "cpu", CuPy on "gpu" (alias "cuda").

This is the only module that imports NumPy or CuPy at module level (CuPy lazily, on first use).
Everything above it asks ``array_module(*arrays)`` which library holds the data, so one op
implementation serves both devices.
"""

from __future__ import annotations

import os
import threading

import numpy as np

CPU = "cpu"
GPU = "gpu"
_ALIASES = {"cpu": CPU, "gpu": GPU, "cuda": GPU, "cuda:0": GPU, "gpu:0": GPU}
DEVICE_ENV_VAR = "TINYGRAD_CNN_DEVICE"
FAKE_GPU_ENV_VAR = "TINYGRAD_CNN_FAKE_GPU"  # see tinygrad_cnn/testing/fake_cupy.py

SUPPORTED_DTYPES = (
    np.dtype(np.bool_),
    np.dtype(np.uint8),
    np.dtype(np.int8),
    np.dtype(np.int16),
    np.dtype(np.int32),
    np.dtype(np.int64),
    np.dtype(np.float16),
    np.dtype(np.float32),
    np.dtype(np.float64),
)
DEFAULT_FLOAT = np.dtype(np.float32)
DEFAULT_INT = np.dtype(np.int64)

# dtype names re-exported as tc.float32 etc. (NumPy's scalar types, which CuPy accepts too)
float16 = np.float16
float32 = np.float32
float64 = np.float64
int8 = np.int8
int16 = np.int16
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool_ = np.bool_


class DeviceMismatchError(RuntimeError):
    """Raised when one operation receives arrays that live on different devices."""


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not fit the operation (matmul, reshape, view, permute, broadcasting, ...).

    A ValueError, as elsewhere in the library, and a RuntimeError, which PyTorch raises for the
    same mistakes: ``except ValueError`` and ``except RuntimeError`` both catch it.
    """


# --------------------------------------------------------------------------- devices


def normalize_device(device) -> str:
    """Map a user's device name ("cpu", "gpu", "cuda", "cuda:0") to "cpu" or "gpu"."""
    if device is None:
        return get_default_device()
    name = str(device).strip().lower()
    if name not in _ALIASES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'gpu' (alias 'cuda')")
    return _ALIASES[name]


def device_and_dtype(device, dtype, where: str):
    """PyTorch's ``to`` arguments as (device or None, dtype or None): ``to(device)``,
    ``to(device, dtype)``, or a dtype in the device's place, ``to(dtype)``; a name that is
    neither raises, naming ``where``."""
    if device is None or str(device).strip().lower() in _ALIASES:
        return device, dtype
    try:
        as_dtype = check_dtype(device)
    except TypeError:
        raise ValueError(f"{where}: {device!r} is neither a device ('cpu' or 'gpu', alias "
                         "'cuda') nor a dtype") from None
    if dtype is not None:
        raise TypeError(f"{where}: got two dtypes, {device!r} in the device's place and "
                        f"{dtype!r}")
    return None, as_dtype


_default_device: str | None = None


def get_default_device() -> str:
    """The device new tensors go to: set_default_device(), else $TINYGRAD_CNN_DEVICE, else cpu."""
    if _default_device is not None:
        return _default_device
    env = os.environ.get(DEVICE_ENV_VAR)
    if env:
        try:
            device = normalize_device(env)
        except ValueError as e:
            raise ValueError(f"${DEVICE_ENV_VAR}={env!r}: {e}") from None
        if device == GPU:
            require_gpu()
        return device
    return CPU


def set_default_device(device) -> None:
    """Make ``device`` the default for factories and layers; ``None`` restores the default."""
    global _default_device
    if device is None:
        _default_device = None
        return
    device = normalize_device(device)
    if device == GPU:
        require_gpu()
    _default_device = device


# --------------------------------------------------------------------------- CuPy, lazily

_cupy = None
_gpu_array_types: tuple = ()  # (cupy.ndarray,) once CuPy is usable: array_module's fast path
_cupy_error: str | None = None
_cupy_checked = False
_probe_lock = threading.Lock()

_INSTALL_HINT = (
    "install CuPy for your CUDA version: pip install 'tinygrad_cnn[gpu]' (CUDA 12, cupy-cuda12x) "
    "or pip install cupy-cuda13x (CUDA 13); see docs/gpu.md"
)


def _probe_cupy() -> None:
    """Import CuPy once and find out whether a usable CUDA device is behind it. Threads asking
    at once wait for the one probing (they must not see a probe begun but unfinished)."""
    global _cupy_checked
    if _cupy_checked:
        return
    with _probe_lock:
        if not _cupy_checked:
            _probe_cupy_now()
            _cupy_checked = True


def _probe_cupy_now() -> None:
    global _cupy, _cupy_error, _gpu_array_types
    try:
        if os.environ.get(FAKE_GPU_ENV_VAR):  # tests only: a strict NumPy stand-in for CuPy
            from tinygrad_cnn.testing import fake_cupy as cupy  # noqa: PLC0415
        else:
            import cupy  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as e:
        _cupy_error = f"CuPy is not installed ({e}); {_INSTALL_HINT}"
        return
    except Exception as e:  # a broken CuPy install raises other errors at import time
        _cupy_error = f"CuPy failed to import ({type(e).__name__}: {e}); {_INSTALL_HINT}"
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        text = str(e)
        if "InsufficientDriver" in text or "driver version is insufficient" in text:
            _cupy_error = (
                f"the NVIDIA driver is too old for this CuPy build ({text}); update the driver "
                "or install the CuPy wheel for an older CUDA (cupy-cuda11x / cupy-cuda12x)"
            )
        else:
            _cupy_error = f"no CUDA device is usable ({type(e).__name__}: {text})"
        return
    if count == 0:
        _cupy_error = "CuPy is installed but no CUDA device was found"
        return
    _cupy = cupy
    _gpu_array_types = (cupy.ndarray,)
    _apply_matmul_tf32(cupy, quiet=True)


# --------------------------------------------------------------------------- TF32 matmuls
# float32 matrix products on the GPU may use TF32 tensor cores (10-bit mantissa inputs) when
# allowed: tc.backends.cuda.matmul.allow_tf32. Off by default, like PyTorch's matmuls; CuPy's own
# switch, $CUPY_TF32=1 (which CuPy reads once, when its first product runs), sets the initial
# value so that it keeps meaning what it says.

_matmul_tf32 = os.environ.get("CUPY_TF32", "0").strip() not in ("", "0")


def matmul_tf32() -> bool:
    """Whether float32 GPU matrix products may use TF32 (``tc.backends.cuda.matmul.allow_tf32``)."""
    return _matmul_tf32


def set_matmul_tf32(allow: bool) -> None:
    """Allow (or forbid) TF32 in float32 GPU matrix products; applied to CuPy at once if loaded."""
    global _matmul_tf32
    if not isinstance(allow, (bool, np.bool_)):
        raise TypeError(f"allow_tf32 must be True or False, got {allow!r}")
    _matmul_tf32 = bool(allow)
    if _cupy is not None:
        _apply_matmul_tf32(_cupy, quiet=False)


def _apply_matmul_tf32(cupy, quiet: bool) -> None:
    """Set CuPy's cuBLAS compute type for float32 (TF32 or CuPy's default, exact float32).

    CuPy keeps one compute type per dtype and reads it at every product (cupy.matmul, dot,
    tensordot): ``cupy._core._routines_linalg.set_compute_type``, a semi-private function CuPy's
    own tests use. Where a CuPy release lacks it, setting the switch raises with the fallback.
    The tests' fake CuPy (no cuBLAS) is left alone.
    """
    if getattr(cupy, "__name__", "") != "cupy":
        return
    try:
        from cupy._core import _routines_linalg as linalg  # noqa: PLC0415

        kind = linalg.COMPUTE_TYPE_TF32 if _matmul_tf32 else linalg.COMPUTE_TYPE_DEFAULT
        linalg.set_compute_type(np.float32, kind)
    except (ImportError, AttributeError) as e:
        if not quiet:
            raise RuntimeError(
                f"this CuPy ({getattr(cupy, '__version__', '?')}) has no compute-type switch "
                f"({e}); set CUPY_TF32=1 (or 0) in the environment before CuPy is imported"
            ) from e


def gpu_available() -> bool:
    """True when CuPy imports and at least one CUDA device answers."""
    _probe_cupy()
    return _cupy is not None


def gpu_device_count() -> int:
    """How many CUDA devices CuPy sees (0 without a usable GPU)."""
    return require_gpu().cuda.runtime.getDeviceCount() if gpu_available() else 0


def synchronize() -> None:
    """Wait for the current GPU's queued work to finish (nothing to wait for without a GPU)."""
    if _cupy is not None:
        _cupy.cuda.Device().synchronize()


class device(str):  # noqa: N801 - PyTorch's name
    """PyTorch's ``torch.device``: ``tc.device("cuda" if tc.cuda.is_available() else "cpu")``.
    A str (so ``.to(device)`` and ``device=`` take it) with ``type`` ("cpu" or "cuda") and
    ``index`` (an int for "cuda:1", else None); an unknown name raises ValueError."""

    def __new__(cls, name, index: int | None = None):
        text = str(name).strip().lower()
        if index is not None:
            text = f"{text}:{index}"
        normalize_device(text)  # raises for an unknown name
        self = super().__new__(cls, text)
        _, _, number = text.partition(":")
        self.type = "cpu" if normalize_device(text) == CPU else "cuda"
        self.index = int(number) if number else None
        return self

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + (
            f", index={self.index})" if self.index is not None else ")")


def gpu_unavailable_reason() -> str | None:
    """Why the GPU cannot be used here, or None when it can."""
    _probe_cupy()
    return _cupy_error


def available_devices() -> list[str]:
    """The devices that work on this machine, e.g. ['cpu'] or ['cpu', 'gpu']."""
    return [CPU, GPU] if gpu_available() else [CPU]


def require_gpu():
    """Return the cupy module, or raise a RuntimeError that says why the GPU is unusable."""
    _probe_cupy()
    if _cupy is None:
        raise RuntimeError(f"GPU requested but unavailable: {_cupy_error}")
    return _cupy


# --------------------------------------------------------------------------- arrays


def is_gpu_array(array) -> bool:
    """True for CuPy arrays, without importing CuPy."""
    return is_gpu_type(type(array))


def is_backend_array(value) -> bool:
    """True for a NumPy ndarray or a CuPy array: what a Tensor's ``data`` holds."""
    return isinstance(value, np.ndarray) or is_gpu_type(type(value))


def is_gpu_type(array_type) -> bool:
    """True for CuPy's array type (known by its module, without importing CuPy)."""
    return array_type.__module__.split(".")[0] == "cupy"


def device_of(array) -> str:
    """'gpu' for a CuPy array, 'cpu' for anything else."""
    return GPU if is_gpu_array(array) else CPU


def xp_for_device(device: str):
    """The array module (numpy or cupy) of a device name."""
    return require_gpu() if normalize_device(device) == GPU else np


def array_module(*arrays):
    """numpy or cupy, whichever holds ``arrays``; scalars and None are ignored.

    Raises DeviceMismatchError naming both devices when the arrays live on different ones.
    """
    if all(type(a) is np.ndarray for a in arrays):  # the common case, without the set below
        return np
    if _gpu_array_types and all(type(a) in _gpu_array_types for a in arrays):  # all on the GPU
        return _cupy
    devices = {device_of(a) for a in arrays if a is not None and hasattr(a, "shape")}
    if len(devices) > 1:
        raise DeviceMismatchError(
            "expected all tensors on one device, got tensors on both cpu and gpu; "
            "move them first with .to('gpu') or .to('cpu')"
        )
    if devices == {GPU}:
        return require_gpu()
    return np


def is_floating(dtype) -> bool:
    """True for float16/32/64 (the dtypes that can carry gradients)."""
    return np.dtype(dtype).kind == "f"


def is_array(obj) -> bool:
    """True for NumPy arrays and scalars and CuPy arrays (not for Python data or Tensors)."""
    return isinstance(obj, (np.ndarray, np.generic)) or is_gpu_array(obj)


def ndim_of(obj) -> int:
    """Number of dims of an array, a NumPy scalar (0) or nested Python lists."""
    return obj.ndim if hasattr(obj, "ndim") else np.ndim(obj)


def host_array(data, dtype=None) -> np.ndarray:
    """Python data (numbers, nested lists) or a NumPy array as a NumPy array (no copy if it is
    one already)."""
    return np.asarray(data, dtype=dtype)


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    """NumPy's broadcast of shapes; raises ValueError when they do not broadcast."""
    return tuple(np.broadcast_shapes(*shapes))


def unwritable_reason(array) -> str | None:
    """Why ``array`` cannot be written in place, or None: a read-only NumPy array, or a view
    whose zero strides make several positions one element (``expand``, ``broadcast_to``)."""
    if any(stride == 0 and size > 1
           for stride, size in zip(array.strides, array.shape, strict=True)):
        return "several of its positions share one element (an expand() or broadcast view)"
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        return "its memory is read-only"
    return None


def can_store(dtype, into) -> bool:
    """Whether values of ``dtype`` may be written into an array of dtype ``into`` (NumPy's
    "same_kind" casting: float into int, or int into bool, may not)."""
    return bool(np.can_cast(dtype, into, "same_kind"))


def array2string(array, **kwargs) -> str:
    """np.array2string of an array on either device (copied to the host first)."""
    return np.array2string(to_numpy(array), **kwargs)


def check_dtype(dtype) -> np.dtype:
    """Normalise ``dtype`` to a NumPy dtype the library supports, or raise TypeError."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"unsupported dtype {dtype!r}: {e}") from None
    if dt not in SUPPORTED_DTYPES:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise TypeError(f"unsupported dtype {dt.name!r}: tensors hold one of {names}")
    return dt


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the same values (copied off the GPU when needed)."""
    if is_gpu_array(array):
        return array.get()
    return np.asarray(array)


def to_device(array, device: str):
    """``array`` on ``device``; the same object when it is already there."""
    device = normalize_device(device)
    if device == device_of(array):
        return array
    if device == GPU:
        if getattr(array, "ndim", None) == 0:  # CuPy sends a 0-d array by fill: -0.0 -> +0.0
            return require_gpu().asarray(array.reshape(1)).reshape(())
        return require_gpu().asarray(array)
    return array.get()


def ones_from_host(shape, dtype, device: str):
    """Ones of ``shape`` on ``device``, made by NumPy and copied there: for a few elements (the
    seed of a backward pass), where CuPy's ``ones`` is a fill kernel to compile on first use."""
    return to_device(np.ones(shape, dtype), device)


def full(xp, shape, value, dtype=None):
    """``xp.full(shape, value, dtype)`` that keeps a -0.0 fill value's sign on CuPy too, whose
    fill with a zero is a memset (+0.0 bits; chainer/chainer#1435). A Python or NumPy scalar
    ``value``; shape ``()`` gives a 0-d array, as for scalar operands."""
    if xp is np:  # a scalar operand of every `tensor * 2.0`: asarray is 5x faster than full
        return np.asarray(value, dtype=dtype) if shape == () else np.full(shape, value, dtype)
    if value == 0 and np.signbit(value):  # copied from the host: a CuPy kernel that flips
        return to_device(np.full(shape, value, dtype), GPU)  # the sign gave +0.0 on an H200
    return xp.full(shape, value, dtype=dtype)


def as_strided(xp, array, shape, strides):
    """A view of ``array`` with the given shape and byte strides (NumPy's or CuPy's as_strided)."""
    return xp.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def scatter_add(xp, target, index, values) -> None:
    """target[index] += values, adding repeated indices in order: np.add.at on the CPU; on the GPU
    the deterministic kernel of cuda/scatter.py for float data (cupyx.scatter_add for the rest)."""
    if xp is np:
        np.add.at(target, index, values)
        return
    from tinygrad_cnn.cuda import scatter  # noqa: PLC0415 - import cycle

    if scatter.usable(xp, target.dtype):  # deterministic: the same additions as np.add.at
        scatter.scatter_add(xp, target, index, values)
    else:
        cupyx = getattr(xp, "FAKE_CUPYX", None)  # the tests' fake CuPy brings its own
        if cupyx is None:
            import cupyx  # noqa: PLC0415 - only reached with CuPy arrays
        cupyx.scatter_add(target, index, values)


# --------------------------------------------------------------------------- randomness

_seed: int | None = None
_np_generator = np.random.default_rng()
_gpu_generator = None  # a cuda.random.PhiloxGenerator, made on first use


def manual_seed(seed: int) -> None:
    """Seed every random draw of the library (factories, init, dropout, shuffling)."""
    global _seed, _np_generator, _gpu_generator
    if int(seed) < 0:  # NumPy's generators take no negative seed
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _seed = int(seed)
    _np_generator = np.random.default_rng(_seed)
    _gpu_generator = None  # re-created from the seed on its next use


def _new_gpu_generator():
    from tinygrad_cnn.cuda.random import PhiloxGenerator  # noqa: PLC0415 - GPU use only

    return PhiloxGenerator(_seed if _seed is not None else int(_np_generator.integers(2**63)))


def generator(device: str = CPU):
    """The library's random generator for ``device``: a NumPy ``Generator`` on the CPU; on the
    GPU a counter-based one with NumPy's methods (``random``, ``standard_normal``,
    ``integers``) and a state a checkpoint can hold (``cuda.random.PhiloxGenerator``)."""
    global _gpu_generator
    if normalize_device(device) == CPU:
        return _np_generator
    require_gpu()
    if _gpu_generator is None:
        _gpu_generator = _new_gpu_generator()
    return _gpu_generator


def permutation(generator, n: int):
    """A random permutation of 0..n-1, shape (n,), drawn from ``generator``.

    NumPy's Generator has ``permutation``; the GPU's has not, so there it is the order that
    sorts n uniform draws (ties in float64 draws are vanishingly rare, and harmless: argsort
    still returns a permutation)."""
    if hasattr(generator, "permutation"):
        return generator.permutation(n)
    return generator.random(n).argsort()


def keep_mask(device: str, shape, p: float, dtype):
    """Dropout's mask of ``shape`` in ``dtype``: ``1 / (1 - p)`` where a uniform draw from the
    library's generator for ``device`` is at least ``p``, else 0 (0 <= p < 1). On the GPU one
    kernel launch; the same values as the expression below on either device."""
    gen = generator(device)
    if hasattr(gen, "keep_mask"):
        return gen.keep_mask(shape, p, dtype)
    dtype = np.dtype(dtype)
    return (gen.random(shape) >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))


def get_rng_state() -> dict:
    """The state of the library's generators (and its seed) as plain data, for a checkpoint;
    ``set_rng_state`` puts it back, so the draws that follow repeat exactly on either device (as
    ``torch.get_rng_state`` with ``torch.cuda.get_rng_state``). ``"gpu"`` is None until the GPU
    generator is first used (it is then made from the seed, or from the CPU generator)."""
    return {"seed": _seed, "cpu": _np_generator.bit_generator.state,
            "gpu": None if _gpu_generator is None else _gpu_generator.state()}


def set_rng_state(state: dict) -> None:
    """Restore what ``get_rng_state`` returned, in place (holders of the CPU generator see it).
    A state without ``"gpu"`` (written before the GPU's was saved) re-creates the GPU generator
    from the seed on its next use."""
    global _seed, _gpu_generator
    if not isinstance(state, dict) or "cpu" not in state:
        raise TypeError(f"set_rng_state: expected the dict get_rng_state returns, "
                        f"got {state!r:.80}")
    gpu = state.get("gpu")
    restored = None
    if gpu is not None:
        from tinygrad_cnn.cuda.random import PhiloxGenerator  # noqa: PLC0415

        restored = PhiloxGenerator(0)
        restored.set_state(gpu)  # checked before anything changes
    _np_generator.bit_generator.state = state["cpu"]
    _seed = state.get("seed")
    _gpu_generator = restored


def is_random_generator(obj) -> bool:
    """True for a NumPy ``Generator`` (the kind whose state a checkpoint can hold)."""
    return isinstance(obj, np.random.Generator)


def random_generator_state(gen) -> dict:
    """The state of a NumPy Generator as plain data (its bit generator's ``state``)."""
    return gen.bit_generator.state


def set_random_generator_state(gen, state: dict) -> None:
    """Put back what ``random_generator_state`` returned, in place."""
    gen.bit_generator.state = state
