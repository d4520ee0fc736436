"""The public Hypothesis strategies produce what they promise."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_cnn.testing import strategies as tst


@given(tst.array_shapes(min_dims=2, max_dims=4, min_side=2, max_side=5))
def test_array_shapes_bounds(shape):
    assert 2 <= len(shape) <= 4 and all(2 <= n <= 5 for n in shape)


@given(tst.broadcastable_shapes(max_dims=4))
def test_broadcastable_shapes_broadcast(shapes):
    a, b = shapes
    out = np.broadcast_shapes(a, b)
    assert len(out) == max(len(a), len(b))


@given(st.data())
def test_float_arrays_keep_away_from_kinks(data):
    shape = data.draw(tst.array_shapes(max_dims=3, max_side=5))
    avoid = data.draw(st.lists(st.floats(-2, 2), max_size=2))
    x = data.draw(tst.float_arrays(shape, avoid=tuple(avoid), margin=0.05))
    assert x.shape == shape and x.dtype == np.float64
    for point in avoid:
        assert np.all(np.abs(x - point) >= 0.05 - 1e-12)


@given(st.data())
def test_float_arrays_distinct_has_no_ties(data):
    shape = data.draw(tst.array_shapes(max_dims=3, max_side=12))
    x = data.draw(tst.float_arrays(shape, distinct=True, margin=0.01, dtype=np.float32,
                                   avoid=(0.0,)))
    assert x.dtype == np.float32
    gaps = np.diff(np.sort(x.astype(np.float64).ravel()))
    assert gaps.size == 0 or gaps.min() >= 0.01 - 1e-6
    assert np.all(np.abs(x) >= 0.01 - 1e-6)


@given(tst.float_arrays(tst.array_shapes(), min_value=0.5, max_value=1.5))
def test_float_arrays_range(x):
    assert x.min() >= 0.5 and x.max() <= 1.5
