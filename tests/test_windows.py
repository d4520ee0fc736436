"""Window geometry: output sizes, padding resolution, im2col/col2im, batch chunks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import needs_generic_path
from tinygrad_cnn.ops import windows
from tinygrad_cnn.testing import strategies as tst


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, expected", [
    (6, 3, 1, 0, 1, 4),
    (32, 5, 1, 0, 1, 28),
    (32, 3, 1, 0, 1, 30),
    (32, 5, 1, 2, 1, 32),
    (7, 3, 2, 0, 1, 3),
    (7, 3, 1, 0, 2, 3),        # dilation 2: the kernel reaches 5
    (7, 2, 1, (0, 1), 1, 7),   # asymmetric padding
])
def test_conv_output_size(size, kernel, stride, padding, dilation, expected):
    assert windows.conv_output_size(size, kernel, stride, padding, dilation) == expected


@given(size=st.integers(1, 40), kernel=st.integers(1, 5), stride=st.integers(1, 4),
       dilation=st.integers(1, 3))
def test_conv_output_size_valid_and_same_agree_with_conv2d(size, kernel, stride, dilation):
    import tinygrad_cnn as tc
    import tinygrad_cnn.nn.functional as F

    w = tc.zeros((1, 1, kernel, 1))
    x = tc.zeros((1, 1, size, 1))
    same = F.conv2d(x, w, stride=(stride, 1), padding="same", dilation=(dilation, 1))
    assert windows.conv_output_size(size, kernel, stride, "same", dilation) == same.shape[2]
    valid = windows.conv_output_size(size, kernel, stride, "valid", dilation)
    if valid >= 1:
        out = F.conv2d(x, w, stride=(stride, 1), padding="valid", dilation=(dilation, 1))
        assert valid == out.shape[2]
    else:  # the kernel does not fit: conv2d refuses, and its message gives the same number
        with pytest.raises(ValueError, match=f"would be {valid}$"):
            F.conv2d(x, w, stride=(stride, 1), dilation=(dilation, 1))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"stride": 0}, ValueError, "stride must be positive, got 0"),
    ({"dilation": -1}, ValueError, "dilation must be positive, got -1"),
    ({"kernel_size": 0}, ValueError, "kernel_size must be positive, got 0"),
    ({"size": -2}, ValueError, "size must be >= 0, got -2"),
    ({"padding": -1}, ValueError, "padding must be non-negative, got -1"),
    ({"padding": (0, -2)}, ValueError, r"padding must be non-negative, got \(0, -2\)"),
    ({"padding": "full"}, ValueError, "padding must be .* 'valid' or 'same', got 'full'"),
    ({"stride": 1.5}, TypeError, "stride must be an int, got 1.5"),
    ({"padding": (1, 2, 3)}, TypeError, "padding must be an int or a pair of ints"),
])
def test_conv_output_size_names_bad_arguments(kwargs, error, message):
    args = {"size": 5, "kernel_size": 3, **kwargs}
    with pytest.raises(error, match=f"conv_output_size: {message}"):
        windows.conv_output_size(**args)


@pytest.mark.parametrize("padding, kernel, stride, expected", [
    ("valid", (3, 3), (1, 1), ((0, 0), (0, 0))),
    ("same", (3, 3), (1, 1), ((1, 1), (1, 1))),
    ("same", (4, 2), (1, 1), ((1, 2), (0, 1))),       # even kernels: the extra goes after
    ("same", (3, 3), (2, 2), ((1, 1), (0, 1))),       # Keras: 7 -> 4 rows, 6 -> 3 columns
    (2, (5, 5), (1, 1), ((2, 2), (2, 2))),
    ((1, 0), (3, 3), (1, 1), ((1, 1), (0, 0))),
    (((0, 2), (1, 0)), (3, 3), (1, 1), ((0, 2), (1, 0))),
])
def test_resolve_padding(padding, kernel, stride, expected):
    assert windows.resolve_padding(padding, (7, 6), kernel, stride, (1, 1), "op") == expected


def test_resolve_padding_errors():
    with pytest.raises(ValueError, match=r"op: padding must be non-negative, got \(\(0, -1\)"):
        windows.resolve_padding(((0, -1), (0, 0)), (5, 5), (3, 3), (1, 1), (1, 1), "op")
    with pytest.raises(TypeError, match="op: padding must be an int or a pair of ints, got 1.5"):
        windows.resolve_padding(1.5, (5, 5), (3, 3), (1, 1), (1, 1), "op")
    with pytest.raises(ValueError, match="padding='same' is not supported"):
        windows.resolve_padding("same", (5, 5), (3, 3), (1, 1), (1, 1), "op",
                                allow_strings=False)


def test_resolve_padding_refuses_arrays_with_the_pair_message():
    with pytest.raises(TypeError, match=r"op: padding must be an int or a pair of ints, "
                                        r"got array\(\[1, 1\]\)"):
        windows.resolve_padding(np.array([1, 1]), (5, 5), (3, 3), (1, 1), (1, 1), "op")


def test_check_4d_names_each_layout_once():
    windows.check_4d(np.zeros((1, 2, 3, 4)), "op")
    with pytest.raises(ValueError) as info:
        windows.check_4d(np.zeros((2, 3, 4)), "op")  # the default, as pooling calls it
    assert str(info.value) == "op: expected a 4-D input (N, C, H, W), got shape (2, 3, 4)"
    with pytest.raises(ValueError) as info:
        windows.check_4d(np.zeros((6, 4, 3)), "op", "weight", "(C_out, C_in/groups, KH, KW)")
    assert str(info.value) == ("op: expected a 4-D weight (C_out, C_in/groups, KH, KW), "
                               "got shape (6, 4, 3)")


def _axes(case):
    n, c, h, w = case["input_shape"]
    kh, kw = case["weight_shape"][2:]
    stride = windows.pair(case["stride"], "stride", "t")
    dilation = windows.pair(case["dilation"], "dilation", "t")
    pads = windows.resolve_padding(case["padding"], (h, w), (kh, kw), stride, dilation, "t")
    return (windows.make_axis("t", "height", h, kh, stride[0], dilation[0], pads[0]),
            windows.make_axis("t", "width", w, kw, stride[1], dilation[1], pads[1]))


@given(case=tst.conv2d_geometries(), data=st.data())
def test_im2col_reads_each_window(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    gh, gw = _axes(case)
    cols = windows.im2col(np, x, gh, gw)
    n, c = x.shape[:2]
    assert cols.shape == (c, gh.kernel, gw.kernel, n, gh.out, gw.out)
    padded = np.pad(x, ((0, 0), (0, 0), (gh.pad_before, max(0, gh.span - gh.size -
                                                             gh.pad_before)),
                        (gw.pad_before, max(0, gw.span - gw.size - gw.pad_before))))
    for i in range(gh.kernel):
        for j in range(gw.kernel):
            for oh in range(gh.out):
                for ow in range(gw.out):
                    r, s = oh * gh.stride + i * gh.dilation, ow * gw.stride + j * gw.dilation
                    np.testing.assert_array_equal(cols[:, i, j, :, oh, ow], padded[:, :, r, s].T)


@given(case=tst.conv2d_geometries(), data=st.data())
def test_col2im_is_the_adjoint_of_im2col(case, data):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: col2im is im2col's transpose."""
    x = data.draw(tst.float_arrays(case["input_shape"]))
    gh, gw = _axes(case)
    cols_shape = (x.shape[1], gh.kernel, gw.kernel, x.shape[0], gh.out, gw.out)
    c = data.draw(tst.float_arrays(cols_shape))
    left = np.sum(windows.im2col(np, x, gh, gw) * c)
    right = np.sum(x * windows.col2im(np, c, gh, gw))
    np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-12)


