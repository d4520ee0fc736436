"""The public Hypothesis strategies produce what they promise."""

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn.ops import windows
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
    assert x.min() >= -3.0 and x.max() <= 3.0  # the default range holds too
    for point in avoid:  # every point, even when two lie within 2 * margin of each other
        assert np.all(np.abs(x - point) >= 0.05 - 1e-12)


@given(st.data())
def test_float_arrays_distinct_and_away_from_several_points(data):
    shape = data.draw(tst.array_shapes(max_dims=2, max_side=6))
    avoid = tuple(data.draw(st.lists(st.floats(-1, 1), min_size=1, max_size=4)))
    x = data.draw(tst.float_arrays(shape, min_value=-1, max_value=1, avoid=avoid, margin=0.02,
                                   distinct=True))
    gaps = np.diff(np.sort(x.ravel()))
    assert gaps.size == 0 or gaps.min() >= 0.02 - 1e-12
    for point in avoid:
        assert np.all(np.abs(x - point) >= 0.02 - 1e-12)


def test_float_arrays_refuses_a_range_with_nothing_left():
    with pytest.raises(ValueError, match=r"nothing in \[-1, 1\] is at least 1.5 away from "
                                         r"\(0.0,\)"):
        find(tst.float_arrays((2,), min_value=-1, max_value=1, avoid=(0.0,), margin=1.5),
             lambda x: True)


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


# ---------------------------------------------------------------------- window geometries


def _conv_args(case):
    return {k: v for k, v in case.items() if not k.endswith("_shape")}


def _pads(padding):
    """((top, bottom), (left, right)) of an explicit conv2d padding."""
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return (padding[0],) * 2, (padding[1],) * 2
    return padding


@given(tst.conv2d_geometries())
def test_conv2d_geometries_are_valid_arguments(case):
    n, c_in, h, w = case["input_shape"]
    c_out, c_per_group, kh, kw = case["weight_shape"]
    groups = case["groups"]
    assert c_per_group * groups == c_in and c_out % groups == 0
    out = F.conv2d(tc.zeros(case["input_shape"], dtype=np.float64),
                   tc.zeros(case["weight_shape"], dtype=np.float64), **_conv_args(case))
    assert out.shape[:2] == (n, c_out) and min(out.shape[2:]) >= 1
    if isinstance(case["padding"], str):
        return
    stride, dilation = windows.pair(case["stride"], "stride", ""), windows.pair(
        case["dilation"], "dilation", "")
    for axis, (size, k, s, d, pad) in enumerate(zip((h, w), (kh, kw), stride, dilation,
                                                   _pads(case["padding"]), strict=True)):
        assert max(pad) <= k - 1  # padding up to kernel - 1, as promised
        assert out.shape[2 + axis] == tc.nn.conv_output_size(size, k, s, pad, d)


@pytest.mark.parametrize("feature", ["depthwise", "groups 2", "asymmetric padding", "same",
                                     "valid", "stride > kernel", "dilation 2", "non-square"])
def test_conv2d_geometries_reach_every_feature(feature):
    def has(case):
        _, c_in, h, w = case["input_shape"]
        c_out, c_per_group, kh, kw = case["weight_shape"]
        pad, stride = case["padding"], windows.pair(case["stride"], "stride", "")
        return {
            "depthwise": case["groups"] == c_in > 1 and c_per_group == 1,
            "groups 2": case["groups"] == 2,
            "asymmetric padding": isinstance(pad, tuple) and isinstance(pad[0], tuple)
            and pad[0][0] != pad[0][1],
            "same": pad == "same",
            "valid": pad == "valid",
            "stride > kernel": stride[0] > kh or stride[1] > kw,
            "dilation 2": 2 in windows.pair(case["dilation"], "dilation", ""),
            "non-square": h != w and kh != kw,
        }[feature]

    found = find(tst.conv2d_geometries(), has,
                 settings=settings(database=None, max_examples=1000, derandomize=True))
    assert has(found)


@given(kind=st.sampled_from(["max", "avg", "lp"]), data=st.data())
def test_pool_geometries_every_window_reads_the_input(kind, data):
    case = data.draw(tst.pool_geometries(kind))
    args = {k: v for k, v in case.items() if k != "input_shape"}
    x = tc.Tensor(data.draw(tst.float_arrays(case["input_shape"], min_value=0.5,
                                             max_value=1.5)))
    if kind == "max":  # a window wholly in the -inf padding would give -inf
        assert np.all(np.isfinite(F.max_pool2d(x, **args).numpy()))
    elif kind == "avg":  # without count_include_pad, such a window would divide 0 by 0
        out = F.avg_pool2d(x, **{**args, "count_include_pad": False}).numpy()
        assert np.all((out >= 0.5 - 1e-12) & (out <= 1.5 + 1e-12))
    else:  # lp_pool2d takes neither padding nor dilation
        assert "padding" not in case and "dilation" not in case
        assert np.all(F.lp_pool2d(x, 2, **args).numpy() > 0)
    kernel = windows.pair(case["kernel_size"], "kernel_size", "")
    padding = case.get("padding", (0, 0))
    assert all(2 * p <= k for p, k in zip(padding, kernel, strict=True))
