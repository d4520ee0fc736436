"""Devices, default device, GPU availability errors (CuPy faked), device mixing, dtypes."""

import re
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import backend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_probe(monkeypatch):
    """Forget what the CuPy probe found; monkeypatch restores it after the test."""
    monkeypatch.setattr(backend, "_cupy_checked", False)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "_gpu_array_types", backend._gpu_array_types)  # noqa: SLF001
    monkeypatch.delenv(backend.DEVICE_ENV_VAR, raising=False)
    monkeypatch.delenv(backend.FAKE_GPU_ENV_VAR, raising=False)  # the probe must see sys.modules

    def install(fake_cupy):
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy)

    return install


def fake_cupy(device_count=None, error=None):
    def get_device_count():
        if error is not None:
            raise error
        return device_count

    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def assert_gpu_refused(match):
    assert not tc.gpu_available()
    assert tc.available_devices() == ["cpu"]
    with pytest.raises(RuntimeError, match=match):
        tc.zeros(2, device="gpu")
    with pytest.raises(RuntimeError, match=match):
        tc.set_default_device("cuda")
    with pytest.raises(RuntimeError, match=match):
        tc.tensor([1.0]).to("gpu")


def test_cupy_not_installed(fresh_probe):
    fresh_probe(None)  # a None entry in sys.modules makes `import cupy` raise ImportError
    assert_gpu_refused(r"GPU requested but unavailable: CuPy is not installed .*pip install "
                       r"'tinygrad_cnn\[gpu\]'.*cupy-cuda13x")


def test_no_cuda_device(fresh_probe):
    fresh_probe(fake_cupy(device_count=0))
    assert_gpu_refused("CuPy is installed but no CUDA device was found")


def test_cuda_runtime_error(fresh_probe):
    fresh_probe(fake_cupy(error=RuntimeError("cudaErrorNoDevice: no CUDA-capable device")))
    assert_gpu_refused("no CUDA device is usable .*cudaErrorNoDevice")


def test_driver_too_old(fresh_probe):
    error = RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    fresh_probe(fake_cupy(error=error))
    assert_gpu_refused("the NVIDIA driver is too old .*update the driver")


def test_probe_from_two_threads_at_once(fresh_probe):
    """The second thread to ask waits for the first's probe: it must not see the probe begun
    but unfinished (it raised "GPU requested but unavailable: None")."""
    calls = []

    def slow_device_count():
        calls.append(1)
        time.sleep(0.3)  # the first thread is inside the probe while the second asks
        return 1

    cupy = fake_cupy()
    cupy.cuda.runtime.getDeviceCount = slow_device_count
    cupy.ndarray = type("ndarray", (), {})
    fresh_probe(cupy)
    start, results = threading.Barrier(2), []

    def ask():
        start.wait()
        try:
            results.append(backend.require_gpu())
        except RuntimeError as e:
            results.append(e)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [cupy, cupy] and len(calls) == 1


def test_default_device_from_environment(monkeypatch, fresh_probe):
    fresh_probe(None)
    monkeypatch.setenv("TINYGRAD_CNN_DEVICE", "cpu")
    assert tc.get_default_device() == "cpu" and tc.zeros(1).device == "cpu"
    monkeypatch.setenv("TINYGRAD_CNN_DEVICE", "gpu")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        tc.zeros(1)
    monkeypatch.setenv("TINYGRAD_CNN_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"\$TINYGRAD_CNN_DEVICE='tpu': unknown device 'tpu'"):
        tc.zeros(1)
    tc.set_default_device("cpu")  # set_default_device wins over the environment
    assert tc.zeros(1).device == "cpu"


def test_device_names():
    assert backend.normalize_device("CUDA") == "gpu" and backend.normalize_device("cuda:0") == "gpu"
    assert backend.normalize_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu': expected 'cpu' or 'gpu'"):
        tc.zeros(1, device="tpu")


class FakeGpuArray(np.ndarray):
    """A NumPy array that the patched device_of below reports as living on the GPU."""


def test_mixing_devices_names_both_and_the_fix(monkeypatch):
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of",
                        lambda a: "gpu" if isinstance(a, FakeGpuArray) else real(a))
    cpu = tc.Tensor(np.ones(3), device="cpu", requires_grad=True)
    gpu = tc.Tensor._from_array(np.ones(3).view(FakeGpuArray))
    assert gpu.device == "gpu"
    for op in (lambda: cpu + gpu, lambda: gpu * cpu, lambda: tc.cat([cpu, gpu]),
               lambda: tc.where(cpu > 0, cpu, gpu)):
        with pytest.raises(tc.DeviceMismatchError, match=r"both cpu and gpu.*\.to\('gpu'\)"):
            op()
    with pytest.raises(tc.DeviceMismatchError, match="gradient is on gpu but the output is on cpu"):
        (cpu * 2).backward(gpu)


