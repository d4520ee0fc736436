"""The same-shape sum and product kernels (tinygrad_cnn/cuda/arith.py) of ``Add``, ``Mul`` and
the autograd engine's gradient accumulation, against NumPy: on the CPU through the g++ host
runner, on a GPU against ``TINYGRAD_CNN_CUDA_KERNELS=0``."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
from tests.conftest import CUDA_SKIP_REASON, needs_generic_path
from tests.cuda_host import COMPILER, NO_COMPILER_REASON, on_host
from tinygrad_cnn.tensor import Tensor

pytestmark = pytest.mark.skipif(COMPILER is None, reason=NO_COMPILER_REASON)

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 3.0, -3.0, 1e38]


def values(dtype):
    return st.one_of(st.sampled_from(SPECIAL), st.floats(-1e3, 1e3, width=32)).map(dtype)


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       op=st.sampled_from(["add", "mul"]))
def test_the_kernels_compute_like_numpy_bit_for_bit(data, dtype, op):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=5), label="shape")
    a = data.draw(hnp.arrays(dtype, shape, elements=values(dtype)), label="a")
    b = data.draw(hnp.arrays(dtype, shape, elements=values(dtype)), label="b")
    fn = (lambda x, y: x + y) if op == "add" else (lambda x, y: x * y)
    with np.errstate(all="ignore"):              # inf - inf, 0 * inf: NaN, as intended
        got, launches = on_host(lambda: fn(tc.tensor(a), tc.tensor(b)).numpy())
        expected = fn(a, b)
    assert launches == ([f"tc_{op}"] if a.size else []) and got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))  # -0.0 + -0.0 = -0.0


def test_numpy_scalars_keep_numpys_arithmetic():
    # NumPy's reductions return scalars, not 0-d arrays: no memory for a kernel to point at
    a, b = Tensor._from_array(np.float64(2.0)), Tensor._from_array(np.float64(3.0))
    (product, total), launches = on_host(lambda: ((a * b).numpy(), (a + b).numpy()))
    assert launches == [] and product == 6.0 and total == 5.0


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_dropout_multiplies_with_the_kernel_forward_and_backward():
    x = np.arange(1.0, 9.0)

    def step():
        t = tc.tensor(x, requires_grad=True)
        y = tc.nn.functional.dropout(t, 0.5)
        y.backward(tc.ones(8, dtype=tc.float64))  # a contiguous gradient (sum's is a broadcast)
        return y.numpy(), t.grad.numpy()

    (y, grad), launches = on_host(step)
    assert launches.count("tc_mul") == 2
    np.testing.assert_array_equal(y, x * grad)   # the same mask scales both: 0 or 2
    assert set(np.unique(grad)) <= {0.0, 2.0}


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_a_tensor_used_twice_sums_its_gradients_with_the_kernel():
    x = np.array([1.0, -2.0, 3.0])

    def grads():
        t = tc.tensor(x, requires_grad=True)
        (t * 2.0 + t * t).sum().backward()   # t reaches the loss twice: two gradients summed
        return t.grad.numpy()

    got, launches = on_host(grads)
    np.testing.assert_array_equal(got, 2.0 + 2 * x)
    assert "tc_add" in launches


@needs_generic_path
def test_broadcasts_mixed_dtypes_and_views_keep_numpys_arithmetic():
    a = np.arange(6.0).reshape(2, 3)
    for b in (np.ones(3), np.ones((2, 3), np.float32), np.ones((3, 2)).T, np.float64(2.0)):
        got, launches = on_host(lambda b=b: (Tensor(a) + Tensor(b)).numpy())  # b as it is
        assert launches == [] and np.array_equal(got, a + b)
        got, launches = on_host(lambda b=b: (Tensor(a) * Tensor(b)).numpy())
        assert launches == [] and np.array_equal(got, a * b)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernel_matches_the_generic_cupy_path(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    a, b = (rng.normal(size=(32, 64, 14, 14)).astype(dtype) for _ in range(2))
    a.reshape(-1)[:5] = [0.0, -0.0, np.nan, np.inf, -1.0]
    b.reshape(-1)[:5] = [-0.0, -0.0, 1.0, -np.inf, 1.0]

    def run():
        ta, tb = tc.tensor(a, device="gpu"), tc.tensor(b, device="gpu")
        return (ta + tb).numpy(), (ta * tb).numpy()

    got = run()
    np.testing.assert_array_equal(got[0], a + b)
    # -0.0 + -0.0 keeps its sign; a NaN's sign is not (inf + -inf is +NaN on a GPU, -NaN on x86)
    signed = ~np.isnan(a + b)
    np.testing.assert_array_equal(np.signbit(got[0])[signed], np.signbit(a + b)[signed])
    np.testing.assert_array_equal(got[1], a * b)
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    for kernel, generic in zip(got, run(), strict=True):
        np.testing.assert_array_equal(kernel, generic)
