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
    from hypothesis import assume
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "tinygrad_cnn.testing needs hypothesis: pip install 'tinygrad_cnn[test]'"
    ) from e


def array_shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Shapes (tuples of ints): ``min_dims``..``max_dims`` dims of ``min_side``..``max_side``."""
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
    differ by at least ``margin`` (no ties, for max-type ops); when the range is too short for
    that, the values run on past ``max_value``, still avoiding every point. A ValueError says so
    when ``avoid`` leaves nothing of the range.
    """
    if not isinstance(shape, tuple):
        shape = draw(shape)
    size = int(np.prod(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    intervals = _allowed_intervals(min_value, max_value, avoid, margin)
    room = sum(hi - lo for lo, hi in intervals)
    if distinct and size > 1:
        # a shuffled evenly spaced grid over the allowed room; with the jitter every gap is at
        # least half a grid step, and a step >= 4 * margin leaves gaps >= 2 * margin
        spread = max(room, 4 * margin * size)
        top = max_value
        while room < spread:  # too little room for distinct values: run on past max_value
            top += spread - room
            intervals = _allowed_intervals(min_value, top, avoid, margin)
            room = sum(hi - lo for lo, hi in intervals)
        jitter = rng.uniform(-0.25, 0.25, size=size)
        u = rng.permutation(spread * (np.arange(size) + 0.5 + jitter) / size)
    else:
        u = rng.uniform(0.0, room, size=size)
    return _place(u, intervals).reshape(shape).astype(dtype)


def _allowed_intervals(min_value, max_value, avoid, margin) -> list[tuple[float, float]]:
    """[min_value, max_value] less the open intervals within ``margin`` of each ``avoid`` point,
    as sorted disjoint (lo, hi) pieces; a ValueError when nothing is left."""
    pieces, start = [], float(min_value)
    for lo, hi in sorted((p - margin, p + margin) for p in avoid):
        if lo > start:
            pieces.append((start, min(lo, max_value)))
        start = max(start, hi)
    if start < max_value:
        pieces.append((start, float(max_value)))
    pieces = [(lo, hi) for lo, hi in pieces if hi > lo]
    if not pieces:
        raise ValueError(f"float_arrays: nothing in [{min_value}, {max_value}] is at least "
                         f"{margin} away from {tuple(avoid)}")
    return pieces


def _place(u, intervals):
    """Map offsets 0 <= u < total length into the allowed pieces, laid end to end (monotone:
    gaps never shrink)."""
    lows = np.array([lo for lo, _ in intervals])
    ends = np.cumsum([hi - lo for lo, hi in intervals])
    begins = np.concatenate(([0.0], ends[:-1]))
    piece = np.minimum(np.searchsorted(ends, u, side="right"), len(intervals) - 1)
    return lows[piece] + (u - begins[piece])


# ---------------------------------------------------------------------- convolution geometry


@st.composite
def conv2d_geometries(draw, max_batch: int = 2, max_channels: int = 4, max_size: int = 7,
                      max_kernel: int = 3, max_stride: int = 3, max_dilation: int = 2,
                      string_padding: bool = True, depthwise: bool = True):
    """Valid arguments of ``conv2d``: a dict with input_shape (N, C_in, H, W), weight_shape
    (C_out, C_in/groups, KH, KW), stride, padding, dilation and groups (all pairs or ints).

    Covers non-square inputs and kernels, stride larger than the kernel, padding up to kernel-1
    (symmetric, per-axis, asymmetric ((top, bottom), (left, right)), "valid", "same"), dilation,
    groups and depthwise convolution; the kernel always fits the padded input.
    """
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    dh, dw = draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    kind = draw(st.sampled_from(["int", "pair", "asymmetric"]
                                + (["valid", "same"] if string_padding else [])))
    if kind == "int":
        padding = draw(st.integers(0, min(kh, kw) - 1))
        pads = ((padding, padding), (padding, padding))
    elif kind == "pair":
        padding = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)))
        pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    elif kind == "asymmetric":
        pads = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in (kh, kw))
        padding = pads
    else:
        padding, pads = kind, ((0, 0), (0, 0))  # "same" only pads, so "valid"'s bound suffices
    sizes = []
    for k, d, (lo, hi) in zip((kh, kw), (dh, dw), pads, strict=True):
        smallest = max(1, d * (k - 1) + 1 - lo - hi)
        sizes.append(draw(st.integers(smallest, max(smallest, max_size))))
    groups, c_in, c_out = _draw_channels(draw, max_channels, depthwise)
    n = draw(st.integers(1, max_batch))
    return {
        "input_shape": (n, c_in, sizes[0], sizes[1]),
        "weight_shape": (c_out, c_in // groups, kh, kw),
        "stride": (sh, sw) if sh != sw else sh,
        "padding": padding,
        "dilation": (dh, dw) if dh != dw else dh,
        "groups": groups,
    }


@st.composite
def conv_transpose2d_geometries(draw, max_batch: int = 2, max_channels: int = 4,
                                max_size: int = 5, max_kernel: int = 3, max_stride: int = 3,
                                max_dilation: int = 2, depthwise: bool = True):
    """Valid arguments of ``conv_transpose2d``: a dict with input_shape (N, C_in, H, W),
    weight_shape (C_in, C_out/groups, KH, KW), stride, padding, output_padding, dilation and
    groups (pairs or ints; padding may also be ((top, bottom), (left, right))).

    Unlike the input gradients of ``conv2d_geometries``, padding goes up to and beyond
    dilation*(kernel-1) (as far as the output keeps at least one row and column), and
    output_padding is any value in [0, max(stride, dilation) - 1] (PyTorch's rule), so the
    output size (H-1)*stride - pad_top - pad_bottom + dilation*(KH-1) + output_padding + 1 is
    anything from 1 up.
    """
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    dh, dw = draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    eh, ew = draw(st.integers(0, max(sh, dh) - 1)), draw(st.integers(0, max(sw, dw) - 1))
    # the most total padding that leaves one output row: (H-1)*S + D*(K-1) + output_padding
    room_h, room_w = (h - 1) * sh + dh * (kh - 1) + eh, (w - 1) * sw + dw * (kw - 1) + ew
    kind = draw(st.sampled_from(["int", "pair", "asymmetric"]))
    if kind == "int":
        padding = draw(st.integers(0, min(room_h, room_w) // 2))
    elif kind == "pair":
        padding = (draw(st.integers(0, room_h // 2)), draw(st.integers(0, room_w // 2)))
    else:
        top, left = draw(st.integers(0, room_h)), draw(st.integers(0, room_w))
        padding = ((top, draw(st.integers(0, room_h - top))),
                   (left, draw(st.integers(0, room_w - left))))
    groups, c_in, c_out = _draw_channels(draw, max_channels, depthwise)
    return {
        "input_shape": (draw(st.integers(1, max_batch)), c_in, h, w),
        "weight_shape": (c_in, c_out // groups, kh, kw),
        "stride": (sh, sw) if sh != sw else sh,
        "padding": padding,
        "output_padding": (eh, ew) if eh != ew else eh,
        "dilation": (dh, dw) if dh != dw else dh,
        "groups": groups,
    }


def _draw_channels(draw, max_channels: int, depthwise: bool) -> tuple[int, int, int]:
    """(groups, C_in, C_out): one group, two groups, or depthwise (groups = C_in, C_out a
    multiple of it); both channel counts divisible by groups."""
    groups_kind = draw(st.sampled_from(["one", "two"] + (["depthwise"] if depthwise else [])))
    if groups_kind == "one":
        return 1, draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    if groups_kind == "two":
        return (2, 2 * draw(st.integers(1, max(1, max_channels // 2))),
                2 * draw(st.integers(1, max(1, max_channels // 2))))
    c_in = draw(st.integers(1, max_channels))
    return c_in, c_in, c_in * draw(st.integers(1, max(1, max_channels // c_in)))


@st.composite
def pool_geometries(draw, kind: str = "max", max_batch: int = 2, max_channels: int = 3,
                    max_size: int = 7, max_kernel: int = 3, max_stride: int = 3):
    """Valid arguments of a pooling op: a dict with input_shape (N, C, H, W), kernel_size,
    stride (None means the kernel size), ceil_mode, padding (at most half the kernel; not for
    kind="lp"), and dilation for kind="max" or count_include_pad for kind="avg". Less
    input_shape, the dict is the op's keyword arguments: ``F.max_pool2d(x, **args)``.

    Every window holds at least one input element (none lies wholly in the padding).
    """
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, max_stride),
                                                 st.integers(1, max_stride))))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "max" else (1, 1)
    padding = ((0, 0) if kind == "lp"
               else (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))))
    ceil_mode = draw(st.booleans())
    strides = stride or (kh, kw)
    sizes = []
    for k, d, p, s in zip((kh, kw), dilation, padding, strides, strict=True):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        size = draw(st.integers(smallest, max(smallest, max_size)))
        assume(_windows_touch_input(size, k, s, p, d, ceil_mode))  # rare: dilated, padded edges
        sizes.append(size)
    case = {
        "input_shape": (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)),
                        sizes[0], sizes[1]),
        "kernel_size": (kh, kw) if kh != kw else kh,
        "stride": stride,
        "padding": padding,
        "ceil_mode": ceil_mode,
    }
    if kind == "lp":
        del case["padding"]  # lp_pool2d takes no padding
    if kind == "max":
        case["dilation"] = dilation
    if kind == "avg":
        case["count_include_pad"] = draw(st.booleans())
    return case


def _windows_touch_input(size, kernel, stride, pad, dilation, ceil_mode) -> bool:
    """Every pooling window along one axis reads at least one input element."""
    room = size + 2 * pad - dilation * (kernel - 1) - 1
    if room < 0:
        return False
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return all(any(0 <= o * stride - pad + i * dilation < size for i in range(kernel))
               for o in range(out))
