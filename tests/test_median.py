"""median and nanmedian (tinygrad_cnn/ops/sort.py): PyTorch's lower median and NaN rules against
a NumPy reference on Hypothesis arrays, PyTorch's values and indices, gradients, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc


def reference(a, axis, skip_nan):
    """The lower median along ``axis`` (NumPy; a NaN anywhere gives NaN unless skip_nan)."""
    def one(row):
        numbers = np.sort(row[~np.isnan(row)]) if row.dtype.kind == "f" else np.sort(row)
        if row.dtype.kind == "f" and (numbers.size < row.size and not skip_nan or
                                      numbers.size == 0):
            return np.nan
        return numbers[(numbers.size - 1) // 2]
    if axis is None:
        return np.asarray(one(a.reshape(-1)), dtype=a.dtype)
    return np.apply_along_axis(one, axis, a).astype(a.dtype)


values = st.one_of(st.floats(-10, 10, width=32), st.sampled_from([np.nan, 1.0, -1.0, 0.0]))


@given(data=st.data(), skip_nan=st.booleans())
def test_values_match_a_numpy_reference(data, skip_nan):
    a = data.draw(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                             elements=values), label="a")
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1), label="dim")
    f = tc.nanmedian if skip_nan else tc.median
    out = f(tc.tensor(a)) if axis is None else f(tc.tensor(a), axis).values
    np.testing.assert_array_equal(out.numpy(), reference(a, axis, skip_nan))
    if axis is not None:  # the indices point at the values
        index = f(tc.tensor(a), axis, keepdim=True).indices.numpy()
        np.testing.assert_array_equal(np.take_along_axis(a, index, axis).squeeze(axis),
                                      reference(a, axis, skip_nan))


@pytest.mark.parametrize("name", ["median", "nanmedian"])
@pytest.mark.parametrize("a", [
    np.array([1.0, 2.0, 3.0, 4.0]),              # even: the lower middle, not 2.5
    np.array([3.0, np.nan, 1.0, 2.0]),
    np.array([np.nan, np.nan]),
    np.array([[1.0, 1.0, 2.0, 2.0], [5.0, np.nan, np.nan, 0.0]]),
    np.array([[2, 1, 2, 1], [0, 0, 0, 7]]),      # integers, ties: which index, as torch
    np.random.default_rng(0).standard_normal((3, 4, 2)),
])
def test_values_and_indices_match_pytorch(name, a, device):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    ours, theirs = getattr(tc, name), getattr(torch, name)
    np.testing.assert_array_equal(ours(tc.tensor(a, device=device)).numpy(),
                                  theirs(torch.tensor(a)).numpy())
    for dim in range(-a.ndim, a.ndim):
        for keepdim in (False, True):
            o = ours(tc.tensor(a, device=device), dim, keepdim=keepdim)
            t = theirs(torch.tensor(a), dim, keepdim=keepdim)
            np.testing.assert_array_equal(o.values.numpy(), t.values.numpy())
            np.testing.assert_array_equal(o.indices.numpy(), t.indices.numpy())
            assert o.indices.dtype == np.int64 and o.values.device == device


def test_gradients_go_to_the_chosen_element():
    x = tc.tensor(np.random.default_rng(2).standard_normal((3, 5)), requires_grad=True)
    for f in (lambda t: t.median(1).values, lambda t: t.median(0, keepdim=True).values,
              lambda t: t.median(), lambda t: t.nanmedian(1).values):
        assert tc.gradcheck(f, (x,))
        assert tc.gradgradcheck(f, (x,))
    y = tc.tensor([4.0, 1.0, 3.0, 2.0], requires_grad=True)
    y.median().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0, 0.0, 1.0])  # 2, the lower middle


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"median: the input is empty \(shape \(0,\)\)"):
        tc.median(tc.zeros(0))
    with pytest.raises(IndexError, match="median"):
        tc.median(tc.zeros(2, 3), 2)
    with pytest.raises(TypeError, match="nanmedian: expected a Tensor, got list"):
        tc.nanmedian([1.0, 2.0])
