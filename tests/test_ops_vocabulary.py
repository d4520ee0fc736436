"""PyTorch's everyday vocabulary: mm, bmm, dot, outer, trace, square, t, narrow, select, take,
masked_select, nonzero, broadcast_tensors, logical_xor, allclose, equal, count_nonzero.
Forward against the loop references of tests/references_vocabulary.py (and NumPy), float64
gradients (and second derivatives) on Hypothesis inputs. Errors, dtypes, devices and PyTorch:
test_ops_vocabulary_checks.py; the random and conversion factories: test_creation_vocabulary.py.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tests import references_vocabulary as rv
from tinygrad_cnn.testing import strategies as tst

SIDE = st.integers(1, 3)
SHAPES = tst.array_shapes(min_dims=1, max_dims=3, max_side=3)
SHAPES_0D = tst.array_shapes(min_dims=0, max_dims=3, max_side=3)


def _close(out, expected):
    assert out.shape == expected.shape, (out.shape, expected.shape)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------- products


@given(n=SIDE, k=st.integers(0, 3), m=SIDE, data=st.data())
def test_mm(n, k, m, data):
    a, b = data.draw(tst.float_arrays((n, k))), data.draw(tst.float_arrays((k, m)))
    _close(tc.mm(tc.Tensor(a), tc.Tensor(b)), rv.mm(a, b))
    ref.check_grads(tc.mm, (a, b))


@given(batch=st.integers(1, 2), n=SIDE, k=SIDE, m=SIDE, data=st.data())
def test_bmm(batch, n, k, m, data):
    a = data.draw(tst.float_arrays((batch, n, k)))
    b = data.draw(tst.float_arrays((batch, k, m)))
    _close(tc.bmm(tc.Tensor(a), tc.Tensor(b)), rv.bmm(a, b))
    ref.check_grads(tc.bmm, (a, b), twice=a.size + b.size <= 24)


@given(n=st.integers(0, 5), data=st.data())
def test_dot(n, data):
    a, b = data.draw(tst.float_arrays((n,))), data.draw(tst.float_arrays((n,)))
    out = tc.dot(tc.Tensor(a), tc.Tensor(b))
    _close(out, rv.dot(a, b))
    assert out.shape == () and out.dtype == np.float64
    if n:
        ref.check_grads(tc.dot, (a, b))


@given(n=SIDE, m=SIDE, data=st.data())
def test_outer(n, m, data):
    a, b = data.draw(tst.float_arrays((n,))), data.draw(tst.float_arrays((m,)))
    _close(tc.outer(tc.Tensor(a), tc.Tensor(b)), rv.outer(a, b))
    np.testing.assert_allclose(tc.outer(tc.Tensor(a), tc.Tensor(b)).numpy(), np.outer(a, b))
    ref.check_grads(tc.outer, (a, b))


@given(x=tst.float_arrays(tst.array_shapes(min_dims=2, max_dims=2, max_side=4)))
def test_trace(x):
    out = tc.trace(tc.Tensor(x))
    assert out.shape == () and out.dtype == np.float64
    np.testing.assert_allclose(out.item(), rv.trace(x), rtol=1e-12)
    np.testing.assert_allclose(out.item(), np.trace(x), rtol=1e-12)
    ref.check_grads(tc.trace, (x,))


@given(x=tst.float_arrays(SHAPES_0D))
def test_square(x):
    out = tc.square(tc.Tensor(x))
    assert out.dtype == np.float64
    _close(out, x * x)
    ref.check_grads(tc.square, (x,))


# ---------------------------------------------------------------------- views and selections


@given(x=tst.float_arrays(tst.array_shapes(min_dims=0, max_dims=2, max_side=4)))
def test_t(x):
    out = tc.t(tc.Tensor(x))
    _close(out, x.T)
    if x.ndim == 2:
        ref.check_grads(tc.t, (x,))
    else:
        t = tc.Tensor(x)
        assert tc.t(t) is t


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_narrow(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = x.shape[dim]
    start = data.draw(st.integers(-size, size))
    first = start + size if start < 0 else start
    length = data.draw(st.integers(0, size - first))
    out = tc.narrow(tc.Tensor(x), dim, start, length)
    _close(out, rv.narrow(x, dim % x.ndim, first, length))
    ref.check_grads(lambda t: tc.narrow(t, dim, start, length), (x,))
    assert tc.narrow(tc.Tensor(x), dim, tc.tensor(start), length).shape == out.shape


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_select(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = x.shape[dim]
    index = data.draw(st.integers(-size, size - 1))
    out = tc.select(tc.Tensor(x), dim, index)
    _close(out, rv.select(x, dim % x.ndim, index))
    ref.check_grads(lambda t: tc.select(t, dim, index), (x,))


@given(x=tst.float_arrays(SHAPES_0D), index_shape=SHAPES_0D, data=st.data())
def test_take(x, index_shape, data):
    n = x.size
    index = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(
        index_shape)), max_size=int(np.prod(index_shape))))).reshape(index_shape)
    out = tc.take(tc.Tensor(x), tc.tensor(index))
    _close(out, rv.take(x, index))
    _close(out, np.take(x, index))
    ref.check_grads(lambda t: tc.take(t, tc.tensor(index)), (x,))  # repeats add up


@given(shapes=tst.broadcastable_shapes(min_dims=0, max_dims=3, max_side=3), data=st.data())
def test_masked_select(shapes, data):
    x = data.draw(tst.float_arrays(shapes[0]))
    seed = data.draw(st.integers(0, 2**32 - 1))
    mask = np.random.default_rng(seed).random(shapes[1]) < 0.5
    out = tc.masked_select(tc.Tensor(x), tc.tensor(mask))
    assert out.ndim == 1
    _close(out, rv.masked_select(x, mask))
    ref.check_grads(lambda t: tc.masked_select(t, tc.tensor(mask)), (x,))


@given(shape=SHAPES_0D, seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(
    [np.float64, np.int32, np.bool_]))
def test_nonzero(shape, seed, dtype):
    x = (np.random.default_rng(seed).integers(-1, 2, size=shape)).astype(dtype)
    out = tc.nonzero(tc.tensor(x))
    assert out.dtype == np.int64 and not out.requires_grad
    if x.ndim:
        np.testing.assert_array_equal(out.numpy(), rv.nonzero(x))
        np.testing.assert_array_equal(out.numpy(), np.argwhere(x))
    else:
        assert out.shape == (int(x != 0), 0)
    parts = tc.nonzero(tc.tensor(x), as_tuple=True)
    expected = np.nonzero(np.atleast_1d(x))
    assert len(parts) == len(expected)
    for got, want in zip(parts, expected, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want)


@given(shapes=tst.broadcastable_shapes(min_dims=0, max_dims=3, max_side=3), data=st.data())
def test_broadcast_tensors(shapes, data):
    arrays = [data.draw(tst.float_arrays(s)) for s in shapes]
    out = tc.broadcast_tensors(*[tc.Tensor(a) for a in arrays])
    for got, want in zip(out, np.broadcast_arrays(*arrays), strict=True):
        _close(got, want)
    weights = [np.random.default_rng(i).standard_normal(out[0].shape) for i in range(2)]
    ref.check_grads(lambda a, b: sum((o * tc.Tensor(w)).sum() for o, w in zip(
        tc.broadcast_tensors(a, b), weights, strict=True)), tuple(arrays))


# ---------------------------------------------------------------------- comparisons


@given(shapes=tst.broadcastable_shapes(min_dims=0, max_dims=3, max_side=3), seed=st.integers(
    0, 2**32 - 1))
def test_logical_xor(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-1, 2, size=shapes[0]), rng.integers(0, 2, size=shapes[1]) * 0.5
    out = tc.logical_xor(tc.tensor(a), tc.tensor(b))
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out.numpy(), (a != 0) != (b != 0))


@given(shapes=tst.broadcastable_shapes(min_dims=0, max_dims=2, max_side=3), data=st.data())
def test_allclose(shapes, data):
    a = data.draw(tst.float_arrays(shapes[0]))
    if data.draw(st.booleans()) and a.size:
        a.reshape(-1)[0] = np.nan
    if data.draw(st.booleans()):  # a relative change of a, broadcast
        scale = data.draw(st.sampled_from([0.0, 1e-9, 1e-6, 1e-4, 1e-2]))
        b = np.broadcast_to(a, np.broadcast_shapes(*shapes)) * (1 + scale)
    else:
        b = data.draw(tst.float_arrays(shapes[1]))
    rtol, atol = data.draw(st.sampled_from([(1e-5, 1e-8), (0.0, 0.0), (1e-3, 0.0), (0.0, 1e-3)]))
    equal_nan = data.draw(st.booleans())
    if data.draw(st.booleans()):
        a, b = b, a
    got = tc.allclose(tc.Tensor(a), tc.Tensor(b), rtol=rtol, atol=atol, equal_nan=equal_nan)
    assert got is rv.allclose(a, b, rtol, atol, equal_nan)
    assert got is bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@given(shape=SHAPES_0D, other=SHAPES_0D, seed=st.integers(0, 2**32 - 1), flip=st.booleans())
def test_equal(shape, other, seed, flip):
    a = np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)
    b = a.copy()
    if flip and a.size:
        b.reshape(-1)[-1] += 1
    assert tc.equal(tc.Tensor(a), tc.Tensor(b)) is rv.equal(a, b) is (not (flip and a.size))
    c = np.zeros(other)
    assert tc.equal(tc.Tensor(a), tc.Tensor(c)) is rv.equal(a, c)
    assert tc.equal(tc.Tensor(a), tc.tensor(a.astype(np.int64))) is True  # 1.0 == 1


@given(shape=SHAPES_0D, seed=st.integers(0, 2**32 - 1), data=st.data())
def test_count_nonzero(shape, seed, data):
    x = np.random.default_rng(seed).integers(-1, 2, size=shape) * 0.5
    ndim = max(x.ndim, 1)
    dims = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(0, ndim - 1), unique=True).map(tuple)))
    out = tc.count_nonzero(tc.Tensor(x), dims)
    axes = range(x.ndim) if dims is None or dims == () or x.ndim == 0 else \
        sorted(d % x.ndim for d in ((dims,) if isinstance(dims, int) else dims))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), rv.count_nonzero(x, list(axes)))
    np.testing.assert_array_equal(
        out.numpy(), np.count_nonzero(x, axis=None if x.ndim == 0 else tuple(axes)))