def test_batch_chunks_respect_the_budget():
    assert windows.batch_chunks(10, 30, budget=100) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert windows.batch_chunks(4, 10**12, budget=100) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert windows.batch_chunks(4, 1) == [(0, 4)]
    assert windows.batch_chunks(16, 1, parts=2) == [(0, 8), (8, 16)]
    assert windows.batch_chunks(0, 1, parts=2) == []


@given(n=st.integers(0, 50), per_item=st.integers(1, 200), budget=st.integers(1, 2000),
       parts=st.integers(1, 8))
def test_batch_chunks_cover_the_batch_evenly_within_each_parts_share(n, per_item, budget, parts):
    ranges = windows.batch_chunks(n, per_item, budget=budget, parts=parts)
    assert [start for start, _ in ranges] == [0, *(stop for _, stop in ranges)][:len(ranges)]
    assert (ranges[-1][1] if ranges else 0) == n
    sizes = [stop - start for start, stop in ranges]
    assert all(size >= 1 for size in sizes) and (not sizes or max(sizes) - min(sizes) <= 1)
    if n >= parts:  # every thread gets the same number of ranges, unless each holds one item
        assert len(ranges) % parts == 0 or len(ranges) == n
    share = max(budget // parts, per_item)  # one item is the least a range can hold
    assert all(size * per_item <= share for size in sizes)


def test_im2col_recycles_a_buffer_only_once_it_is_free():
    rng = np.random.default_rng(0)
    gh = windows.make_axis("t", "height", 5, 3, 1, 1, (1, 1))
    gw = windows.make_axis("t", "width", 4, 2, 1, 1, (0, 1))
    x1, x2 = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 4))
    first = windows.im2col(np, x1, gh, gw)
    kept = first.copy()
    second = windows.im2col(np, x2, gh, gw)  # first is alive: it must not be overwritten
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    base = id(first.base)  # (holding first.base itself would keep the buffer in use)
    del first
    third = windows.im2col(np, x2, gh, gw)  # now its buffer is free again and reused
    assert id(third.base) == base
    np.testing.assert_array_equal(third, second)


