"""The row-block copy kernel of ``cat`` and its backward (tinygrad_cnn/cuda/cat.py), against
NumPy: on the CPU through the g++ host runner, on a GPU against ``TINYGRAD_CNN_CUDA_KERNELS=0``."""

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


@st.composite
def cat_cases(draw):
    """(arrays, dim, upstream gradient): 1-4 arrays of 1-4 dims agreeing outside ``dim``, each
    at least one element along it (an empty piece keeps CuPy's concatenate)."""
    shape = list(draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)))
    dim = draw(st.integers(0, len(shape) - 1))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    arrays = []
    for _ in range(draw(st.integers(1, 4))):
        shape[dim] = draw(st.integers(1, 4))
        arrays.append(rng.standard_normal(shape).astype(dtype))
    total = list(shape)
    total[dim] = sum(a.shape[dim] for a in arrays)
    return arrays, dim, rng.standard_normal(total).astype(dtype)


def _cat_and_grads(arrays, dim, g, wanted=None):
    wanted = wanted or [True] * len(arrays)
    tensors = [tc.tensor(a, requires_grad=w) for a, w in zip(arrays, wanted, strict=True)]
    out = tc.cat(tensors, dim)
    out.backward(tc.tensor(g))
    return out.numpy(), [None if t.grad is None else t.grad.numpy() for t in tensors]


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
@given(case=cat_cases(), data=st.data())
def test_cat_and_its_backward_copy_like_numpy(case, data):
    arrays, dim, g = case
    wanted = data.draw(st.lists(st.booleans(), min_size=len(arrays), max_size=len(arrays))
                       .filter(any), label="wanted")
    (out, grads), launches = on_host(_cat_and_grads, arrays, dim, g, wanted)
    np.testing.assert_array_equal(out, np.concatenate(arrays, axis=dim))
    assert out.dtype == arrays[0].dtype
    start = 0
    for a, w, grad in zip(arrays, wanted, grads, strict=True):
        index = (slice(None),) * dim + (slice(start, start + a.shape[dim]),)
        if w:
            np.testing.assert_array_equal(grad, g[index])
        else:
            assert grad is None
        start += a.shape[dim]
    # one launch per piece joined, one per gradient piece wanted
    assert launches.count("tc_copy_rows") == len(arrays) + sum(wanted)


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_the_gradient_pieces_are_contiguous_so_later_ops_take_kernels():
    """A channel slice of cat's gradient is a strided view: ReLU's backward on it fell back to
    CuPy kernels (SqueezeNet's fire modules). The kernel's pieces are contiguous."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 5, 4, 4))

    def run():
        ta, tb = tc.tensor(a, requires_grad=True), tc.tensor(b, requires_grad=True)
        y = tc.cat([tc.relu(ta), tc.relu(tb)], 1)
        (y * y).sum().backward()
        return ta.grad.numpy(), tb.grad.numpy()

    (ga, gb), launches = on_host(run)
    np.testing.assert_allclose(ga, 2 * np.maximum(a, 0), rtol=1e-15)
    np.testing.assert_allclose(gb, 2 * np.maximum(b, 0), rtol=1e-15)
    assert launches.count("tc_relu_grad") == 2 and launches.count("tc_copy_rows") == 4


@pytest.mark.cpu_only("CUDA kernels run on NumPy arrays through the host runner")
def test_second_derivatives_through_cat_on_the_kernel_path():
    """With a graph of the gradient recorded the backward is Tensor ops (GetItem): gradcheck and
    gradgradcheck of a function that joins its inputs, kernels on."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))

    def f(x, y):
        z = tc.cat([x * x, y], 1)
        return (z * z).sum(1)

    (first, second), launches = on_host(
        lambda: (tc.gradcheck(f, (a, b)), tc.gradgradcheck(f, (a, b))))
    assert first and second and "tc_copy_rows" in launches


@needs_generic_path
def test_views_integers_and_empty_pieces_keep_numpys_concatenate():
    a = np.arange(12.0).reshape(3, 4)
    cases = [[a.T, a.T], [a.astype(np.int64), a.astype(np.int64)], [a, np.ones((0, 4))],
             [a, a.astype(np.float32)]]
    for arrays in cases:
        got, launches = on_host(  # the arrays as they are: tc.tensor would copy a.T
            lambda arrays=arrays: tc.cat([Tensor._from_array(x) for x in arrays]))
        assert "tc_copy_rows" not in launches
        np.testing.assert_array_equal(got.numpy(), np.concatenate(arrays))


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_kernel_matches_the_generic_cupy_path(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(8, c, 14, 14)).astype(dtype) for c in (16, 32, 8)]
    g = rng.normal(size=(8, 56, 14, 14)).astype(dtype)

    def run():
        tensors = [tc.tensor(a, device="gpu", requires_grad=True) for a in arrays]
        out = tc.cat(tensors, 1)
        out.backward(tc.tensor(g, device="gpu"))
        return [out.numpy()] + [t.grad.numpy() for t in tensors]

    got = run()
    np.testing.assert_array_equal(got[0], np.concatenate(arrays, 1))
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    for kernel, generic in zip(got, run(), strict=True):
        np.testing.assert_array_equal(kernel, generic)
