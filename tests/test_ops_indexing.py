"""gather, scatter, scatter_add, index_add, index_select, take_along_dim, masked_fill, one_hot:
forward against loop references, float64 gradients, bounds errors naming the index, dtype rules,
PyTorch as an optional oracle."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import core_references as ref
from tests import references_ops as rops
from tinygrad_cnn.testing import strategies as tst


@st.composite
def gather_cases(draw, max_dims=3, max_side=3, src_extra=False):
    """(x, dim, index, src): index has x's rank, sizes <= x's outside dim, values in range;
    src (for scatter) at least index's size in every dim."""
    shape = draw(tst.array_shapes(min_dims=1, max_dims=max_dims, max_side=max_side))
    x = draw(tst.float_arrays(shape))
    ndim = len(shape)
    dim = draw(st.integers(-ndim, ndim - 1))
    d = dim % ndim
    index_shape = tuple(draw(st.integers(1, 4)) if i == d else draw(st.integers(1, n))
                        for i, n in enumerate(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    index = np.random.default_rng(seed).integers(0, shape[d], size=index_shape)
    src_shape = tuple(n + (draw(st.integers(0, 1)) if src_extra else 0) for n in index_shape)
    src = draw(tst.float_arrays(src_shape))
    return x, dim, index, src


@given(case=gather_cases())
def test_gather_forward_and_gradients(case):
    x, dim, index, _ = case
    out = tc.gather(tc.Tensor(x), dim, tc.tensor(index))
    np.testing.assert_array_equal(out.numpy(), rops.gather(x, dim % x.ndim, index))
    np.testing.assert_array_equal(tc.Tensor(x).gather(dim, index).numpy(), out.numpy())
    ref.check_grads(lambda t: t.gather(dim, tc.tensor(index)), (x,))


@given(case=gather_cases(src_extra=True))
def test_scatter_add_forward_and_gradients(case):
    x, dim, index, src = case
    out = tc.scatter_add(tc.Tensor(x), dim, tc.tensor(index), tc.Tensor(src))
    expected = rops.scatter(x, dim % x.ndim, index, src[tuple(slice(0, n) for n in index.shape)],
                            add=True)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    ref.check_grads(lambda t, s: t.scatter_add(dim, tc.tensor(index), s), (x, src))


@given(case=gather_cases(src_extra=True), data=st.data())
def test_scatter_forward_and_gradients(case, data):
    x, dim, index, src = case
    d = dim % x.ndim
    # distinct destinations along dim, so that no write is overwritten (PyTorch leaves the
    # winner of repeated writes unspecified)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    k = min(index.shape[d], x.shape[d])
    index = np.take(index, range(k), axis=d)
    perm = np.argsort(rng.random(index.shape[:d] + (x.shape[d],) + index.shape[d + 1 :]), axis=d)
    index = np.take(perm, range(k), axis=d)
    block = src[tuple(slice(0, n) for n in index.shape)]
    out = tc.Tensor(x).scatter(dim, tc.tensor(index), tc.Tensor(src))
    np.testing.assert_array_equal(out.numpy(), rops.scatter(x, d, index, block, add=False))
    ref.check_grads(lambda t, s: tc.scatter(t, dim, tc.tensor(index), s), (x, src))
    filled = tc.scatter(tc.Tensor(x), dim, tc.tensor(index), value=2.5)
    np.testing.assert_array_equal(filled.numpy(), rops.scatter(x, d, index, 2.5, add=False))
    ref.check_grads(lambda t: t.scatter(dim, tc.tensor(index), -1.0), (x,))


@given(x=tst.float_arrays(tst.array_shapes(max_dims=3, max_side=3)), data=st.data())
def test_index_add_and_index_select(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d = dim % x.ndim
    index = np.array(data.draw(st.lists(st.integers(0, x.shape[d] - 1), min_size=0, max_size=4)),
                     dtype=np.int64)
    source = data.draw(tst.float_arrays(x.shape[:d] + (len(index),) + x.shape[d + 1 :]))
    alpha = data.draw(st.sampled_from([1, -0.5, 2.0]))
    out = tc.index_add(tc.Tensor(x), dim, tc.tensor(index), tc.Tensor(source), alpha=alpha)
    np.testing.assert_allclose(out.numpy(), rops.index_add(x, d, index, source, alpha),
                               rtol=1e-12, atol=1e-12)
    ref.check_grads(lambda t, s: t.index_add(dim, tc.tensor(index), s, alpha=alpha), (x, source))
    selected = tc.index_select(tc.Tensor(x), dim, tc.tensor(index))
    np.testing.assert_array_equal(selected.numpy(), np.take(x, index, axis=d))
    if len(index):
        ref.check_grads(lambda t: t.index_select(dim, tc.tensor(index)), (x,))


@given(x=tst.float_arrays(tst.array_shapes(max_dims=3, max_side=3)), data=st.data())
def test_take_along_dim(x, data):
    dim = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    if dim is None:
        index = rng.integers(-x.size, x.size, size=data.draw(st.integers(1, 5)))
        expected = x.reshape(-1)[index]
    else:
        d = dim % x.ndim
        # broadcasting outside dim: each of index's other dims is x's size or 1
        shape = tuple(data.draw(st.integers(1, 3)) if i == d else
                      data.draw(st.sampled_from([1, n])) for i, n in enumerate(x.shape))
        index = rng.integers(-x.shape[d], x.shape[d], size=shape)
        expected = np.take_along_axis(x, index, axis=d)
    out = tc.take_along_dim(tc.Tensor(x), tc.tensor(index), dim)
    np.testing.assert_array_equal(out.numpy(), expected)
    ref.check_grads(lambda t: t.take_along_dim(tc.tensor(index), dim), (x,))


@given(shapes=tst.broadcastable_shapes(max_dims=3, max_side=3), data=st.data())
def test_masked_fill(shapes, data):
    x_shape, mask_shape = shapes
    x = data.draw(tst.float_arrays(x_shape))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=int(np.prod(mask_shape)),
                                       max_size=int(np.prod(mask_shape))))).reshape(mask_shape)
    out = tc.Tensor(x).masked_fill(tc.tensor(mask), -7.5)
    np.testing.assert_array_equal(out.numpy(), np.where(mask, -7.5, x))
    ref.check_grads(lambda t: tc.masked_fill(t, tc.tensor(mask), 1.5), (x,))
    ref.check_grads(lambda t, v: t.masked_fill(tc.tensor(mask), v), (x, np.array(0.25)))


