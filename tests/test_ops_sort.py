"""sort, argsort, topk: stable order against a loop reference, values' gradients (a scatter of
the upstream gradient), NaN and tie order as PyTorch's, errors, PyTorch as optional oracle."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tests import core_references as ref
from tests import references_ops as rops
from tinygrad_cnn.testing import strategies as tst

SHAPES = tst.array_shapes(min_dims=1, max_dims=3, max_side=4)


@given(x=tst.float_arrays(SHAPES), data=st.data())
def test_sort_argsort_match_stable_reference(x, data):
    # round to a coarse grid so that ties occur and their order is checked
    x = np.round(x)
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    descending = data.draw(st.booleans())
    values, indices = rops.sort(x, dim % x.ndim, descending)
    out = tc.Tensor(x).sort(dim, descending=descending)
    np.testing.assert_array_equal(out.values.numpy(), values)
    np.testing.assert_array_equal(out.indices.numpy(), indices)
    assert out.indices.dtype == np.int64 and not out.indices.requires_grad
    np.testing.assert_array_equal(tc.argsort(tc.Tensor(x), dim, descending).numpy(), indices)
    k = data.draw(st.integers(0, x.shape[dim]))
    largest = data.draw(st.booleans())
    top_values, top_indices = rops.sort(x, dim % x.ndim, largest)
    keep = (slice(None),) * (dim % x.ndim) + (slice(0, k),)
    top = tc.topk(tc.Tensor(x), k, dim, largest=largest)
    np.testing.assert_array_equal(top.values.numpy(), top_values[keep])
    np.testing.assert_array_equal(top.indices.numpy(), top_indices[keep])


@given(x=tst.float_arrays(tst.array_shapes(max_dims=2, max_side=3), distinct=True),
       data=st.data())
def test_sort_and_topk_values_gradients(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    descending = data.draw(st.booleans())
    ref.check_grads(lambda t: t.sort(dim, descending).values, (x,))
    k = data.draw(st.integers(1, x.shape[dim]))
    ref.check_grads(lambda t: t.topk(k, dim, largest=descending).values, (x,))


def test_nan_sorts_above_every_number_and_ties_keep_order():
    x = tc.tensor([1.0, float("nan"), 0.0, 2.0, 1.0])
    asc = x.sort()
    assert asc.indices.tolist() == [2, 0, 4, 3, 1]
    desc = x.sort(descending=True)
    assert desc.indices.tolist() == [1, 3, 0, 4, 2]
    assert x.topk(2).indices.tolist() == [1, 3]


@pytest.mark.parametrize("dtype", [tc.bool_, tc.uint8, tc.int32, tc.int64, tc.float16])
def test_dtypes_keep_their_values_dtype(dtype):
    x = tc.tensor(np.array([[3, 0, 2], [1, 1, 0]]).astype(dtype))
    values, indices = x.sort(1, descending=True)
    assert values.dtype == dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(values.numpy(), -np.sort(-x.numpy().astype(float), 1))
    assert indices.tolist() == ([[0, 2, 1], [0, 1, 2]] if dtype != tc.bool_ else
                                [[0, 2, 1], [0, 1, 2]])


def test_zero_dim():
    s = tc.tensor(2.0)
    assert s.sort().values.item() == 2.0 and s.sort().indices.item() == 0
    assert s.argsort().shape == () and s.topk(1).values.shape == ()


def test_errors():
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        tc.zeros((2, 2)).sort(2)
    with pytest.raises(ValueError, match="k=4 is out of range for dim -1 of size 3"):
        tc.zeros(3).topk(4)
    with pytest.raises(ValueError, match="k=-1"):
        tc.zeros(3).topk(-1)


def test_pytorch_cross_check():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).permutation(24).reshape(2, 3, 4) / 7.0 - 1.0
    for d in (0, 1, -1):
        for desc in (False, True):
            rops.compare_with_torch(torch, lambda t, d=d, desc=desc: tuple(t.sort(d, desc)),
                                    lambda t, d=d, desc=desc: tuple(torch.sort(t, d, desc)), [x])
            rops.compare_with_torch(
                torch, lambda t, d=d, desc=desc: tuple(t.topk(2, d, largest=desc)),
                lambda t, d=d, desc=desc: tuple(torch.topk(t, 2, d, largest=desc)), [x])
    ties = np.array([1.0, np.nan, 0.0, 2.0, 1.0, 0.0])
    for desc in (False, True):
        ours = tc.tensor(ties).sort(descending=desc)
        theirs = torch.sort(torch.tensor(ties), descending=desc, stable=True)
        assert ours.indices.tolist() == theirs.indices.tolist()
