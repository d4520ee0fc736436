"""tinygrad_cnn.testing.fake_cupy, the strict NumPy stand-in for CuPy that finds CPU assumptions
without a GPU (docs/gpu.md, "Testing on a GPU"): it refuses what CuPy refuses, and the backend
takes it for CuPy only when $TINYGRAD_CNN_FAKE_GPU is set."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn.testing import fake_cupy as fcp

ROOT = Path(__file__).resolve().parent.parent


def test_device_arrays_refuse_implicit_conversion_to_numpy():
    x = fcp.asarray(np.arange(6.0).reshape(2, 3))
    assert not isinstance(x, np.ndarray)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.testing.assert_allclose(x, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.get(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(fcp.asnumpy(x * 2), np.arange(6.0).reshape(2, 3) * 2)


def test_numpy_arrays_are_refused_as_operands_and_in_partial_writes():
    x = fcp.zeros((2, 3))
    host = np.ones((2, 3))
    for bad in (lambda: x + host, lambda: host + x, lambda: fcp.maximum(x, host),
                lambda: fcp.concatenate([x, host]), lambda: fcp.where(host > 0, x, x),
                lambda: fcp.maximum(x, [1.0, 2.0, 3.0])):
        with pytest.raises(TypeError, match="Unsupported type"):
            bad()
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[...] = host
    x[:] = host  # CuPy copies a NumPy array into a whole array with [:]
    x[0, 1] = np.float32(5)
    assert float(x.sum()) == 10.0 and x.sum().shape == ()


def test_results_stay_on_the_device_and_views_write_through():
    x = fcp.arange(12.0).reshape(3, 4)
    row = x[1]
    row += 100.0
    assert float(x[1, 0]) == 104.0 and type(x.sum(axis=0)) is fcp.ndarray
    assert type(np.mean(x)) is fcp.ndarray  # NumPy functions dispatch, as with CuPy
    assert type(fcp.lib.stride_tricks.as_strided(x, (2,), (8,))) is fcp.ndarray
    assert not hasattr(x.flags, "writeable") and x.flags.c_contiguous
    assert pickle.loads(pickle.dumps(x)).get().tolist() == x.get().tolist()
    # NumPy's named results come back as CuPy's plain tuples of device arrays
    q, r = result = fcp.linalg.qr(fcp.asarray(np.eye(3)[:, :2] + 1.0))
    assert type(result) is tuple and type(q) is fcp.ndarray and type(r) is fcp.ndarray


def test_its_generator_has_no_permutation_like_cupys():
    g = fcp.random.default_rng(0)
    assert type(g.random(3)) is fcp.ndarray
    with pytest.raises(AttributeError):
        g.permutation(3)


def _run(code, **env):
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)


def test_the_backend_takes_it_for_cupy_only_when_asked():
    code = ("import tinygrad_cnn as tc, numpy as np\n"
            "x = tc.randn(2, 3, device='gpu', requires_grad=True)\n"
            "(x * x).sum().backward()\n"
            "np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)\n"
            "print(x.device, tc.randperm(4, device='gpu').device)\n")
    done = _run(code, TINYGRAD_CNN_FAKE_GPU="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gpu", "gpu"]
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_CNN_FAKE_GPU"}
    code = ("import tinygrad_cnn as tc; "
            "print(tc.backend.gpu_available(), 'fake_cupy' in str(tc.backend._cupy))")
    done = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "False"


def test_the_parity_test_trains_on_the_fake_gpu():
    """CI has no GPU: the CPU-GPU parity test runs here with the fake CuPy as the GPU (same
    values, so it must pass), which keeps the model, optimizers and BatchNorm working on a
    non-NumPy device."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         str(ROOT / "tests" / "test_device_parity.py")],
        env={**env, "PYTHONPATH": str(ROOT), "TINYGRAD_CNN_FAKE_GPU": "1",
             "TINYGRAD_CNN_DEVICE": "gpu"}, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_layers_built_for_the_cpu_stay_there_under_a_gpu_default():
    """nn.Parameter(tensor) keeps the tensor's device (it used to re-create a CPU tensor's array
    on the default device: GPU parameters next to CPU buffers)."""
    code = ("import tinygrad_cnn as tc\nfrom tinygrad_cnn import nn\n"
            "bn = nn.BatchNorm2d(3, device='cpu')\n"
            "print(*{t.device for t in (*bn.parameters(), *bn.buffers())})\n")
    done = _run(code, TINYGRAD_CNN_FAKE_GPU="1", TINYGRAD_CNN_DEVICE="gpu")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cpu"]


def test_the_gpu_marked_tests_run_on_the_fake_gpu():
    """Every test marked gpu (the device fixture's gpu runs: the op vocabulary, layers, losses,
    checkpoints on both devices) runs in CI with the fake CuPy as the GPU: none skips for want of
    a GPU (tests of the CUDA kernels and cuBLAS themselves skip, since the fake runs no kernels,
    and PyTorch-oracle tests where torch is not installed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "-m", "gpu", "-rs", str(ROOT / "tests")],
        env={**env, "PYTHONPATH": str(ROOT), "TINYGRAD_CNN_FAKE_GPU": "1"}, cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert not any("no GPU" in line for line in skips), "\n".join(skips)
    assert "test_ops_vocab_devices" not in "\n".join(skips)
    assert int(done.stdout.split(" passed")[0].split()[-1]) > 0


def test_importing_it_leaves_the_real_cupyx_alone():
    # this module imports fake_cupy at the top; on a GPU machine a fake sys.modules["cupyx"]
    # broke every CuPy ufunc that imports cupyx.scipy, in every test after collection
    assert not isinstance(sys.modules.get("cupyx"), type(fcp.FAKE_CUPYX))
    target = fcp.zeros(3)
    tc.backend.scatter_add(fcp, target, fcp.asarray([0, 2, 0]), fcp.asarray([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(target.get(), [4.0, 0.0, 2.0])


def test_it_has_cupys_quirks_that_a_gpu_run_showed():
    # both seen on an H200 with CuPy 14.2, both accepted by NumPy
    with pytest.raises(np.exceptions.AxisError, match="axis 0 is out of bounds"):
        fcp.max(fcp.asarray(1.5), axis=0, keepdims=True)
    with pytest.raises(np.exceptions.AxisError):
        fcp.asarray(1.5).sum(-1)
    assert fcp.asarray(1.5).sum(axis=None).item() == 1.5
    # a zero fill is a memset (+0.0): seen as (-0.0) ** -1.0 == +inf on an H200 and an H100
    assert not np.signbit(fcp.asarray(-0.0).get())
    assert not np.signbit(fcp.asarray(np.array(-0.0)).get())
    assert not np.signbit(fcp.full((2,), -0.0).get()).any()
    assert np.signbit(fcp.asarray([-0.0, 1.0]).get()[0])  # arrays of 1 or more dims are copied
    assert fcp.power(fcp.asarray([-0.0]), fcp.asarray([-1.0])).item() == -np.inf  # IEEE
