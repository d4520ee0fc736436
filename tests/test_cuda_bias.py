"""The in-place bias kernel (tinygrad_cnn/cuda/bias.py) of Linear and Conv2d, against the generic
path: on the CPU through the g++ host runner (tests/cuda_host.py), on a GPU against
``TINYGRAD_CNN_CUDA_KERNELS=0``. Conv2d's im2col path is also covered by test_cuda_windows.py."""

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

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)


def linear_and_grads(x, w, b, g, device="cpu"):
    ts = [tc.tensor(a, device=device, requires_grad=True) for a in (x, w, b)]
    y = F.linear(*ts)
    y.backward(tc.tensor(g, device=device))
    return [y.numpy()] + [t.grad.numpy() for t in ts]


@given(lead=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), inputs=st.integers(1, 5),
       outputs=st.integers(1, 6), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**31))
def test_linear_bias_kernel_matches_the_generic_path(lead, inputs, outputs, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(*lead, inputs)).astype(dtype)
    w = rng.normal(size=(outputs, inputs)).astype(dtype)
    b = rng.normal(size=outputs).astype(dtype)
    g = rng.normal(size=(*lead, outputs)).astype(dtype)
    got, launches = on_host(linear_and_grads, x, w, b, g)
    expected = linear_and_grads(x, w, b, g)
    assert launches == ["tc_add_bias"]
    for a, e in zip(got[:3], expected[:3], strict=True):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(a, e)  # the same products, the same single add
    # the bias gradient is a product with ones there (cuda/sums.py): equal up to the order of
    # its additions
    _assert_sums_agree(got[3], expected[3], g.reshape(-1, outputs))
    np.testing.assert_allclose(got[0], x @ w.T + b, rtol=1e-5 if dtype == np.float32 else 1e-12)


def _assert_sums_agree(got, expected, rows):
    """got and expected are both rows.sum(0), in two orders: within eps * rows * sum |rows|."""
    bound = 2 * np.finfo(rows.dtype).eps * len(rows) * np.abs(rows).sum(0)
    assert got.dtype == expected.dtype and np.all(np.abs(got - expected) <= bound)


def test_conv_bias_kernel_adds_each_channels_bias_to_its_plane():
    b = np.array([1.0, -2.0, 0.5])
    # on the CPU whatever the session's default device: the host runner takes NumPy arrays
    x, w, bias = (tc.tensor(a, device="cpu") for a in (np.zeros((2, 1, 3, 3)),
                                                        np.zeros((3, 1, 1, 1)), b))
    (y, *_), launches = on_host(lambda: [F.conv2d(x, w, bias).numpy()])
    assert "tc_add_bias" in launches
    np.testing.assert_array_equal(y, np.broadcast_to(b.reshape(1, 3, 1, 1), (2, 3, 3, 3)))


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_gradcheck_and_gradgradcheck_through_the_bias_kernel():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=2)
    img, k, kb = rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)

    def checks():
        return [tc.gradcheck(F.linear, (x, w, b)), tc.gradgradcheck(F.linear, (x, w, b)),
                tc.gradcheck(lambda *a: F.conv2d(*a, padding=1), (img, k, kb))]

    results, launches = on_host(checks)
    assert all(results) and "tc_add_bias" in launches


def test_a_bias_of_another_dtype_keeps_the_generic_path():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    b = rng.normal(size=4)  # float64: PyTorch refuses; here it promotes, as without kernels
    got, launches = on_host(lambda: F.linear(tc.tensor(x), tc.tensor(w), tc.tensor(b)).numpy())
    assert "tc_add_bias" not in launches
    np.testing.assert_array_equal(got, F.linear(tc.tensor(x), tc.tensor(w), tc.tensor(b)).numpy())


@needs_generic_path
def test_a_kernel_bug_would_be_caught(monkeypatch):
    from tinygrad_cnn.cuda import bias

    monkeypatch.setattr(bias, "add_bias", lambda xp, y, b, inner: None)  # forgets the bias
    args = [np.ones((2, 3)), np.ones((2, 3)), np.array([1.0, 2.0]), np.ones((2, 2))]
    got, _ = on_host(linear_and_grads, *args)
    assert not np.array_equal(got[0], linear_and_grads(*args)[0])


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernel_matches_the_generic_cupy_path(dtype, monkeypatch):
    rng = np.random.default_rng(2)
    args = [rng.normal(size=s).astype(dtype) for s in ((64, 120), (84, 120), (84,), (64, 84))]
    got = linear_and_grads(*args, device="gpu")
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    expected = linear_and_grads(*args, device="gpu")
    for a, e in zip(got[:3], expected[:3], strict=True):
        np.testing.assert_array_equal(a, e)
    _assert_sums_agree(got[3], expected[3], args[3])  # cuBLAS products vs CuPy's reduction
