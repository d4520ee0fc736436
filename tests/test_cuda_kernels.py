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
import tinygrad_cnn.cuda.kernel as kernel_module
from tests.conftest import CUDA_SKIP_REASON, needs_generic_path
from tests.cuda_host import (
    COMPILER,
    NO_COMPILER_REASON,
    NO_NVRTC_REASON,
    NVRTC,
    HostRunner,
    nvrtc_compile,
)
from tests.recording_cupy import RecordingCuPy
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


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kernel", [AXPY, *cuda.ALL_KERNELS], ids=lambda k: getattr(k, "name", k))
def test_every_kernel_compiles_with_cupy_on_the_gpu(kernel, dtype):
    # A GPU machine may lack the NVRTC wheel above; CuPy's own NVRTC compiles each kernel here
    # (the library compiles them all on first use, but a failure surfaces only when one is used)
    function = kernel_module._compile(kernel, np.dtype(dtype), kernel_module.current_device())
    assert function is not None


def test_a_gpu_compiles_every_kernel_of_a_dtype_on_threads_at_the_first_launch(monkeypatch):
    from tinygrad_cnn.cuda import activation, bias
    from tinygrad_cnn.cuda import kernel as kernel_module

    fake = RecordingCuPy(compute_capability="75")  # no shipped cubin runs there: all compile
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake)
    monkeypatch.setattr(kernel_module, "_compiling", {})
    monkeypatch.setattr(kernel_module, "_runtime", None)
    monkeypatch.setattr(kernel_module.prebuilt, "_architectures", {})
    registered = kernel_module.registered_kernels()
    for k in registered:
        monkeypatch.setattr(k, "_functions", {})

    all_compiled = cuda.wait_for_compiles  # the compiles a launch did not wait for go on
    for k in (activation.RELU, activation.RELU_GRAD, bias.ADD_BIAS, activation.RELU):
        k._launch_cupy(np.float32, 10, ())
    all_compiled()
    assert len(fake.compiled) == len(registered)  # every kernel, each compiled on its own
    assert all(code.count("__global__") == 1 and "typedef float T;" in code
               for code in fake.compiled)
    assert fake.threads and all(t.startswith("tinygrad_cnn-nvrtc") for t in fake.threads)
    activation.RELU._launch_cupy(np.float64, 10, ())  # another scalar type: compiled again
    all_compiled()
    assert len(fake.compiled) == 2 * len(registered)
    assert sum("typedef double T;" in code for code in fake.compiled) == len(registered)
    late = Kernel("tc_test_late", AXPY.body.replace("tc_test_axpy", "tc_test_late"),
                  register=False)
    late._launch_cupy(np.float32, 10, ())  # not registered: compiled on its own, here
    assert len(fake.compiled) == 2 * len(registered) + 1 and "tc_test_late" in fake.compiled[-1]
    assert fake.calls == ["tc_relu", "tc_relu_grad", "tc_add_bias", "tc_relu", "tc_relu",
                          "tc_test_late"]


def test_the_first_launch_queues_the_deferred_kernels_last(monkeypatch):
    from concurrent.futures import Future

    from tinygrad_cnn.cuda import kernel as kernel_module
    from tinygrad_cnn.cuda import optim

    submitted = []

    class RecordingPool:  # runs nothing: records the order of the compiles submitted
        def __init__(self, max_workers, thread_name_prefix):
            pass

        def submit(self, fn, kernel, dtype, device):
            submitted.append(kernel)
            future = Future()
            future.set_result(None)
            return future

        def shutdown(self, wait):
            pass

    monkeypatch.setattr(kernel_module, "ThreadPoolExecutor", RecordingPool)
    monkeypatch.setattr(kernel_module, "_compiling", {})
    monkeypatch.setenv(kernel_module.prebuilt.ENV_SWITCH, "0")  # no shipped cubins: all compile
    kernel_module._cupy_function(optim.SGD_KERNEL, np.dtype(np.float32), 0)
    deferred = [k.deferred for k in submitted]
    assert submitted[0] is optim.SGD_KERNEL and len(submitted) == len(
        kernel_module.registered_kernels())
    assert any(deferred) and deferred == sorted(deferred)  # every common kernel, then the rest
    assert {k.name for k in submitted if k.deferred} >= {"tc_bn_normalize", "tc_philox_uniform"}


def test_compile_threads_one_per_kernel_leaving_a_core(monkeypatch):
    from tinygrad_cnn.cuda import kernel as kernel_module

    for cores, kernels, threads in [(16, 19, 15), (64, 19, 19), (2, 19, 1), (1, 19, 1),
                                    (None, 19, 1), (16, 0, 1)]:
        monkeypatch.setattr(kernel_module.os, "cpu_count", lambda c=cores: c)
        assert kernel_module.compile_threads(kernels) == threads, (cores, kernels)


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
    # arguments are checked against the kernel's signature (x, y, alpha, n)
    with pytest.raises(TypeError, match=r"tc_test_axpy.*takes 4 arguments \(x, y, alpha, n\)"):
        AXPY(np.float32, 4, x, x, 1.0)
    with pytest.raises(TypeError, match="tc_test_axpy.*n is a long long, got 4.0"):
        AXPY(np.float32, 4, x, x, 1.0, 4.0)
    with pytest.raises(TypeError, match="tc_test_axpy.*y must be an array of float32, got float64"):
        AXPY(np.float32, 4, x, x.astype(np.float64), 1.0, 4)
    with pytest.raises(TypeError, match="tc_test_axpy.*x must be an array of float32, got float"):
        AXPY(np.float32, 4, 1.0, x, 1.0, 4)
    # a NumPy scalar (what NumPy's reductions return) has a dtype and flags but no memory to
    # point at: the host runner would have passed its value as a pointer and crashed
    with pytest.raises(TypeError, match="tc_test_axpy.*x must be an array, got the NumPy scalar"):
        AXPY(np.float32, 1, np.float32(1.0), x, 1.0, 1)


def test_scalars_are_sent_as_their_parameters_type():
    # a Python int for a T parameter is a T (relu6 passes its bounds 0 and 6 as ints: sent as
    # the bytes of a long long, the kernel read them as garbage doubles)
    x = np.arange(4, dtype=np.float64)
    y = np.zeros(4)
    with cuda.running_on_host(HostRunner()):
        AXPY(np.float64, 4, x, y, 2, np.int32(4))
    np.testing.assert_array_equal(y, 2 * x)


@pytest.mark.parametrize("signature,message", [
    ("float alpha, long long n", "'float alpha' must be T, long long"),
    ("T* x, int n", "'int n' must be T, long long"),
    ("short* x, long long n", "'short\\* x' must be T, long long"),
])
def test_kernel_signatures_outside_the_conventions_are_refused(signature, message):
    source = f'extern "C" __global__ void tc_test_sig({signature}) {{ }}'
    with pytest.raises(ValueError, match=f"tc_test_sig.*{message}"):
        Kernel("tc_test_sig", source, register=False)
    with pytest.raises(ValueError, match="found 0"):
        Kernel("tc_test_other_name", source, register=False)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_runs_a_kernel_like_numpy(dtype):
    cp = tc.backend.require_gpu()
    x = cp.arange(1000, dtype=dtype)
    y = cp.ones(1000, dtype=dtype)
    AXPY(x.dtype, x.size, x, y, 0.5, x.size)
    np.testing.assert_allclose(cp.asnumpy(y), 0.5 * np.arange(1000) + 1, rtol=1e-6)
