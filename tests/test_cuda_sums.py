"""Sums over leading and trailing axes as products with ones (tinygrad_cnn/cuda/sums.py): the
bias gradients of Conv2d and Linear on the GPU. On the CPU they run on NumPy arrays inside the
host runner (the same code, np.matmul for cuBLAS); on a GPU against ``TINYGRAD_CNN_CUDA_KERNELS=0``
(CuPy's reduction kernel)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc
import tinygrad_cnn.cuda as cuda
import tinygrad_cnn.nn.functional as F
from tests.conftest import CUDA_SKIP_REASON, needs_generic_path
from tests.cuda_host import on_host
from tinygrad_cnn.cuda import sums
from tinygrad_cnn.ops import reduction


@st.composite
def outer_sums(draw, elements):
    """(x, dims): a float array and dims that are a prefix and a suffix of its axes."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=5, min_side=1, max_side=6))
    lead = draw(st.integers(0, len(shape) - 1))
    trail = draw(st.integers(0, len(shape) - lead - 1))
    dims = tuple(range(lead)) + tuple(range(len(shape) - trail, len(shape)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return draw(hnp.arrays(dtype, shape, elements=elements)), dims


@given(case=outer_sums(st.integers(-1000, 1000).map(float)), keepdim=st.booleans())
def test_sum_of_integer_values_is_exact(case, keepdim):
    # every partial sum is an integer below 2**24: exact in any order, so any slip shows
    x, dims = case
    got, _ = on_host(reduction.sum_array, np, x, dims, keepdim)
    expected = x.astype(np.float64).sum(axis=dims, keepdims=keepdim)
    assert got.shape == expected.shape and got.dtype == x.dtype
    np.testing.assert_array_equal(got, expected)


@given(case=outer_sums(st.floats(-1e3, 1e3, width=32)))
def test_sum_of_floats_is_within_rounding(case):
    x, dims = case
    got, _ = on_host(reduction.sum_array, np, x, dims)
    exact = x.astype(np.float64).sum(axis=dims)
    terms = x.size // exact.size
    bound = 2 * np.finfo(x.dtype).eps * terms * np.abs(x.astype(np.float64)).sum(axis=dims)
    assert np.all(np.abs(got - exact) <= bound + np.finfo(x.dtype).tiny)


def test_which_sums_take_the_products():
    x = np.ones((2, 3, 4, 5), dtype=np.float32)
    with cuda.running_on_host(object()):
        assert sums.usable(np, x, (0, 2, 3))        # a conv bias gradient: A=2, K=3, B=20
        assert sums.usable(np, x[0], (0,))          # leading only
        assert sums.usable(np, x, (2, 3))           # trailing only
        assert not sums.usable(np, x, (1,))         # a summed axis between kept ones
        assert not sums.usable(np, x, (0, 1, 2, 3))  # everything: CuPy's full reduction
        assert not sums.usable(np, x, ())
        assert not sums.usable(np, x.transpose(1, 0, 2, 3), (0,))   # not C-contiguous
        assert not sums.usable(np, x.astype(np.int64), (0,))
        assert not sums.usable(np, x[:0], (0,))
        assert not sums.usable(np, np.ones((1, 3, 1), np.float32), (0, 2))  # nothing to sum
        tc.backends.cuda.matmul.allow_tf32 = True
        try:
            assert not sums.usable(np, x, (0,))      # TF32 would round the summands
            assert sums.usable(np, x.astype(np.float64), (0,))
        finally:
            tc.backends.cuda.matmul.allow_tf32 = False
    assert sums.outer_split((2, 3, 4, 5), (0, 3)) == (2, 12, 5)


@needs_generic_path
def test_numpy_sums_keep_numpy_outside_the_host_runner():
    assert not sums.usable(np, np.ones((2, 3), np.float32), (0,))


def test_matrices_beyond_cublas_int_sizes_keep_the_reduction(monkeypatch):
    x = np.ones((2, 3, 4), np.float32)
    with cuda.running_on_host(object()):
        assert sums.usable(np, x, (2,))               # (A*K, B) = (6, 4)
        monkeypatch.setattr(sums, "CUBLAS_INT", 6)    # as if 6 were 2**31
        assert not sums.usable(np, x, (2,)) and not sums.usable(np, x, (0, 2))
        assert sums.usable(np, x, (1, 2))             # (A*K, B) = (2, 12)


def test_the_ones_vector_is_shared_grown_and_read_only():
    first = sums._ones(np, 3, np.dtype(np.float32))
    longer = sums._ones(np, 1000, np.dtype(np.float32))
    assert first.tolist() == [1.0] * 3 and longer.size == 1000 and np.all(longer == 1)
    assert np.shares_memory(sums._ones(np, 7, np.dtype(np.float32)), longer)
    with pytest.raises(ValueError, match="read-only"):
        longer[0] = 2.0


def _bias_grads(device="cpu"):
    rng = np.random.default_rng(5)
    x = tc.tensor(rng.normal(size=(3, 2, 6, 5)), device=device)
    w = tc.tensor(rng.normal(size=(4, 2, 3, 3)), device=device, requires_grad=True)
    b = tc.tensor(rng.normal(size=4), device=device, requires_grad=True)
    lw = tc.tensor(rng.normal(size=(7, 4 * 4 * 3)), device=device, requires_grad=True)
    lb = tc.tensor(rng.normal(size=7), device=device, requires_grad=True)
    y = F.linear(F.conv2d(x, w, b).flatten(1), lw, lb)
    (y * tc.tensor(rng.normal(size=y.shape), device=device)).sum().backward()
    return [b.grad.numpy(), lb.grad.numpy(), w.grad.numpy()]


@needs_generic_path
def test_conv_and_linear_bias_gradients_take_the_products(monkeypatch):
    calls = []
    real = sums.sum_outer
    monkeypatch.setattr(sums, "sum_outer", lambda xp, x, dims, keepdim=False: calls.append(
        (x.shape, dims)) or real(xp, x, dims, keepdim))
    got, _ = on_host(_bias_grads)
    assert ((3, 4, 4, 3), (0, 2, 3)) in calls and ((3, 7), (0,)) in calls
    for a, e in zip(got, _bias_grads(), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@needs_generic_path
def test_a_bug_in_the_products_would_be_caught(monkeypatch):
    # forgets the trailing product's second half: the bias gradients then differ
    real = sums.sum_outer
    monkeypatch.setattr(sums, "sum_outer", lambda xp, x, dims, keepdim=False:
                        real(xp, x[..., : max(1, x.shape[-1] // 2)].copy(), dims, keepdim)
                        if x.ndim == 4 else real(xp, x, dims, keepdim))
    got, _ = on_host(_bias_grads)
    assert not np.allclose(got[0], _bias_grads()[0])


@pytest.mark.cpu_only("the products run on NumPy arrays through the host runner")
def test_gradcheck_and_gradgradcheck_through_the_products():
    rng = np.random.default_rng(8)
    img, k, kb = rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)

    def checks():
        return [tc.gradcheck(lambda a: a.sum((0, 2)), (img,)),
                tc.gradcheck(lambda *a: F.conv2d(*a, padding=1), (img, k, kb)),
                tc.gradgradcheck(lambda *a: F.conv2d(*a, padding=1), (img, k, kb))]

    results, _ = on_host(checks)
    assert all(results)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SKIP_REASON is not None, reason=f"no CUDA: {CUDA_SKIP_REASON}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_products_match_cupys_reduction(dtype, monkeypatch):
    import cupy

    rng = np.random.default_rng(4)
    for shape, dims in [((64, 6, 28, 28), (0, 2, 3)), ((64, 120), (0,)), ((128, 64, 56, 56),
                                                                          (0, 2, 3))]:
        # integer values (partial sums below 2**24): exact in any order, so equal to CuPy's
        ints = cupy.asarray(rng.integers(-8, 9, size=shape).astype(dtype))
        assert sums.usable(cupy, ints, dims)
        np.testing.assert_array_equal(reduction.sum_array(cupy, ints, dims).get(),
                                      ints.sum(axis=dims).get())
        # normal values: both within float32 rounding of the float64 sum
        x = rng.normal(size=shape).astype(dtype)
        got = reduction.sum_array(cupy, cupy.asarray(x), dims).get()
        exact = x.astype(np.float64).sum(axis=dims)
        scale = np.abs(x.astype(np.float64)).sum(axis=dims)
        np.testing.assert_array_less(np.abs(got - exact), 1e-5 * scale if dtype == np.float32
                                     else 1e-13 * scale)
    monkeypatch.setenv(cuda.ENV_SWITCH, "0")
    assert not sums.usable(cupy, ints, dims)