def test_masked_fill_keeps_dtype():
    x = tc.tensor([1, 2, 3])
    out = x.masked_fill(tc.tensor([True, False, True]), 1.7)
    assert out.dtype == np.int64 and out.tolist() == [1, 2, 1]
    h = tc.tensor([1.0, 2.0], dtype=tc.float16).masked_fill(tc.tensor([True, False]), 0.5)
    assert h.dtype == np.float16


@given(values=st.lists(st.integers(0, 5), min_size=0, max_size=6), data=st.data())
def test_one_hot(values, data):
    shape = data.draw(st.sampled_from([(len(values),), (1, len(values))]))
    t = np.array(values, dtype=np.int64).reshape(shape)
    classes = data.draw(st.integers(max(values, default=0) + 1, 8))
    out = F.one_hot(tc.tensor(t), classes)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), rops.one_hot(t, classes))
    if values:
        np.testing.assert_array_equal(F.one_hot(tc.tensor(t)).numpy(),
                                      rops.one_hot(t, max(values) + 1))


def test_index_dtypes_and_integer_inputs():
    x = tc.tensor([[1, 2], [3, 4]], dtype=tc.int32)
    for idx_dtype in (tc.int32, tc.int64, tc.uint8):
        out = x.gather(1, tc.tensor([[1], [0]], dtype=idx_dtype))
        assert out.dtype == np.int32 and out.tolist() == [[2], [3]]
    assert x.scatter_add(0, tc.tensor([[1, 1]]), tc.tensor([[10, 20]], dtype=tc.int32)).tolist() \
        == [[1, 2], [13, 24]]
    b = tc.tensor([True, False, True])
    assert b.gather(0, tc.tensor([2, 1])).tolist() == [True, False]


def test_out_of_range_indices_raise_naming_the_index():
    x = tc.zeros((2, 3))
    with pytest.raises(IndexError, match="gather: index 3 is out of bounds for dim 1 with size 3"):
        x.gather(1, tc.tensor([[0, 3]]))
    with pytest.raises(IndexError, match="gather: index -1 is out of bounds for dim 0"):
        x.gather(0, tc.tensor([[-1, 0, 0]]))
    with pytest.raises(IndexError, match="scatter_add: index 2 is out of bounds for dim 0"):
        x.scatter_add(0, tc.tensor([[2]]), tc.ones((1, 1)))
    with pytest.raises(IndexError, match="scatter: index 5 is out of bounds for dim 1"):
        x.scatter(1, tc.tensor([[5]]), 1.0)
    with pytest.raises(IndexError, match="index_add: index -1 is out of bounds for dim 0"):
        x.index_add(0, tc.tensor([-1]), tc.ones((1, 3)))
    with pytest.raises(IndexError, match="take_along_dim: index 3 is out of bounds for dim 1"):
        x.take_along_dim(tc.tensor([[3]]), 1)
    with pytest.raises(IndexError, match="take_along_dim: index -7 is out of bounds for dim 0"):
        x.take_along_dim(tc.tensor([-7]))
    with pytest.raises(IndexError, match="index_select: index 2 is out of bounds"):
        x.index_select(0, tc.tensor([2]))


