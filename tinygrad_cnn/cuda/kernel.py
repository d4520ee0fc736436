"""CUDA kernels written once in CUDA C, compiled per scalar type on first use and cached.

A :class:`Kernel` is the source of one ``extern "C" __global__`` function in which ``T`` is the
scalar type (``float`` or ``double``, chosen from the data) and every work item is independent:
the body is a grid-stride loop ``TC_GRID_STRIDE(i, n) { ... }`` over ``n`` items, with no shared
memory, ``__syncthreads`` or warp intrinsics. That subset keeps each kernel's logic reviewable and
lets the test suite run the very same source on the CPU (compiled by a C++ compiler, one thread
walking all items: ``tests/cuda_host.py``) and compile it with NVRTC, without a GPU.

On a GPU a kernel loads from the cubins shipped in the package where they hold its current
source for the GPU's architecture (:mod:`.prebuilt`: no compile at all). Otherwise the first
launch of a kernel for a scalar type starts compiling every registered kernel without a cubin
for that type, each on its own, on a few threads (NVRTC releases the GIL; CuPy caches each
compiled kernel on disk by its source): a fresh process's first step then waits about as long as
the slowest compile instead of their sum.

Arguments, so that one launcher serves CuPy and the host runner alike: every scalar parameter
of a kernel is ``T`` or ``long long`` and every array parameter a pointer to ``T``, ``double``,
``long long`` or ``int``. The launcher reads the kernel's signature and converts each scalar to
its parameter's type (a Python ``0`` for a ``T`` bound is sent as a ``T``, never as the 8 bytes
of a ``long long``); it refuses a float for a ``long long``, an array of another dtype than its
pointer's, a non-contiguous array or a wrong number of arguments, naming the kernel and the
parameter.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from tinygrad_cnn import backend

from . import nvrtc, prebuilt

# Compiled by NVRTC and by the host runner's C++ compiler alike.
PRELUDE = r"""
#define TC_GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)blockDim.x * gridDim.x)
#define TC_INF (__int_as_float(0x7f800000))
// v > 0 from v's bits: true for positive subnormals too, whether or not the compile flushes
// subnormals to zero in comparisons (CuPy passes -ftz=true to its own kernels); false for NaN
__device__ __forceinline__ bool tc_positive(float v) {
    const int bits = __float_as_int(v);
    return bits > 0 && bits <= 0x7f800000;
}
__device__ __forceinline__ bool tc_positive(double v) {
    const long long bits = __double_as_longlong(v);
    return bits > 0 && bits <= 0x7ff0000000000000LL;
}
// a < b read from the bits (sign and magnitude as one ordered integer, -0.0 == +0.0, false
// with a NaN): exact for subnormals under any flush-to-zero setting
__device__ __forceinline__ long long tc_order(float v) {
    const int bits = __float_as_int(v);
    const long long magnitude = bits & 0x7fffffff;
    return bits < 0 ? -magnitude : magnitude;
}
__device__ __forceinline__ long long tc_order(double v) {
    const long long bits = __double_as_longlong(v);
    const long long magnitude = bits & 0x7fffffffffffffffLL;
    return bits < 0 ? -magnitude : magnitude;
}
template <typename F> __device__ __forceinline__ bool tc_less(F a, F b) {
    return a == a && b == b && tc_order(a) < tc_order(b);
}
"""

_CTYPE = {"float32": "float", "float64": "double"}
FLOAT_CHARS = ("f", "d")  # float32, float64 by dtype.char: dtype.name costs microseconds a call
_THREADS = 256
_MAX_BLOCKS = 65535 * 32

ENV_SWITCH = "TINYGRAD_CNN_CUDA_KERNELS"

_KERNEL_MODULES = ("activation", "bias", "loss", "optim", "pool", "scatter", "windows",
                   "arith", "batchnorm", "random", "cat")
ALL_KERNELS: list[Kernel] = []  # every kernel defined, so a test can compile each one
_host_runner = None


_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_POINTEE = {"T": None, "double": np.dtype(np.float64), "long long": np.dtype(np.int64),
            "int": np.dtype(np.int32)}


def parameters(name: str, source: str) -> tuple[tuple[str, str, object], ...]:
    """The parameters of kernel ``name`` in ``source``: (parameter name, kind, pointee dtype)
    with kind "T" or "int" for scalars and "array" for pointers (pointee None: the launch's T)."""
    found = [params for kernel, params in _SIGNATURE.findall(source) if kernel == name]
    if len(found) != 1:
        raise ValueError(f"CUDA kernel {name!r}: expected one extern \"C\" __global__ function "
                         f"of that name in its source, found {len(found)}")
    out = []
    for parameter in found[0].split(","):
        if not parameter.strip():  # a kernel without parameters
            continue
        words = parameter.replace("*", " * ").split()
        if words and words[0] == "const":
            words = words[1:]
        pointer = "*" in words
        base = " ".join(w for w in words[:-1] if w != "*")
        if base not in _POINTEE or (not pointer and base not in ("T", "long long")):
            raise ValueError(f"CUDA kernel {name!r}: parameter {parameter.strip()!r} must be T, "
                             "long long, or a pointer to T, double, long long or int")
        kind = "array" if pointer else ("T" if base == "T" else "int")
        out.append((words[-1], kind, _POINTEE[base] if pointer else None))
    return tuple(out)


class Kernel:
    """One CUDA C kernel named ``name`` in ``source``; call it as ``kernel(dtype, n, *args)``.
    ``deferred``: a kernel only some models use (batch norm, random draws, ReLU6, RMSprop and
    Adagrad, double backward, repeated-index sums, same-shape sums and products), queued after
    the others when the first launch compiles them all, so it does not hold up a common one."""

    def __init__(self, name: str, source: str, *, register: bool = True, deferred: bool = False):
        self.name = name
        self.body = source
        self.deferred = deferred
        self.parameters = parameters(name, source)
        # the launch's first array, whose type says where the kernel runs (None: no array)
        self._first_array = next((i for i, (_, kind, _) in enumerate(self.parameters)
                                  if kind == "array"), None)
        self._functions: dict[tuple, object] = {}  # (dtype.char, device id): CuPy function
        if register:
            ALL_KERNELS.append(self)

    def source(self, dtype) -> str:
        """The whole translation unit for ``dtype`` (float32 or float64)."""
        name = getattr(dtype, "name", str(dtype))
        if name not in _CTYPE:
            raise TypeError(f"CUDA kernel {self.name!r} supports float32 and float64, got {name}")
        return f"typedef {_CTYPE[name]} T;\n{PRELUDE}\n{self.body}"

    def __call__(self, dtype, n: int, *args) -> None:
        """Run the kernel over ``n`` independent work items on the arrays' device."""
        if n <= 0:
            return
        dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        converted = self._arguments(dtype, args)
        first = None if self._first_array is None else converted[self._first_array]
        if first is not None and backend.is_gpu_type(type(first)) and not hasattr(first, "_a"):
            # CuPy's arrays (the tests' fake CuPy has ``_a``: it goes to the host runner)
            self._launch_cupy(dtype, int(n), converted)
        elif _host_runner is not None:  # tests: NumPy arrays, or the fake CuPy's device arrays
            _host_runner.launch(self, dtype, int(n), converted)
        else:
            raise TypeError(f"CUDA kernel {self.name!r} needs CuPy arrays")

    def _arguments(self, dtype, args) -> tuple:
        """``args`` as the signature's types: scalars as NumPy T or int64, arrays checked."""
        if len(args) != len(self.parameters):
            raise TypeError(f"CUDA kernel {self.name!r} takes {len(self.parameters)} arguments "
                            f"({', '.join(p[0] for p in self.parameters)}), got {len(args)}")
        scalar, out = dtype.type, list(args)
        for i, (name, kind, pointee) in enumerate(self.parameters):
            a = out[i]
            if kind == "array":
                if isinstance(a, np.generic):  # NumPy's 0-d results: no memory to point at
                    raise TypeError(f"CUDA kernel {self.name!r}: {name} must be an array, got "
                                    f"the NumPy scalar {a!r}")
                if getattr(a, "dtype", None) != (dtype if pointee is None else pointee):
                    raise TypeError(f"CUDA kernel {self.name!r}: {name} must be an array of "
                                    f"{dtype if pointee is None else pointee}, got "
                                    f"{getattr(a, 'dtype', type(a).__name__)}")
                if not a.flags.c_contiguous:
                    raise ValueError(f"CUDA kernel {self.name!r} needs C-contiguous arrays "
                                     f"({name} is not)")
            elif kind == "int":
                if type(a) is not int and not isinstance(a, np.integer):  # bool is not int
                    raise TypeError(f"CUDA kernel {self.name!r}: {name} is a long long, got "
                                    f"{a!r}")
                out[i] = np.int64(a)
            else:
                out[i] = scalar(a)
        return tuple(out)

    def _launch_cupy(self, dtype, n: int, args) -> None:
        dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        key = (dtype.char, current_device())
        function = self._functions.get(key)
        if function is None:
            function = self._functions[key] = _cupy_function(self, dtype, key[1])
        blocks = max(1, min(-(-n // _THREADS), _MAX_BLOCKS))
        function((blocks,), (_THREADS,), args)


_compiling: dict[tuple, dict[int, Future]] = {}  # (dtype.char, device): {id(kernel): future}
_runtime = None  # cupy.cuda.runtime, once a kernel has run on CuPy


def current_device() -> int:
    """The current CUDA device's id (CuPy's runtime, imported on first use)."""
    global _runtime
    if _runtime is None:
        import cupy  # noqa: PLC0415 - only reached with CuPy arrays

        _runtime = cupy.cuda.runtime
    return _runtime.getDevice()


def registered_kernels() -> list[Kernel]:
    """Every kernel of this package (its modules imported), and any registered before."""
    for module in _KERNEL_MODULES:
        importlib.import_module(f"{__package__}.{module}")

    return list(ALL_KERNELS)


def _compile(kernel: Kernel, dtype, device: int):
    """``kernel``'s CuPy function for ``dtype`` on CUDA device ``device``: compiled by NVRTC,
    or loaded from CuPy's kernel cache."""
    import cupy  # noqa: PLC0415

    with cupy.cuda.Device(device):  # a compile thread has no current device of its own
        module = cupy.RawModule(code=kernel.source(dtype), options=nvrtc.OPTIONS)
        return module.get_function(kernel.name)


def compile_threads(kernels: int) -> int:
    """Threads compiling ``kernels`` kernels at once: one each, leaving one CPU core to the
    process's own work (the step waiting for them), at least one."""
    return max(1, min(kernels, (os.cpu_count() or 2) - 1))


def _cupy_function(kernel: Kernel, dtype, device: int):
    """``kernel``'s CuPy function for ``dtype`` on ``device``: its shipped cubin where there is
    one (:mod:`.prebuilt`), else compiled. The first compile for a (dtype, device) starts
    compiling every registered kernel without a cubin for it on a thread pool, ``kernel``
    first; a kernel registered later compiles on its own."""
    function = prebuilt.load(kernel, dtype, device)
    if function is not None:
        return function
    futures = _compiling.get((dtype.char, device))
    if futures is None:
        kernels = sorted((k for k in registered_kernels()
                          if k is kernel or not prebuilt.available(k, dtype, device)),
                         key=lambda k: (k is not kernel, k.deferred))
        pool = ThreadPoolExecutor(max_workers=compile_threads(len(kernels)),
                                  thread_name_prefix="tinygrad_cnn-nvrtc")
        futures = _compiling[dtype.char, device] = {
            id(k): pool.submit(_compile, k, dtype, device) for k in kernels}
        pool.shutdown(wait=False)  # the threads finish their compiles, then end
    future = futures.get(id(kernel))
    return _compile(kernel, dtype, device) if future is None else future.result()


def compiles_started() -> int:
    """How many compiles of our kernels this process has started (0 where every kernel it
    launched came from a shipped cubin)."""
    return sum(len(futures) for futures in _compiling.values())


def wait_for_compiles() -> None:
    """Return once every kernel compile started in the background has finished (for timings:
    compile threads running beside a timed step take CPU time and the GIL from it)."""
    for futures in list(_compiling.values()):
        for future in futures.values():
            future.exception()  # waits; a failed compile raises where that kernel launches


def enabled_for(xp) -> bool:
    """True when ops on ``xp``'s arrays should use these kernels.

    That is CuPy, unless ``TINYGRAD_CNN_CUDA_KERNELS=0`` asks for the generic array-module
    path; and NumPy only inside :func:`running_on_host` (the tests' CPU runner).
    """
    if _host_runner is None and getattr(xp, "__name__", "") != "cupy":
        return False  # NumPy's path asks first: no environment lookup on the CPU's hot path
    return os.environ.get(ENV_SWITCH, "1") != "0"


@contextlib.contextmanager
def running_on_host(runner):
    """Run kernels on NumPy arrays with ``runner`` (``runner.launch(kernel, dtype, n, args)``).

    For tests: inside this block ops take their CUDA-kernel path on the CPU, so the kernels'
    logic and the launchers' arguments are checked without a GPU.
    """
    global _host_runner
    previous, _host_runner = _host_runner, runner
    try:
        yield runner
    finally:
        _host_runner = previous
