"""Shape ops and indexing: forward against NumPy, gradients in float64, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tinygrad_cnn.testing import strategies as tst

SHAPES = tst.array_shapes(min_dims=1, max_dims=3, max_side=3)


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_reshape_view_flatten(x, data):
    flat = tc.Tensor(x).reshape(-1)
    np.testing.assert_array_equal(flat.numpy(), x.reshape(-1))
    np.testing.assert_array_equal(tc.Tensor(x).view(x.size, 1).numpy(), x.reshape(x.size, 1))
    start = data.draw(st.integers(-x.ndim, x.ndim - 1))
    end = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s, e = start % x.ndim, end % x.ndim
    if s <= e:
        expected = x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1 :])
        np.testing.assert_array_equal(tc.Tensor(x).flatten(start, end).numpy(), expected)
        ref.check_grads(lambda t: t.flatten(start, end), (x,))
    ref.check_grads(lambda t: t.reshape(1, -1) * 2, (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_permute_transpose_T(x, data):
    dims = tuple(data.draw(st.permutations(range(x.ndim))))
    neg = tuple(d - x.ndim for d in dims)
    np.testing.assert_array_equal(tc.Tensor(x).permute(*dims).numpy(), np.transpose(x, dims))
    np.testing.assert_array_equal(tc.permute(tc.Tensor(x), neg).numpy(), np.transpose(x, dims))
    np.testing.assert_array_equal(tc.Tensor(x).T.numpy(), x.T)
    d0 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d1 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    np.testing.assert_array_equal(tc.Tensor(x).transpose(d0, d1).numpy(), np.swapaxes(x, d0, d1))
    ref.check_grads(lambda t: t.permute(dims), (x,))
    ref.check_grads(lambda t: tc.transpose(t, d0, d1), (x,))


@given(x=tst.float_arrays(tst.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=2)),
       data=st.data())
def test_squeeze_unsqueeze(x, data):
    np.testing.assert_array_equal(tc.Tensor(x).squeeze().numpy(), np.squeeze(x))
    d = data.draw(st.integers(-x.ndim, x.ndim - 1))
    expected = np.squeeze(x, d) if x.shape[d] == 1 else x  # PyTorch keeps a non-1 dim
    np.testing.assert_array_equal(tc.Tensor(x).squeeze(d).numpy(), expected)
    u = data.draw(st.integers(-x.ndim - 1, x.ndim))
    np.testing.assert_array_equal(tc.Tensor(x).unsqueeze(u).numpy(), np.expand_dims(x, u))
    ref.check_grads(lambda t: t.unsqueeze(u).squeeze(), (x,))


@given(shapes=tst.broadcastable_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data())
def test_expand_broadcast_to(shapes, data):
    small, other = shapes
    target = np.broadcast_shapes(small, other)
    x = data.draw(tst.float_arrays(small))
    np.testing.assert_array_equal(tc.Tensor(x).expand(*target).numpy(),
                                  np.broadcast_to(x, target))
    np.testing.assert_array_equal(tc.broadcast_to(tc.Tensor(x), target).numpy(),
                                  np.broadcast_to(x, target))
    keep = tuple(-1 if i >= len(target) - x.ndim and x.shape[i - len(target) + x.ndim] == n
                 else n for i, n in enumerate(target))
    np.testing.assert_array_equal(tc.Tensor(x).expand(keep).numpy(), np.broadcast_to(x, target))
    ref.check_grads(lambda t: t.expand(target), (x,))


# indices for a (4, 3, 2) array: basic and advanced, with repeats
INDEX_CASES = [
    1, -1, slice(1, 3), slice(None, None, -2), (slice(None), 2), (Ellipsis, 1), (None, 0),
    (0, None, slice(None), Ellipsis), (1, -1, 0),
    [0, 2, 2, 0],  # repeated rows: their gradients add
    (np.array([3, 3, 1]), slice(None), np.array([0, 1, 1])),
    (slice(1, None), np.array([[0, 0], [2, 1]])),
    (Ellipsis, np.array([1, 1])),
]


@pytest.mark.parametrize("index", INDEX_CASES, ids=[repr(i) for i in INDEX_CASES])
def test_getitem_against_numpy_with_gradient(index):
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    out = tc.Tensor(x)[index]
    np.testing.assert_array_equal(out.numpy(), x[index])
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    t = tc.Tensor(x, requires_grad=True)
    t[index].backward(tc.Tensor(upstream))
    np.testing.assert_allclose(t.grad.numpy(), ref.getitem_grad(x.shape, index, upstream))
    ref.check_grads(lambda t: t[index], (x,))


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_getitem_boolean_mask_and_tensor_index(x, data):
    seed = data.draw(st.integers(0, 1000))
    mask = np.random.default_rng(seed).random(x.shape) > 0.4
    np.testing.assert_array_equal(tc.Tensor(x)[tc.Tensor(mask)].numpy(), x[mask])
    ref.check_grads(lambda t: t[mask] * 3, (x,), twice=mask.any())
    rows = np.random.default_rng(seed).integers(0, x.shape[0], size=5)  # repeats likely
    np.testing.assert_array_equal(tc.Tensor(x)[tc.tensor(rows)].numpy(), x[rows])
    t = tc.Tensor(x, requires_grad=True)
    upstream = np.random.default_rng(seed + 1).standard_normal(x[rows].shape)
    t[rows.tolist()].backward(upstream)
    np.testing.assert_allclose(t.grad.numpy(), ref.getitem_grad(x.shape, rows, upstream))


def test_getitem_with_comparison_mask():
    t = tc.Tensor(np.array([[1.0, -2.0], [3.0, -4.0]]), requires_grad=True)
    picked = t[t > 0]
    np.testing.assert_array_equal(picked.numpy(), [1.0, 3.0])
    (picked * tc.Tensor(np.array([2.0, 5.0]))).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[2.0, 0.0], [5.0, 0.0]])


@given(data=st.data())
def test_cat_and_stack(data):
    base = data.draw(tst.array_shapes(min_dims=1, max_dims=3, max_side=3))
    dim = data.draw(st.integers(-len(base), len(base) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    arrays = []
    for n in sizes:
        shape = list(base)
        shape[dim] = n
        arrays.append(data.draw(tst.float_arrays(tuple(shape))))
    out = tc.cat([tc.Tensor(a) for a in arrays], dim)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, dim))
    np.testing.assert_array_equal(tc.concatenate([tc.Tensor(a) for a in arrays], dim).numpy(),
                                  np.concatenate(arrays, dim))
    ref.check_grads(lambda *ts: tc.cat(ts, dim), tuple(arrays), twice=len(arrays) < 3)
    same = [data.draw(tst.float_arrays(base)) for _ in sizes]
    sdim = data.draw(st.integers(-len(base) - 1, len(base)))
    np.testing.assert_array_equal(tc.stack([tc.Tensor(a) for a in same], sdim).numpy(),
                                  np.stack(same, sdim))
    ref.check_grads(lambda *ts: tc.stack(ts, sdim), tuple(same), twice=False)


def test_cat_mixed_requires_grad():
    a = tc.Tensor(np.ones((2, 2)), requires_grad=True)
    b = tc.Tensor(np.zeros((1, 2)))
    tc.cat([a, b]).backward(tc.Tensor(np.arange(6.0).reshape(3, 2)))
    np.testing.assert_array_equal(a.grad.numpy(), [[0.0, 1.0], [2.0, 3.0]])
    assert b.grad is None


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_pad_pytorch_order(x, data):
    n = data.draw(st.integers(1, x.ndim))
    widths = tuple(data.draw(st.lists(st.integers(0, 2), min_size=2 * n, max_size=2 * n)))
    value = data.draw(st.sampled_from([0.0, -1.5]))
    out = tc.pad(tc.Tensor(x), widths, value=value)
    np.testing.assert_array_equal(out.numpy(), ref.pad_torch_order(x, widths, value))
    ref.check_grads(lambda t: tc.pad(t, widths, value=value), (x,))


def test_shape_ops_on_device(device):
    x = tc.tensor(np.arange(12.0).reshape(3, 4), device=device, requires_grad=True)
    y = tc.cat([x[1:, ::2], x[[0, 0]].T.reshape(2, 4)[:, :2]], 0)
    y = tc.pad(tc.stack([y, y], 0), (1, 0)).flatten()
    y.sum().backward()
    assert x.grad.device == tc.backend.normalize_device(device)
    assert tc.gradcheck(lambda t: tc.pad(t[t > 4.5][None], (1, 2)).expand(2, -1), (x.double(),))


def test_shape_errors_name_the_shapes():
    x = tc.ones(2, 3)
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) \(6 elem"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"into shape \(-1, -1\)"):
        x.reshape(-1, -1)
    with pytest.raises(TypeError, match=r"reshape: a shape holds ints, got 2.0 \(float\)"):
        x.reshape(2.0, 3)  # torch refuses it too; int() truncated 2.9 to 2
    with pytest.raises(TypeError, match="sum: dim must be an int, a tuple of ints or None"):
        x.sum(1.0)  # was "'float' object is not iterable"
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0\) are not a permutation"):
        x.permute(0, 0)
    with pytest.raises(IndexError, match="transpose: dim 2 is out of range"):
        x.transpose(0, 2)
    with pytest.raises(ValueError, match=r"expand: dim 1 of shape \(2, 3\) has size 3"):
        x.expand(2, 4)
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(2, 3\) to fewer dims"):
        x.expand(3)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 2\), which does not "
                                         r"match tensor 0's \(2, 3\) outside dim 0"):
        tc.cat([x, tc.ones(2, 2)])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(3,\) but tensor 0 has"):
        tc.stack([tc.ones(2), tc.ones(3)])
    with pytest.raises(ValueError, match="cat: expected a non-empty list"):
        tc.cat([])
    with pytest.raises(ValueError, match=r"pad: expected an even number of widths for at most "
                                         r"2 dims, got \(1, 1, 1\)"):
        tc.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="negative padding"):
        tc.pad(x, (-1, 0))
    with pytest.raises(NotImplementedError, match="mode 'reflect'"):
        tc.pad(x, (1, 1), mode="reflect")
    with pytest.raises(IndexError, match=r"does not fit a tensor of shape \(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match="index arrays must be integer or boolean"):
        x[np.array([0.5])]
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not fit"):
        x @ x
    with pytest.raises(ValueError, match=r"matmul \(batch dims\): shapes \(2,\) and \(3,\)"):
        tc.ones(2, 2, 3) @ tc.ones(3, 3, 1)
    with pytest.raises(ValueError, match="matmul: both operands need at least 1 dim"):
        tc.matmul(tc.tensor(1.0), x)