def test_shape_and_type_errors():
    x = tc.zeros((2, 3))
    with pytest.raises(ValueError, match="index has 1 dims .* but input has 2"):
        x.gather(0, tc.tensor([0]))
    with pytest.raises(ValueError, match=r"index shape \(3, 1\) is larger than input shape"):
        x.gather(1, tc.zeros((3, 1), dtype=tc.int64))
    with pytest.raises(ValueError, match=r"larger than src shape \(1, 1\)"):
        x.scatter_add(0, tc.zeros((1, 2), dtype=tc.int64), tc.ones((1, 1)))
    with pytest.raises(TypeError, match="index must be an integer tensor, got float32"):
        x.gather(0, tc.zeros((1, 3)))
    with pytest.raises(TypeError, match="src dtype float64 differs from input dtype float32"):
        x.scatter_add(0, tc.zeros((1, 3), dtype=tc.int64), tc.ones((1, 3), dtype=tc.float64))
    with pytest.raises(ValueError, match=r"index_add: source has shape \(2, 3\)"):
        x.index_add(0, tc.tensor([0]), tc.ones((2, 3)))
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor, got float32"):
        x.masked_fill(tc.ones(3), 1.0)
    with pytest.raises(ValueError, match="masked_fill: shapes"):
        x.masked_fill(tc.ones(2, dtype=tc.bool_), 1.0)
    with pytest.raises(ValueError, match="class value 3 is not smaller than num_classes=3"):
        F.one_hot(tc.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(tc.tensor([-1]), 3)
    with pytest.raises(TypeError, match="integer tensor of class indices, got float32"):
        F.one_hot(tc.tensor([1.0]))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.gather(2, tc.zeros((2, 3), dtype=tc.int64))


def test_gather_backward_is_scatter_add_and_back():
    """Second derivatives through the shared mechanism: grad of gather is a scatter_add of the
    upstream gradient (repeats add), and its own derivative a gather again."""
    x = tc.tensor([1.0, 2.0, 3.0], dtype=tc.float64, requires_grad=True)
    index = tc.tensor([2, 2, 0])
    out = x.gather(0, index)
    up = tc.tensor([1.0, 10.0, 100.0], dtype=tc.float64, requires_grad=True)
    (g,) = tc.grad(out, (x,), up, create_graph=True)
    assert g.tolist() == [100.0, 0.0, 11.0]
    (gg,) = tc.grad((g * tc.tensor([1.0, 2.0, 3.0], dtype=tc.float64)).sum(), (up,))
    assert gg.tolist() == [3.0, 3.0, 1.0]


def test_pytorch_cross_check():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    index = rng.integers(0, 3, (2, 4))
    src = rng.standard_normal((3, 4))
    ti = torch.tensor(index)
    rops.compare_with_torch(torch, lambda t: t.gather(0, tc.tensor(index)),
                            lambda t: t.gather(0, ti), [x])
    # src of index's shape: PyTorch's backward fails for a larger src (its gradient has
    # index's shape), which ours handles (zeros outside the used block)
    rops.compare_with_torch(torch, lambda t, s: t.scatter_add(0, tc.tensor(index), s),
                            lambda t, s: t.scatter_add(0, ti, s), [x, src[:2]])
    unique = np.array([[2, 0, 1, 2], [0, 1, 0, 1]])
    rops.compare_with_torch(torch, lambda t, s: t.scatter(0, tc.tensor(unique), s),
                            lambda t, s: t.scatter(0, torch.tensor(unique), s), [x, src[:2]])
    rops.compare_with_torch(torch, lambda t: t.scatter(1, tc.tensor(index), 0.5),
                            lambda t: t.scatter(1, ti, 0.5), [x])
    rows = np.array([2, 0, 2])
    rops.compare_with_torch(
        torch, lambda t, s: t.index_add(0, tc.tensor(rows), s, alpha=2.0),
        lambda t, s: t.index_add(0, torch.tensor(rows), s, alpha=2.0), [x, src])
    rops.compare_with_torch(torch, lambda t: t.index_select(1, tc.tensor(rows)),
                            lambda t: t.index_select(1, torch.tensor(rows)), [x])
    along = np.array([[0], [3], [-1]])
    rops.compare_with_torch(torch, lambda t: t.take_along_dim(tc.tensor(along), 1),
                            lambda t: t.take_along_dim(torch.tensor(along), 1), [x])
    rops.compare_with_torch(torch, lambda t: tc.take_along_dim(t, tc.tensor([5, 2])),
                            lambda t: torch.take_along_dim(t, torch.tensor([5, 2])), [x])
    mask = x > 0.3
    rops.compare_with_torch(torch, lambda t: t.masked_fill(tc.tensor(mask), 2.0),
                            lambda t: t.masked_fill(torch.tensor(mask), 2.0), [x])
    rops.compare_with_torch(torch, lambda t, v: t.masked_fill(tc.tensor(mask), v),
                            lambda t, v: t.masked_fill(torch.tensor(mask), v), [x, np.array(1.5)])
    labels = np.array([[0, 3], [2, 1]])
    assert F.one_hot(tc.tensor(labels), 5).tolist() == \
        torch.nn.functional.one_hot(torch.tensor(labels), 5).tolist()
