"""The CUDA-kernel machinery: NVRTC compiles every kernel, the host runner runs them on the CPU.

Every kernel in ``tinygrad_cnn.cuda`` is compiled here with NVRTC for float32 and float64 (no GPU
needed), so a syntax or type error in a kernel fails CI. The kernels' numerics are tested where
they are used (e.g. the conv and pool tests run their CUDA path on the CPU through
``tests/cuda_host.py``) and, on a GPU, against the generic CuPy path.
"""

import importlib
import pkgutil

import numpy as np
import pytest

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
from tests.conftest import CUDA_SKIP_REASON, needs_generic_path
from tests.cuda_host import (
    COMPILER,
    NO_COMPILER_REASON,
    NO_NVRTC_REASON,
    NVRTC,
    HostRunner,
    nvrtc_compile,
)
from tinygrad_cnn.cuda import Kernel

for _module in pkgutil.iter_modules(cuda.__path__):
    importlib.import_module(f"tinygrad_cnn.cuda.{_module.name}")

needs_compiler = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)
needs_nvrtc = pytest.mark.skipif(NVRTC is None, reason=NO_NVRTC_REASON)

AXPY = Kernel("tc_test_axpy", r"""
extern "C" __global__ void tc_test_axpy(const T* x, T* y, T alpha, long long n) {
    TC_GRID_STRIDE(i, n) { y[i] = alpha * x[i] + y[i]; }
}
""", register=False)


@needs_nvrtc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kernel", [AXPY, *cuda.ALL_KERNELS], ids=lambda k: getattr(k, "name", k))
def test_every_kernel_compiles_with_nvrtc(kernel, dtype):
    ok, log = nvrtc_compile(kernel.source(np.dtype(dtype)))
    assert ok, f"{kernel.name} ({dtype}) does not compile:\n{log}"


@needs_nvrtc
def test_nvrtc_check_can_fail():
    broken = Kernel("tc_test_broken", "extern \"C\" __global__ void tc_test_broken() { nope; }",
                    register=False)
    ok, log = nvrtc_compile(broken.source(np.dtype("float32")))
    assert not ok and "nope" in log


@needs_compiler
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_runner_runs_a_kernel_like_numpy(dtype):
    x = np.arange(10, dtype=dtype)
    y = np.linspace(-1, 1, 10).astype(dtype)
    expected = 2.5 * x + y
    with cuda.running_on_host(HostRunner()) as runner:
        AXPY(dtype, x.size, x, y, 2.5, x.size)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert runner.launches == ["tc_test_axpy"]


@needs_generic_path
def test_enabled_only_for_cupy_or_inside_the_host_runner(monkeypatch):
    class FakeCupy:
        __name__ = "cupy"

    assert not cuda.enabled_for(np)
    assert cuda.enabled_for(FakeCupy())
    with cuda.running_on_host(object()):
        assert cuda.enabled_for(np)
    assert not cuda.enabled_for(np)
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    assert not cuda.enabled_for(FakeCupy())


@needs_generic_path
def test_bad_launches_are_refused_with_the_kernel_name():
    x = np.zeros((4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="tc_test_axpy.*C-contiguous"):
        AXPY(np.float32, 4, x.T, x, 1.0, 4)
    with pytest.raises(TypeError, match="tc_test_axpy.*CuPy"):
        AXPY(np.float32, 4, x, x, 1.0, 4)
    with pytest.raises(TypeError, match="float32 and float64, got int32"):
        AXPY.source(np.dtype(np.int32))


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_runs_a_kernel_like_numpy(dtype):
    cp = tc.backend.require_gpu()
    x = cp.arange(1000, dtype=dtype)
    y = cp.ones(1000, dtype=dtype)
    AXPY(x.dtype, x.size, x, y, 0.5, x.size)
    np.testing.assert_allclose(cp.asnumpy(y), 0.5 * np.arange(1000) + 1, rtol=1e-6)
