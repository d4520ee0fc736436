"""ReLU's and Hardtanh's CUDA kernels (tinygrad_cnn/cuda/activation.py) against the generic path.

On the CPU the kernels run through the g++ host runner (tests/cuda_host.py): forward and
backward must give NumPy's bits (signed zeros, NaN, infinities included), one launch each, and
gradcheck/gradgradcheck must hold in float64. Arrays the kernels do not take (non-contiguous,
other dtypes) keep the generic path. On a GPU they are compared with
``TINYGRAD_CNN_CUDA_KERNELS=0``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON, needs_generic_path
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, on_host
from tinygrad_cnn.tensor import Tensor

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 3.0, -3.0]


def relu_and_grad(x, g, device="cpu"):
    t = tc.tensor(x, device=device, requires_grad=True)
    y = tc.relu(t)
    y.backward(tc.tensor(g, device=device))
    return y.numpy(), t.grad.numpy()


def arrays(dtype):
    values = st.one_of(st.sampled_from(SPECIAL), st.floats(-1e3, 1e3, width=32))
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
                      elements=values)


@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_kernels_give_the_generic_paths_bits(data, dtype):
    x = data.draw(arrays(dtype), label="x")
    g = data.draw(hnp.arrays(dtype, x.shape, elements=st.one_of(
        st.sampled_from(SPECIAL), st.floats(-10, 10, width=32))), label="g")
    (y, grad), launches = on_host(relu_and_grad, x, g)
    y_ref, grad_ref = relu_and_grad(x, g)
    assert launches == (["tc_relu", "tc_relu_grad"] if x.size else [])
    assert y.dtype == dtype and grad.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(grad, grad_ref)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(y_ref))
    np.testing.assert_array_equal(np.signbit(grad), np.signbit(grad_ref))
    # and against an independent reference
    np.testing.assert_array_equal(y, np.where(np.isnan(x) | (x > 0), x, 0).astype(dtype))


def test_signed_zeros_and_nan():
    x = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -2.0], np.float32)
    g = np.array([-1.0, -1.0, 5.0, 1.0, 2.0, np.nan], np.float32)
    (y, grad), _ = on_host(relu_and_grad, x, g)
    assert not np.signbit(y[0]) and np.isnan(y[2]) and y[3] == 0 and y[4] == np.inf
    np.testing.assert_array_equal(np.signbit(grad), [True, True, False, False, False, False])
    np.testing.assert_array_equal(grad[[0, 1, 2, 3, 4]], [0, 0, 0, 0, 2])
    assert np.isnan(grad[5])  # NaN * 0 stays NaN, as NumPy's g * mask


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_gradcheck_and_gradgradcheck_on_the_kernels():
    x = np.random.default_rng(0).normal(size=(3, 4))
    x[np.abs(x) < 0.1] = 0.5  # away from the kink, where the numeric derivative is defined
    (first, second), launches = on_host(
        lambda: (tc.gradcheck(tc.relu, (x,)), tc.gradgradcheck(tc.relu, (x,))))
    assert first and second
    assert "tc_relu" in launches and "tc_relu_grad" in launches


def test_arrays_the_kernels_do_not_take_keep_the_generic_path():
    x = np.arange(-6.0, 6.0).reshape(3, 4)
    (y, _), launches = on_host(lambda: (tc.relu(Tensor(x.T)), None))  # not C-contiguous
    assert launches == []
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.T, 0))
    (y, _), launches = on_host(lambda: (tc.relu(Tensor(x.astype(np.float16))), None))
    assert launches == []
    np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0).astype(np.float16))


@needs_generic_path
def test_a_kernel_bug_would_be_caught(monkeypatch):
    """The comparison can fail: a backward that ignores the mask is detected."""
    from tinygrad_cnn.cuda import activation

    monkeypatch.setattr(activation, "relu_grad", lambda xp, g, y: g.copy())
    x = np.array([-1.0, 2.0])
    (_, grad), _ = on_host(relu_and_grad, x, np.ones(2))
    assert not np.array_equal(grad, relu_and_grad(x, np.ones(2))[1])


def hardtanh_and_grad(x, g, lo, hi, device="cpu"):
    t = tc.tensor(x, device=device, requires_grad=True)
    y = F.hardtanh(t, lo, hi)
    y.backward(tc.tensor(g, device=device))
    return y.numpy(), t.grad.numpy()


@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       bounds=st.sampled_from([(0.0, 6.0), (0, 6), (-1.0, 1.0), (-3.0, -3.0), (-0.0, 0.0),
                               (2.5, 1e30)]))  # (0, 6): ints, as relu6 passes them
def test_hardtanh_kernels_match_the_generic_path_and_a_reference(data, dtype, bounds):
    lo, hi = bounds
    x = data.draw(arrays(dtype), label="x")
    g = data.draw(hnp.arrays(dtype, x.shape, elements=st.floats(-10, 10, width=32)), label="g")
    (y, grad), launches = on_host(hardtanh_and_grad, x, g, lo, hi)
    y_ref, grad_ref = hardtanh_and_grad(x, g, lo, hi)
    assert launches == (["tc_hardtanh", "tc_hardtanh_grad"] if x.size else [])
    assert y.dtype == dtype and grad.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)      # -0.0 == +0.0 here: NumPy's clip keeps x's
    np.testing.assert_array_equal(grad, grad_ref)  # sign at x == lo, depending on its SIMD path
    lo_t, hi_t = dtype(lo), dtype(hi)
    np.testing.assert_array_equal(y, np.where(np.isnan(x), x, np.where(x < lo_t, lo_t, np.where(
        x > hi_t, hi_t, x))))
    np.testing.assert_array_equal(grad, np.where((x > lo_t) & (x < hi_t), g, 0 * g))


def test_relu6_keeps_subnormals_and_its_gradient_passes_them():
    x = np.array([1e-45, -1e-45, 0.0, 6.0, 5.9999995, np.nan], np.float32)
    g = np.ones(6, np.float32)
    (y, grad), _ = on_host(hardtanh_and_grad, x, g, 0.0, 6.0)
    np.testing.assert_array_equal(y[:5], x[[0, 2, 2, 3, 4]])  # 1e-45 kept, -1e-45 to 0
    assert np.isnan(y[5])
    np.testing.assert_array_equal(grad, [1, 0, 0, 0, 1, 0])


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_hardtanh_gradcheck_and_gradgradcheck_on_the_kernels():
    x = np.random.default_rng(0).normal(size=(3, 4)) * 2
    x[np.abs(np.abs(x) - 1) < 0.1] = 0.5  # away from the kinks at -1 and 1

    def fn(t):
        return F.hardtanh(t, -1.0, 1.0) * t  # a second derivative that is not zero everywhere

    (first, second), launches = on_host(
        lambda: (tc.gradcheck(fn, (x,)), tc.gradgradcheck(fn, (x,))))
    assert first and second
    assert "tc_hardtanh" in launches and "tc_hardtanh_grad" in launches


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_hardtanh_kernels_match_the_generic_cupy_path(dtype, monkeypatch):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(32, 16, 14, 14)) * 4).astype(dtype)
    x.reshape(-1)[:8] = SPECIAL[:8]
    g = rng.normal(size=x.shape).astype(dtype)
    y, grad = hardtanh_and_grad(x, g, 0.0, 6.0, device="gpu")
    np.testing.assert_array_equal(y, np.where(np.isnan(x), x, np.clip(x, 0, 6)))
    np.testing.assert_array_equal(grad, np.where((x > 0) & (x < 6), g, 0 * g))
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    y_ref, grad_ref = hardtanh_and_grad(x, g, 0.0, 6.0, device="gpu")
    same = ~((x != 0) & (np.abs(x) < np.finfo(dtype).tiny))  # CuPy's kernels flush subnormals
    np.testing.assert_array_equal(y[same], y_ref[same])
    np.testing.assert_array_equal(grad[same], grad_ref[same])


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernels_match_the_generic_cupy_path(dtype, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6, 28, 28)).astype(dtype)
    x.reshape(-1)[:8] = SPECIAL[:8]
    g = rng.normal(size=x.shape).astype(dtype)
    y, grad = relu_and_grad(x, g, device="gpu")
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    y_ref, grad_ref = relu_and_grad(x, g, device="gpu")
    # NumPy's bits, subnormals included (1e-45 stays 1.4e-45 in float32) ...
    np.testing.assert_array_equal(y, np.where(np.isnan(x) | (x > 0), x, 0))
    np.testing.assert_array_equal(grad, g * (y > 0))
    # ... where CuPy's float32 maximum flushed that subnormal to 0 on an H100: the generic
    # path may differ only there
    same = ~((x != 0) & (np.abs(x) < np.finfo(dtype).tiny))
    np.testing.assert_array_equal(y[same], y_ref[same])
    np.testing.assert_array_equal(grad[same], grad_ref[same])
