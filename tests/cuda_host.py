"""Run tinygrad_cnn's CUDA kernels on the CPU, and compile them with NVRTC, without a GPU.

``HostRunner`` compiles a kernel's source (the same text CuPy compiles) as C++ with a small
prelude in which the grid has one thread, so ``TC_GRID_STRIDE`` walks every work item in order;
it then calls the kernel through ctypes on NumPy arrays. Use it with
``tinygrad_cnn.cuda.running_on_host(HostRunner())``: ops then take their CUDA path on the CPU.

``nvrtc_compile`` compiles a source with NVIDIA's runtime compiler from the
``nvidia-cuda-nvrtc-cu12`` wheel (no GPU or driver needed) and returns its log.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from tinygrad_cnn.cuda import nvrtc

HOST_PRELUDE = r"""
#include <cmath>
#include <cstring>
using std::exp; using std::log; using std::sqrt; using std::fabs; using std::fmax; using std::fmin;
using std::pow; using std::tanh; using std::isnan; using std::isinf; using std::floor;
using std::ceil;
struct tc_uint3 { unsigned int x, y, z; };
static const tc_uint3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0};
static const tc_uint3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __forceinline__ inline
static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, sizeof f); return f; }
static inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, sizeof v); return v; }
static inline long long __double_as_longlong(double f) {
    long long v; std::memcpy(&v, &f, sizeof v); return v;
}
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
template <typename V> static inline V atomicAdd(V* p, V v) { V old = *p; *p += v; return old; }
"""

COMPILER = shutil.which("g++") or shutil.which("c++")
NO_COMPILER_REASON = "no C++ compiler (g++) to run the CUDA kernels on the CPU"


class HostRunner:
    """Runs kernels serially on NumPy arrays; each distinct source is compiled once.

    ``numpy_only``: a launch with the fake CuPy's device arrays is an error. A test that runs
    GPU-default tensors through a runner passes on the fake CuPy (its arrays reach the runner)
    but not on a GPU machine, where CuPy's arrays launch on the device and the runner records
    nothing. Off only where the fake CuPy's arrays are meant to reach the runner: the whole
    session under $TINYGRAD_CNN_HOST_KERNELS (outside on_host) and benchmarks/gpu_launches.py.
    """

    def __init__(self, numpy_only: bool = True):
        self._libraries: dict[str, ctypes.CDLL] = {}
        self._directory = tempfile.mkdtemp(prefix="tc_cuda_host_")
        self.launches: list[str] = []  # kernel names, in call order, for tests to inspect
        self.numpy_only = numpy_only

    def _library(self, source: str) -> ctypes.CDLL:
        key = hashlib.sha256(source.encode()).hexdigest()[:16]
        library = self._libraries.get(key)
        if library is None:
            cpp = os.path.join(self._directory, f"{key}.cpp")
            so = os.path.join(self._directory, f"{key}.so")
            with open(cpp, "w") as f:
                f.write(HOST_PRELUDE + source)
            result = subprocess.run(
                [COMPILER, "-std=c++14", "-O1", "-shared", "-fPIC", "-Wall", "-Werror",
                 "-Wno-unused-function", "-o", so, cpp],
                capture_output=True, text=True,
            )
            if result.returncode != 0:
                raise RuntimeError(f"host compile failed:\n{result.stderr}")
            library = self._libraries[key] = ctypes.CDLL(so)
        return library

    def launch(self, kernel, dtype, n: int, args) -> None:
        dtype = np.dtype(dtype)
        function = getattr(self._library(kernel.source(dtype)), kernel.name)
        function.restype = None
        scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        converted = []
        for a in args:
            if self.numpy_only and hasattr(a, "_a"):
                raise AssertionError(
                    f"{kernel.name}: a test ran device (GPU-default) arrays through the host "
                    "runner; on a real GPU their kernels run on the device and the runner "
                    "records nothing. Build the test's tensors on the CPU (device='cpu') or "
                    "mark it cpu_only")
            a = getattr(a, "_a", a)  # the fake CuPy's device array: its NumPy array
            if isinstance(a, np.ndarray):
                converted.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, (bool, np.bool_)):
                raise TypeError("pass flags to CUDA kernels as ints")
            elif isinstance(a, (int, np.integer)):
                converted.append(ctypes.c_longlong(int(a)))
            else:
                converted.append(scalar(float(a)))
        self.launches.append(kernel.name)
        function(*converted)


_SHARED = None


def shared_runner() -> HostRunner:
    """One HostRunner for the whole test session, so each kernel is compiled once per dtype
    (NumPy arrays only inside on_host)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = HostRunner(numpy_only=False)
    return _SHARED


def on_host(fn, *args):
    """``fn(*args)`` with ops on their CUDA-kernel path, run on the CPU by the shared runner;
    returns (its result, the names of the kernels it launched, in order)."""
    from tinygrad_cnn import cuda  # noqa: PLC0415 - the runner itself needs no tinygrad_cnn

    host = shared_runner()
    before, strict = len(host.launches), host.numpy_only
    host.numpy_only = True  # what fn launches must be NumPy arrays, as on a GPU machine
    try:
        with cuda.running_on_host(host):
            result = fn(*args)
    finally:
        host.numpy_only = strict
    return result, host.launches[before:]


NVRTC = nvrtc.library()
NO_NVRTC_REASON = nvrtc.NO_NVRTC_REASON


def nvrtc_compile(source: str, arch: str = "compute_90") -> tuple[bool, str]:
    """Compile ``source`` to PTX with NVRTC as CuPy's RawModule would; (ok, compiler log)."""
    ok, log, _ = nvrtc.compile_source(NVRTC, source, arch)
    return ok, log