@needs_generic_path  # the NumPy path's row padding sets the buffer sizes
def test_workspace_stays_within_its_cap(monkeypatch):
    monkeypatch.setattr(windows, "_workspace", [])
    monkeypatch.setattr(windows, "WORKSPACE_BYTES", 7000)
    gh = windows.make_axis("t", "height", 4, 2, 1, 1, (0, 0))
    # 16 rows of 9 columns + the row padding, in float64
    size = 16 * (9 + windows.ROW_PAD) * 8
    assert 2 * size <= 7000 < 3 * size
    alive = [windows.im2col(np, np.ones((1, 4, 4, 4)), gh, gh) for _ in range(3)]
    assert sum(b.nbytes for b in windows._workspace) <= 7000
    assert len(windows._workspace) == 2 and all(a.sum() == a.size for a in alive)
    del alive
    other = windows.make_axis("t", "height", 4, 1, 1, 1, (0, 0))
    windows.im2col(np, np.ones((1, 4, 4, 4)), other, other)  # idle buffers make room
    assert sum(b.nbytes for b in windows._workspace) <= 7000


def test_workspace_never_hands_out_a_buffer_in_use():
    shape = (3, 2, 2, 4, 5, 5)
    first = windows.empty_cols(np, shape, np.float32)
    second = windows.empty_cols(np, shape, np.float32)
    assert not np.shares_memory(first, second)
    kept = first.reshape(-1)[:10]  # a view of a view still pins the buffer
    del first
    third = windows.empty_cols(np, shape, np.float32)
    assert not np.shares_memory(kept, third) and not np.shares_memory(second, third)
    if windows._IDLE_REFCOUNT is not None:  # recycling is on in this interpreter
        pooled = {id(buf) for buf in windows._workspace}
        del kept, third
        again = windows.empty_cols(np, shape, np.float32)
        assert id(again.base) in pooled  # a released buffer came back
        assert not np.shares_memory(again, second)


def test_workspace_hands_out_buffers_by_size(monkeypatch):
    """A request reuses an idle buffer up to twice its size; a much smaller one (a padded input)
    leaves it to the columns; a larger one replaces the idle buffers of half its size or more."""
    if windows._IDLE_REFCOUNT is None:
        pytest.skip("this interpreter's reference counts do not reveal live views: no recycling")
    monkeypatch.setattr(windows, "_workspace", [])
    big = windows.empty_cols(np, (4, 100), np.float32)
    big_base = id(big.base)
    del big
    smaller = windows.empty_cols(np, (3, 100), np.float32)
    assert id(smaller.base) == big_base and smaller.shape == (3, 100)
    del smaller
    tiny = windows.empty_cols(np, (3, 50), np.float32)  # 150 elements: the 400 stay idle
    assert id(tiny.base) != big_base
    other = windows.empty_cols(np, (4, 100), np.float32)
    assert id(other.base) == big_base and not np.shares_memory(tiny, other)
    del tiny, other
    larger = windows.empty_cols(np, (5, 100), np.float32)  # replaces the 400, keeps the 150
    assert sorted(buf.size for buf in windows._workspace) == [150, 500]
    assert any(np.shares_memory(larger, buf) for buf in windows._workspace)


@pytest.mark.parametrize("value,expected", [(3, (3, 3)), ((2, 5), (2, 5)), ([2, 5], (2, 5)),
                                            (np.int64(4), (4, 4)),
                                            ((np.int32(1), 2), (1, 2))])
def test_pair_fast_and_general_paths_agree(value, expected):
    out = windows.pair(value, "stride", "t")
    assert out == expected and type(out) is tuple and all(type(v) is int for v in out)


@pytest.mark.parametrize("value", [True, (True, 1), (1, 2.0), (1, 2, 3), 2.0, "2"])
def test_pair_refuses_bools_floats_and_other_lengths(value):
    with pytest.raises(TypeError, match="t: stride must be an int or a pair of ints"):
        windows.pair(value, "stride", "t")


def test_int_at_least_fast_path_keeps_the_checks():
    assert windows.int_at_least(5, 1, "groups", "t") == 5
    with pytest.raises(ValueError, match="t: groups must be positive, got 0"):
        windows.int_at_least(0, 1, "groups", "t")
    with pytest.raises(TypeError, match="t: groups must be an int, got True"):
        windows.int_at_least(True, 1, "groups", "t")
