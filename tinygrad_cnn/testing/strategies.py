"""Hypothesis strategies for property-testing ops, built-in or your own.

    from hypothesis import given
    from tinygrad_cnn.testing import strategies as tst

    @given(tst.float_arrays(tst.array_shapes()))
    def test_my_op(x):
        assert tc.gradcheck(my_op, (x,))

Requires hypothesis (``pip install 'tinygrad_cnn[test]'``); the rest of the package does not.
"""

from __future__ import annotations

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "tinygrad_cnn.testing needs hypothesis: pip install 'tinygrad_cnn[test]'"
    ) from e


def array_shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Shapes (tuples of ints) with ``min_dims``..``max_dims`` dims of ``min_side``..``max_side``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4):
    """Pairs of shapes that broadcast together under NumPy's rules (either may be smaller)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda s: s.input_shapes)


@st.composite
def float_arrays(draw, shape, dtype=np.float64, min_value: float = -3.0, max_value: float = 3.0,
                 avoid=(), margin: float = 1e-2, distinct: bool = False):
    """Float arrays of ``shape`` (a shape or a strategy for one) with values in
    [min_value, max_value], kept at least ``margin`` away from each point in ``avoid`` (the kinks
    of the op under test, e.g. ``avoid=(0.0,)`` for ReLU). ``distinct=True`` makes all values
    differ by at least ``margin`` (no ties, for max-type ops).
    """
    if not isinstance(shape, tuple):
        shape = draw(shape)
    size = int(np.prod(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = rng.uniform(min_value, max_value, size=size)
    for point in avoid:
        close = np.abs(values - point) < margin
        values[close] = point + np.where(values[close] >= point, margin, -margin) * (
            1 + rng.uniform(size=int(close.sum()))
        )
    if distinct and size > 1:
        # replace the values by a shuffled evenly spaced grid; with the jitter below every gap
        # is at least half a grid step, so a step >= 4 * margin leaves gaps >= 2 * margin, and
        # moving the (at most one) value within margin of an `avoid` point out to exactly margin
        # away still leaves every gap >= margin
        spread = max(max_value - min_value, 4 * margin * size)
        grid = min_value + spread * (np.arange(size) + 0.5) / size
        jitter = rng.uniform(-0.25, 0.25, size=size) * spread / size
        values = rng.permutation(grid + jitter)
        for point in avoid:
            offset = values - point
            close = np.abs(offset) < margin
            values[close] = point + np.where(offset[close] >= 0, margin, -margin)
    return values.reshape(shape).astype(dtype)