def test_check_dtype():
    assert backend.check_dtype("float32") == np.float32
    assert backend.check_dtype(tc.float64) == np.float64
    for bad, name in [(object, "object"), (str, "str"), (np.complex128, "complex128")]:
        with pytest.raises(TypeError, match=f"unsupported dtype '{name}"):
            backend.check_dtype(bad)
    with pytest.raises(TypeError, match="unsupported dtype 'notatype'"):
        backend.check_dtype("notatype")


def test_array_helpers(device):
    xp = backend.xp_for_device(device)
    a = xp.arange(6.0).reshape(2, 3)
    assert backend.array_module(a, None, 3.0) is xp
    assert backend.device_of(a) == backend.normalize_device(device)
    assert isinstance(backend.to_numpy(a), np.ndarray)
    assert backend.to_device(a, device) is a
    target = xp.zeros(3)
    backend.scatter_add(xp, target, xp.asarray([0, 2, 0]), xp.asarray([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(backend.to_numpy(target), [4.0, 0.0, 2.0])
    assert backend.broadcast_shapes((2, 1), (3,)) == (2, 3)
    assert backend.is_floating(np.float16) and not backend.is_floating(np.int32)


def test_package_imports_without_importing_cupy():
    code = "import sys, tinygrad_cnn; assert 'cupy' not in sys.modules, 'cupy imported eagerly'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


CORE_ABOVE_BACKEND = ["tensor.py", "tensor_methods.py", "tensor_shape_methods.py", "creation.py",
                      "autograd/function.py", "autograd/engine.py", "autograd/grad_mode.py",
                      "ops/elementwise.py", "ops/conversion.py", "ops/activation.py",
                      "ops/reduction.py", "ops/shape.py", "ops/linalg.py", "ops/loss.py",
                      "__init__.py"]


@pytest.mark.parametrize("path", CORE_ABOVE_BACKEND)
def test_only_backend_imports_numpy(path):
    source = (ROOT / "tinygrad_cnn" / path).read_text()
    assert not re.search(r"^\s*(import numpy|from numpy|import cupy|from cupy)", source, re.M)


class _GeneratorWithoutPermutation:
    """CuPy 14's Generator: random() and integers(), no permutation()."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return self._rng.random(size, dtype=dtype)

    def integers(self, low, high=None, size=None):
        return self._rng.integers(low, high, size=size)


@pytest.mark.parametrize("n", [0, 1, 2, 17, 1000])
def test_randperm_with_a_generator_that_has_no_permutation(monkeypatch, n):
    # `tinygrad-cnn gradcheck --device gpu` crashed: CuPy's Generator has no .permutation
    monkeypatch.setattr(tc.backend, "generator",
                        lambda device=None: _GeneratorWithoutPermutation(n))
    values = tc.randperm(n).numpy()
    assert values.dtype == np.int64
    np.testing.assert_array_equal(np.sort(values), np.arange(n))
    if n > 2:  # seeded: the same draws give the same permutation, and it is not the identity
        np.testing.assert_array_equal(tc.randperm(n).numpy(), values)
        assert not np.array_equal(values, np.arange(n))
