"""conv2d and conv_transpose2d: naive references, first and second derivatives, shapes, errors."""

import re
import types
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references as ref
from tinygrad_cnn.cuda import windows as cuda_windows
from tinygrad_cnn.ops import windows
from tinygrad_cnn.testing import strategies as tst

# gradgradcheck differentiates the whole backward: keep those geometries a notch smaller
SMALL = {"max_batch": 1, "max_channels": 4, "max_size": 5, "max_kernel": 3}
# the device fixture is a plain string, so sharing it between examples is safe
per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _conv_args(case):
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


def _transpose_args(case):
    """conv_transpose2d arguments of the conv geometry ``case`` (strings become numbers)."""
    n, c, h, w = case["input_shape"]
    kh, kw = case["weight_shape"][2:]
    stride = windows.pair(case["stride"], "stride", "test")
    dilation = windows.pair(case["dilation"], "dilation", "test")
    pads = windows.resolve_padding(case["padding"], (h, w), (kh, kw), stride, dilation, "test")
    return {"stride": stride, "padding": pads, "dilation": dilation, "groups": case["groups"]}


@per_device
@given(case=tst.conv2d_geometries(), data=st.data())
def test_conv2d_matches_naive_reference(device, case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    b = data.draw(tst.float_arrays((case["weight_shape"][0],)))
    out = F.conv2d(tc.Tensor(x, device=device), tc.Tensor(w, device=device),
                   tc.Tensor(b, device=device), **_conv_args(case))
    expected = ref.conv2d(x, w, b, **_conv_args(case))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-10)


@given(case=tst.conv2d_geometries(max_size=6), data=st.data())
def test_conv2d_gradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    b = data.draw(tst.float_arrays((case["weight_shape"][0],)))
    assert tc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **_conv_args(case)), (x, w, b))


@given(case=tst.conv2d_geometries(**SMALL), data=st.data())
def test_conv2d_gradgradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    assert tc.gradgradcheck(lambda x, w: F.conv2d(x, w, **_conv_args(case)), (x, w))


def _transpose_case(case, data):
    """Input and weight of the conv_transpose2d that is ``case``'s conv2d input gradient."""
    args = _transpose_args(case)
    n, c, h, w = case["input_shape"]
    out_h, out_w = F.conv2d(tc.zeros(case["input_shape"]), tc.zeros(case["weight_shape"]),
                            **_conv_args(case)).shape[2:]
    g = data.draw(tst.float_arrays((n, case["weight_shape"][0], out_h, out_w)))
    wt = data.draw(tst.float_arrays(case["weight_shape"]))  # (C_in of the transpose, C_out/G, ..)
    # output_padding recovers the rows that the forward's floor division dropped
    extra = []
    for size, out, k, s, d, (lo, hi) in zip((h, w), (out_h, out_w), case["weight_shape"][2:],
                                           args["stride"], args["dilation"], args["padding"],
                                           strict=True):
        extra.append(size - ((out - 1) * s - lo - hi + d * (k - 1) + 1))
    # PyTorch's rule: output_padding < max(stride, dilation); other sizes have no transpose
    assume(all(e < max(s, d) for e, s, d in zip(extra, args["stride"], args["dilation"],
                                                strict=True)))
    return g, wt, args, tuple(extra)


@per_device
@given(case=tst.conv2d_geometries(), data=st.data())
def test_conv_transpose2d_matches_naive_reference(device, case, data):
    g, w, args, extra = _transpose_case(case, data)
    b = data.draw(tst.float_arrays((w.shape[1] * args["groups"],)))
    out = F.conv_transpose2d(tc.Tensor(g, device=device), tc.Tensor(w, device=device),
                             tc.Tensor(b, device=device), output_padding=extra, **args)
    expected = ref.conv_transpose2d(g, w, b, output_padding=extra, **args)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-10)


@given(case=tst.conv2d_geometries(max_size=6), data=st.data())
def test_conv_transpose2d_gradcheck(case, data):
    g, w, args, extra = _transpose_case(case, data)
    b = data.draw(tst.float_arrays((w.shape[1] * args["groups"],)))
    assert tc.gradcheck(
        lambda g, w, b: F.conv_transpose2d(g, w, b, output_padding=extra, **args), (g, w, b))


@given(case=tst.conv2d_geometries(**SMALL), data=st.data())
def test_conv_transpose2d_gradgradcheck(case, data):
    g, w, args, extra = _transpose_case(case, data)
    assert tc.gradgradcheck(lambda g, w: F.conv_transpose2d(g, w, output_padding=extra, **args),
                            (g, w))


@given(case=tst.conv2d_geometries(), data=st.data())
def test_input_gradient_is_conv_transpose2d(case, data):
    """conv2d's input gradient and conv_transpose2d are one and the same op."""
    g, w, args, extra = _transpose_case(case, data)
    x = tc.Tensor(np.zeros(case["input_shape"]), requires_grad=True)
    F.conv2d(x, tc.Tensor(w), **_conv_args(case)).backward(tc.Tensor(g))
    direct = F.conv_transpose2d(tc.Tensor(g), tc.Tensor(w), output_padding=extra, **args)
    np.testing.assert_allclose(x.grad.numpy(), direct.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        x.grad.numpy(), ref.conv_transpose2d(g, w, output_padding=extra, **args), atol=1e-10)


# conv_transpose2d's own geometries: padding beyond the kernel's reach, any output_padding


def _transpose_geometry_args(case):
    return {k: case[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}


def _transpose_geometry_arrays(case, data):
    """Input, weight and bias of a conv_transpose2d_geometries case."""
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    b = data.draw(tst.float_arrays((case["weight_shape"][1] * case["groups"],)))
    return x, w, b


@given(case=tst.conv_transpose2d_geometries())
def test_conv_transpose2d_geometries_are_valid(case):
    n, c_in, h, w = case["input_shape"]
    cin, cg_out, kh, kw = case["weight_shape"]
    assert cin == c_in and c_in % case["groups"] == 0
    stride = windows.pair(case["stride"], "stride", "test")
    dilation = windows.pair(case["dilation"], "dilation", "test")
    extra = windows.pair(case["output_padding"], "output_padding", "test")
    pads = windows.resolve_padding(case["padding"], (h, w), (kh, kw), stride, dilation, "test")
    for size, k, s, d, (lo, hi), e in zip((h, w), (kh, kw), stride, dilation, pads, extra,
                                          strict=True):
        assert 0 <= e < max(s, d)
        assert (size - 1) * s - lo - hi + d * (k - 1) + e + 1 >= 1


def test_conv_transpose2d_geometries_reach_beyond_conv2d_input_gradients():
    """The strategy draws what conv2d's input gradients never give: padding > D*(K-1)."""
    def beyond(case):
        kh = case["weight_shape"][2]
        dh = windows.pair(case["dilation"], "dilation", "test")[0]
        pads = case["padding"]
        top = pads if isinstance(pads, int) else pads[0]
        top = top if isinstance(top, int) else top[0]
        return top > dh * (kh - 1)

    case = find(tst.conv_transpose2d_geometries(), beyond,
                settings=settings(database=None, max_examples=500))
    out = F.conv_transpose2d(tc.zeros(case["input_shape"]), tc.zeros(case["weight_shape"]),
                             **_transpose_geometry_args(case))
    assert min(out.shape[2:]) >= 1


@per_device
@given(case=tst.conv_transpose2d_geometries(), data=st.data())
def test_conv_transpose2d_any_geometry_matches_naive_reference(device, case, data):
    x, w, b = _transpose_geometry_arrays(case, data)
    args = _transpose_geometry_args(case)
    out = F.conv_transpose2d(tc.Tensor(x, device=device), tc.Tensor(w, device=device),
                             tc.Tensor(b, device=device), **args)
    expected = ref.conv_transpose2d(x, w, b, **args)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-10)


@given(case=tst.conv_transpose2d_geometries(max_size=4), data=st.data())
def test_conv_transpose2d_any_geometry_gradcheck(case, data):
    x, w, b = _transpose_geometry_arrays(case, data)
    args = _transpose_geometry_args(case)
    assert tc.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **args), (x, w, b))


@given(case=tst.conv_transpose2d_geometries(max_batch=1, max_channels=4, max_size=3),
       data=st.data())
def test_conv_transpose2d_any_geometry_gradgradcheck(case, data):
    x, w, b = _transpose_geometry_arrays(case, data)
    args = _transpose_geometry_args(case)
    assert tc.gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **args), (x, w, b))


def test_empty_batch_keeps_working():
    """N = 0: an empty output of the right shape, and zero weight and bias gradients."""
    rng = np.random.default_rng(0)
    for op, w_shape, kwargs in ((F.conv2d, (6, 2, 3, 3), {"groups": 2, "padding": 1}),
                                (F.conv_transpose2d, (4, 3, 3, 3), {"groups": 2, "stride": 2})):
        x = tc.Tensor(np.zeros((0, 4, 5, 5)), requires_grad=True)
        w = tc.Tensor(rng.standard_normal(w_shape), requires_grad=True)
        b = tc.Tensor(rng.standard_normal(6), requires_grad=True)
        y = op(x, w, b, **kwargs)
        assert y.shape == ((0, 6, 5, 5) if op is F.conv2d else (0, 6, 11, 11))
        y.backward(tc.Tensor(np.zeros(y.shape)))
        assert x.grad.shape == x.shape
        np.testing.assert_array_equal(w.grad.numpy(), np.zeros(w_shape))
        np.testing.assert_array_equal(b.grad.numpy(), np.zeros(6))


@pytest.mark.parametrize("shape, weight_shape, kwargs", [
    # kernel < stride: some phases of the input no kernel offset reaches get a zero gradient
    ((2, 3, 7, 8), (4, 3, 1, 2), {"stride": (2, 3)}),
    # dilation and stride share a factor; asymmetric padding; groups; rows no window reaches
    ((2, 4, 9, 8), (6, 2, 3, 2), {"stride": 2, "dilation": (2, 1), "groups": 2,
                                  "padding": ((1, 0), (2, 1))}),
    # dilation 3, stride 2: an odd phase's first offset lands one row in, rows before it are 0
    ((1, 2, 9, 9), (2, 2, 2, 2), {"stride": 2, "dilation": 3}),
    # the benchmark's strided geometry, smaller: every phase holds several offsets
    ((3, 2, 10, 10), (3, 2, 5, 5), {"stride": 2, "padding": 2}),
])
def test_strided_input_gradient_matches_reference(shape, weight_shape, kwargs):
    """The phase-grid col2im of strides > 1 against the scatter-form reference."""
    rng = np.random.default_rng(2)
    x = tc.Tensor(rng.standard_normal(shape), requires_grad=True)
    w = rng.standard_normal(weight_shape)
    y = F.conv2d(x, tc.Tensor(w), **kwargs)
    g = rng.standard_normal(y.shape)
    y.backward(tc.Tensor(g))
    args = _transpose_args({"input_shape": shape, "weight_shape": weight_shape, "stride": 1,
                            "padding": 0, "dilation": 1, "groups": 1, **kwargs})
    full = ref.conv_transpose2d(g, w, stride=args["stride"], dilation=args["dilation"],
                                groups=args["groups"])
    (top, _), (left, _) = args["padding"]  # the rows the windows never reach get zeros
    expected = np.zeros(shape)
    crop = full[:, :, top:top + shape[2], left:left + shape[3]]
    expected[:, :, :crop.shape[2], :crop.shape[3]] = crop
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=0, atol=1e-10)


def test_chunked_batch_matches_one_chunk(monkeypatch):
    """A budget smaller than one batch item's columns: one item per chunk, same numbers."""
    rng = np.random.default_rng(1)
    x, w, g = rng.standard_normal((5, 4, 6, 7)), rng.standard_normal((6, 2, 3, 2)), None
    kwargs = {"stride": (2, 1), "padding": ((1, 0), (1, 1)), "dilation": (1, 2), "groups": 2}

    def run():
        xt, wt = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
        y = F.conv2d(xt, wt, **kwargs)
        nonlocal g
        g = rng.standard_normal(y.shape) if g is None else g
        gx, gw = tc.grad(y, (xt, wt), tc.Tensor(g), create_graph=True)
        ggx = tc.grad((gx * gx).sum() + (gw * gw).sum(), (xt, wt))
        return [t.numpy() for t in (y, gx, gw, *ggx)]

    whole = run()
    monkeypatch.setattr(windows, "IM2COL_BUDGET_BYTES", 8)
    assert len(windows.batch_chunks(5, 100)) == 5
    for a, b in zip(run(), whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)



@pytest.mark.parametrize("budget_items", [2, 3, 7])
def test_chunks_of_several_items_match_one_chunk_float32(monkeypatch, budget_items):
    """The article's layer (3 -> 8 channels, 5x5 valid, ReLU, 2x2 max-pool) in float32, with a
    budget of a few batch items' columns (2 threads' chunks each half of it) as at 224 px:
    the output and all gradients equal the single-chunk run's to float32 rounding (BLAS may
    block a product of another shape differently: errors of the order of eps times the largest
    value, where values cancel)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 3, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((8, 3, 5, 5)) * 0.2).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)

    def run():
        xt, wt, bt = (tc.Tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.max_pool2d(F.relu(F.conv2d(xt, wt, bt)), 2)
        (y * y).sum().backward()
        return [t.numpy() for t in (y, xt.grad, wt.grad, bt.grad)]

    whole = run()
    per_item = 3 * 25 * 10 * 10 * 4
    monkeypatch.setattr(windows, "IM2COL_BUDGET_BYTES", budget_items * per_item)
    assert len(windows.batch_chunks(12, per_item)) > 1
    for a, ref_ in zip(run(), whole, strict=True):
        np.testing.assert_allclose(a, ref_, rtol=1e-5, atol=1e-6 * np.abs(ref_).max())


def test_forward_keeps_columns_only_within_twice_the_budget(monkeypatch):
    """The weight gradient reuses the forward's columns when they total <= 2 budgets; above
    that they are recomputed in backward (and never all held at once)."""
    from tinygrad_cnn.ops import conv as conv_ops

    x = np.ones((4, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    geo = conv_ops.ConvGeometry(windows.make_axis("t", "h", 5, 3, 1, 1, (0, 0)),
                                windows.make_axis("t", "w", 5, 3, 1, 1, (0, 0)), 1)
    per_item = 2 * 9 * 3 * 3 * 4
    monkeypatch.setattr(windows, "IM2COL_BUDGET_BYTES", 2 * per_item)
    assert conv_ops._conv_forward(np, x, w, geo)[1] is not None     # 4 items = 2 budgets
    monkeypatch.setattr(windows, "IM2COL_BUDGET_BYTES", 2 * per_item - 1)
    assert conv_ops._conv_forward(np, x, w, geo)[1] is None


@pytest.mark.parametrize("batch_last", [False, True])
@given(case=tst.conv2d_geometries(max_size=6), data=st.data())
def test_both_im2col_layouts_match_reference_and_gradcheck(batch_last, case, data):
    """The (C, KH, KW, N, OH, OW) columns and the batch-last (C, KH, KW, OH, OW, N) ones (small
    images on the CPU, conv._batch_last_pays), each forced on every geometry: forward against
    the naive reference, first and second derivatives against numeric ones (float64)."""
    from tinygrad_cnn.ops import conv as conv_ops

    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    b = data.draw(tst.float_arrays((case["weight_shape"][0],)))
    with mock.patch.object(conv_ops, "_batch_last_pays", lambda *args: batch_last):
        out = F.conv2d(tc.Tensor(x), tc.Tensor(w), tc.Tensor(b), **_conv_args(case))
        np.testing.assert_allclose(out.numpy(), ref.conv2d(x, w, b, **_conv_args(case)),
                                   rtol=0, atol=1e-10)
        assert tc.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **_conv_args(case)), (x, w, b))
        if x.size * w.size <= 2000:  # the second derivatives run every conv op both ways
            assert tc.gradgradcheck(lambda x, w: F.conv2d(x, w, **_conv_args(case)), (x, w))


@given(case=tst.conv2d_geometries(max_size=6), data=st.data(), slice_len=st.sampled_from([1, 2, 4]))
def test_weight_gradient_summed_over_slices_matches_numeric_gradients(case, data, slice_len):
    """The weight gradient's product summed over short slices of the batch x positions axis
    (conv._weight_product, for products with few outputs on the CPU), the slice length forced
    small so every geometry takes it: first and second derivatives against numeric ones."""
    from tinygrad_cnn.ops import conv as conv_ops

    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    rows_and_outputs = (case["weight_shape"][0] // case["groups"]
                        + int(np.prod(case["weight_shape"][1:])))
    with mock.patch.object(conv_ops, "SKINNY_SLICE_BYTES", slice_len * rows_and_outputs * 8), \
            mock.patch.object(conv_ops, "SKINNY_MAX_OUTPUTS", 10**6):
        assert tc.gradcheck(lambda x, w: F.conv2d(x, w, **_conv_args(case)), (x, w))
        if x.size * w.size <= 2000:
            assert tc.gradgradcheck(lambda x, w: F.conv2d(x, w, **_conv_args(case)), (x, w))


def test_weight_gradient_slices_are_taken_for_few_outputs_only():
    from tinygrad_cnn.ops import conv as conv_ops

    rng = np.random.default_rng(0)
    calls, matmul = [], np.matmul

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return matmul(*args, **kwargs)

    for rows, kg, sliced in [(25, 6, True), (576, 64, False)]:
        cols = rng.standard_normal((1, rows, 20000)).astype(np.float32)
        g_cols = rng.standard_normal((1, kg, 20000)).astype(np.float32)
        calls.clear()
        with mock.patch.object(np, "matmul", counting):
            got = conv_ops._weight_product(np, cols, g_cols)
        assert (len(calls) > 1) is sliced
        expected = cols[0].astype(np.float64) @ g_cols[0].T.astype(np.float64)
        np.testing.assert_allclose(got[0], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("input_shape, weight_shape, stride, expected", [
    ((32, 32, 4, 4), (64, 32, 3, 3), 1, True),     # digits_cnn's second conv
    ((64, 6, 14, 14), (16, 6, 5, 5), 1, True),     # LeNet-5's second conv
    ((32, 1, 8, 8), (32, 1, 3, 3), 1, False),      # one input channel: 9 rows < 32 outputs
    ((32, 32, 16, 16), (32, 32, 3, 3), 2, False),  # stride 2
    ((32, 16, 16, 16), (32, 16, 3, 3), 1, False),  # 16 wide
])
def test_batch_last_columns_are_chosen_for_small_images_only(input_shape, weight_shape, stride,
                                                            expected):
    from tinygrad_cnn.ops import conv as conv_ops

    axes = [windows.make_axis("t", name, size, k, stride, 1, (1, 1))
            for name, size, k in zip("hw", input_shape[2:], weight_shape[2:], strict=True)]
    geo = conv_ops.ConvGeometry(*axes, 1)
    args = (np.dtype(np.float32), input_shape[1], weight_shape[0], geo)
    # under the host runner (TINYGRAD_CNN_HOST_KERNELS) NumPy arrays take the kernels' columns
    on_kernels = cuda_windows.usable(np, args[0])
    assert conv_ops._batch_last_pays(np, *args) is (expected and not on_kernels)
    cupy_like = types.SimpleNamespace(__name__="cupy")  # the CUDA path keeps its own columns
    assert conv_ops._batch_last_pays(cupy_like, *args) is False


# ---------------------------------------------------------------------- shapes


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (6, 3, 1, 0, 4),      # the article's 6x6 image and 3x3 kernel
    (32, 5, 1, 0, 28),    # 32x32x3 with 5x5 filters, valid
    (32, 3, 1, 0, 30),    # 3x3x3 filters, stride 1, no padding
    (32, 5, 1, 2, 32),    # "same" padding (F-1)/2 keeps 32
    (7, 3, 2, 1, 4),
])
def test_conv_output_size_article_examples(size, kernel, stride, padding, expected):
    assert tc.nn.conv_output_size(size, kernel, stride, padding) == expected


def test_article_shapes():
    x = tc.zeros((1, 1, 6, 6))
    assert F.conv2d(x, tc.zeros((1, 1, 3, 3))).shape == (1, 1, 4, 4)
    image = tc.zeros((2, 3, 32, 32))
    assert F.conv2d(image, tc.zeros((10, 3, 5, 5)), padding="valid").shape == (2, 10, 28, 28)
    assert F.conv2d(image, tc.zeros((10, 3, 3, 3)), stride=1).shape == (2, 10, 30, 30)
    assert F.conv2d(image, tc.zeros((10, 3, 5, 5)), padding="same").shape == (2, 10, 32, 32)
    assert F.conv2d(image, tc.zeros((10, 3, 5, 5)), padding=2).shape == (2, 10, 32, 32)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, (2, 5)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_padding_keeps_size_for_odd_and_even_kernels(kernel, dilation):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 9, 8)), rng.standard_normal((3, 2, kh, kw))
    out = F.conv2d(tc.Tensor(x), tc.Tensor(w), padding="same", dilation=dilation)
    assert out.shape == (1, 3, 9, 8)
    # the extra padding of an even total goes at the bottom/right, as PyTorch and Keras do
    total_h, total_w = dilation * (kh - 1), dilation * (kw - 1)
    pads = ((total_h // 2, total_h - total_h // 2), (total_w // 2, total_w - total_w // 2))
    np.testing.assert_allclose(out.numpy(), ref.conv2d(x, w, padding=pads, dilation=dilation),
                               atol=1e-10)


@pytest.mark.parametrize("size, stride", [(7, 2), (8, 2), (9, 3), (5, 4)])
def test_same_padding_with_stride_follows_keras(size, stride):
    out = F.conv2d(tc.zeros((1, 1, size, size)), tc.zeros((1, 1, 3, 3)), padding="same",
                   stride=stride)
    assert out.shape[2:] == (-(-size // stride),) * 2


# ---------------------------------------------------------------------- errors


def test_conv2d_errors_name_the_numbers():
    x, w = tc.zeros((2, 4, 5, 5)), tc.zeros((6, 2, 3, 3))
    with pytest.raises(ValueError, match=r"4-D input .* got shape \(4, 5, 5\)"):
        F.conv2d(tc.zeros((4, 5, 5)), w)
    with pytest.raises(ValueError, match=r"input has 4 channels but weight \(6, 2, 3, 3\) with "
                                         r"groups=1 expects 2"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match="input channels 4 are not divisible by groups=3"):
        F.conv2d(x, tc.zeros((6, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match=r"output channels 5 .* not divisible by groups=2"):
        F.conv2d(x, tc.zeros((5, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError, match=r"kernel \(7, dilation 1, reaching 7\) is larger than "
                                         r"the padded input height 5 .* would be -1"):
        F.conv2d(x, tc.zeros((6, 2, 7, 3)), groups=2)
    with pytest.raises(ValueError, match=r"\(3, dilation 3, reaching 7\) is larger than the "
                                         r"padded input width 5 \+ padding 0\+0 = 5"):
        F.conv2d(tc.zeros((2, 4, 9, 5)), tc.zeros((6, 2, 3, 3)), groups=2, dilation=(1, 3))
    with pytest.raises(ValueError, match=r"padding must be non-negative, got -1"):
        F.conv2d(x, w, groups=2, padding=-1)
    with pytest.raises(ValueError, match=r"stride must be positive, got 0"):
        F.conv2d(x, w, groups=2, stride=0)
    with pytest.raises(ValueError, match=r"dilation must be positive, got \(1, -2\)"):
        F.conv2d(x, w, groups=2, dilation=(1, -2))
    with pytest.raises(ValueError, match="conv2d: groups must be positive, got 0"):
        F.conv2d(x, w, groups=0)
    with pytest.raises(ValueError, match=r"padding must be an int, a pair, 'valid' or 'same', "
                                         r"got 'full'"):
        F.conv2d(x, w, groups=2, padding="full")
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\) .* got \(3,\)"):
        F.conv2d(x, w, tc.zeros(3), groups=2)
    with pytest.raises(TypeError, match="input is float32 but weight is float64"):
        F.conv2d(x, w.double(), groups=2)


def test_conv2d_weight_layout_appears_once():
    with pytest.raises(ValueError) as info:
        F.conv2d(tc.zeros((2, 4, 5, 5)), tc.zeros((6, 4, 3)))
    assert str(info.value) == ("conv2d: expected a 4-D weight (C_out, C_in/groups, KH, KW), "
                               "got shape (6, 4, 3)")


@pytest.mark.parametrize("op", [F.conv2d, F.conv_transpose2d])
def test_bias_dtype_must_match_the_input(op):
    """PyTorch: "Input type (float) and bias type (double) should be the same"."""
    x = tc.zeros((2, 4, 5, 5))
    w = tc.zeros((6, 4, 3, 3) if op is F.conv2d else (4, 6, 3, 3))
    name = op.__name__
    with pytest.raises(TypeError, match=f"{name}: input is float32 but bias is float64"):
        op(x, w, tc.zeros(6).double())
    with pytest.raises(TypeError, match=f"{name}: input is float64 but bias is float32"):
        op(x.double(), w.double(), tc.zeros(6))
    with pytest.raises(TypeError, match=f"{name}: input is float32 but bias is int64"):
        op(x, w, tc.Tensor(np.zeros(6, dtype=np.int64)))
    assert op(x, w, tc.zeros(6)).dtype == np.float32  # same dtype: no upcast


@pytest.mark.parametrize("op, weight_shape, layout", [
    (F.conv2d, (6, 4, 0, 3), "(C_out, C_in/groups, KH, KW)"),
    (F.conv2d, (6, 4, 3, 0), "(C_out, C_in/groups, KH, KW)"),
    (F.conv2d, (0, 4, 3, 3), "(C_out, C_in/groups, KH, KW)"),
    (F.conv_transpose2d, (4, 6, 0, 3), "(C_in, C_out/groups, KH, KW)"),
    (F.conv_transpose2d, (4, 0, 3, 3), "(C_in, C_out/groups, KH, KW)"),
])
def test_zero_size_weight_is_refused_naming_its_shape(op, weight_shape, layout):
    """PyTorch refuses zero-size kernels and zero output channels too."""
    shape = ", ".join(map(str, weight_shape))
    with pytest.raises(ValueError, match=rf"{op.__name__}: weight {re.escape(layout)} = "
                                         rf"\({shape}\) has a zero-size dimension"):
        op(tc.zeros((2, 4, 5, 5)), tc.zeros(weight_shape))


def test_zero_channels_and_empty_images_are_refused():
    with pytest.raises(ValueError, match=r"weight .* = \(6, 0, 3, 3\) has a zero-size"):
        F.conv2d(tc.zeros((2, 0, 5, 5)), tc.zeros((6, 0, 3, 3)))
    with pytest.raises(ValueError, match=r"weight .* = \(0, 6, 3, 3\) has a zero-size"):
        F.conv_transpose2d(tc.zeros((2, 0, 5, 5)), tc.zeros((0, 6, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: input \(N, C, H, W\) = \(2, 4, 0, 5\) has a "
                                         r"zero height or width"):
        F.conv2d(tc.zeros((2, 4, 0, 5)), tc.zeros((6, 4, 1, 1)), padding=1)
    # PyTorch: "Only zero batch or zero channel inputs are supported"; ours would have made zeros
    with pytest.raises(ValueError, match=r"conv_transpose2d: input \(N, C, H, W\) = "
                                         r"\(1, 4, 3, 0\) has a zero height or width"):
        F.conv_transpose2d(tc.zeros((1, 4, 3, 0)), tc.zeros((4, 6, 3, 3)))


@pytest.mark.parametrize("op", [F.conv2d, F.conv_transpose2d])
def test_groups_accepts_numpy_integers_and_refuses_other_types(op):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 5))
    w = rng.standard_normal((6, 2, 3, 3) if op is F.conv2d else (4, 3, 3, 3))
    expected = op(tc.Tensor(x), tc.Tensor(w), groups=2).numpy()
    for groups in (np.int64(2), np.int32(2), np.uint8(2)):
        np.testing.assert_array_equal(op(tc.Tensor(x), tc.Tensor(w), groups=groups).numpy(),
                                      expected)
    name = op.__name__
    for groups in (2.0, np.float64(2.0), True, "2", None):
        message = re.escape(f"{name}: groups must be an int, got {groups!r}")
        with pytest.raises(TypeError, match=message):
            op(tc.Tensor(x), tc.Tensor(w), groups=groups)
    with pytest.raises(ValueError, match=rf"{name}: groups must be positive, got -2"):
        op(tc.Tensor(x), tc.Tensor(w), groups=-2)


@pytest.mark.parametrize("op", [F.conv2d, F.conv_transpose2d])
def test_padding_array_is_a_type_error_not_an_ambiguous_truth_value(op):
    x, w = tc.zeros((1, 4, 5, 5)), tc.zeros((4, 4, 3, 3))
    with pytest.raises(TypeError, match=rf"{op.__name__}: padding must be an int or a pair of "
                                        r"ints, got array\(\[1, 1\]\)"):
        op(x, w, padding=np.array([1, 1]))


def test_conv_transpose2d_errors_name_the_numbers():
    x, w = tc.zeros((1, 4, 3, 3)), tc.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"input has 3 channels but weight \(4, 2, 3, 3\) "
                                         r"expects 4"):
        F.conv_transpose2d(tc.zeros((1, 3, 3, 3)), w)
    with pytest.raises(ValueError, match="padding='same' cannot keep the size"):
        F.conv_transpose2d(x, w, padding="same")
    with pytest.raises(ValueError, match="output_padding 2 must be >= 0 and smaller than the "
                                         "stride 2 or the dilation 1"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"output height .* = -3 is not positive"):
        F.conv_transpose2d(tc.zeros((1, 4, 1, 3)), w, padding=(3, 0))
    with pytest.raises(ValueError, match="output_padding 3 must be >= 0 and smaller than the "
                                         r"stride 1 or the dilation 3"):
        F.conv_transpose2d(x, w, dilation=3, output_padding=(0, 3))
    with pytest.raises(ValueError, match="output_padding -1 must be >= 0"):
        F.conv_transpose2d(x, w, stride=2, output_padding=-1)
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected a 4-D input \(N, C, H, W\), "
                                         r"got shape \(4, 3, 3\)"):
        F.conv_transpose2d(tc.zeros((4, 3, 3)), w)
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected a 4-D weight "
                                         r"\(C_in, C_out/groups, KH, KW\), got shape \(4, 2, 3\)$"):
        F.conv_transpose2d(x, tc.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match="input channels 4 are not divisible by groups=3"):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(ValueError, match=r"input has 4 channels but weight \(6, 2, 3, 3\) "
                                         r"expects 6"):
        F.conv_transpose2d(x, tc.zeros((6, 2, 3, 3)), groups=2)
    # weight (4, 2, ..) with groups=2 gives 2 * 2 = 4 output channels, one bias each
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) .* got \(2,\)"):
        F.conv_transpose2d(x, w, tc.zeros(2), groups=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\) .* got \(2, 1\)"):
        F.conv_transpose2d(x, w, tc.zeros((2, 1)))
    with pytest.raises(TypeError, match="conv_transpose2d: input is float32 but weight is "
                                        "float64"):
        F.conv_transpose2d(x, w.double())
    with pytest.raises(TypeError, match="conv_transpose2d: expected floating-point input, got "
                                        "int64"):
        F.conv_transpose2d(tc.Tensor(np.zeros((1, 4, 3, 3), dtype=np.int64)),
                           tc.Tensor(np.zeros((4, 2, 3, 3), dtype=np.int64)))
    with pytest.raises(TypeError, match=r"output_padding must be an int or a pair of ints, "
                                        r"got 0.5"):
        F.conv_transpose2d(x, w, output_padding=0.5)


# ---------------------------------------------------------------------- PyTorch cross-check


@given(case=tst.conv2d_geometries(), data=st.data())
def test_conv2d_and_its_gradients_match_pytorch(case, data):
    torch = pytest.importorskip("torch")
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    args = _conv_args(case)
    padding = args["padding"]
    leaf = torch.tensor(x, requires_grad=True)
    torch_native = isinstance(padding, int) or (
        isinstance(padding, tuple) and isinstance(padding[0], int)) or padding == "valid" or (
        padding == "same" and args["stride"] == 1)
    if torch_native:
        tx, targs = leaf, args
    else:  # PyTorch has no asymmetric padding and no "same" with stride > 1: pad first
        pads = _transpose_args(case)["padding"]
        tx, targs = torch.nn.functional.pad(leaf, (*pads[1], *pads[0])), {**args, "padding": 0}
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, **targs)
    xt, wt = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, **args)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-10)
    g = np.random.default_rng(0).standard_normal(y.shape)
    ty.backward(torch.tensor(g))
    y.backward(tc.Tensor(g))
    np.testing.assert_allclose(wt.grad.numpy(), tw.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), leaf.grad.numpy(), atol=1e-10)


@given(case=tst.conv_transpose2d_geometries(), data=st.data())
def test_conv_transpose2d_and_its_gradients_match_pytorch(case, data):
    torch = pytest.importorskip("torch")
    x, w, b = _transpose_geometry_arrays(case, data)
    args = _transpose_geometry_args(case)
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    padding = args["padding"]
    if isinstance(padding, int) or isinstance(padding[0], int):
        ty = torch.nn.functional.conv_transpose2d(*leaves, **args)
    else:  # PyTorch has no asymmetric padding: no padding, then crop what it would remove
        (top, bottom), (left, right) = padding
        full = torch.nn.functional.conv_transpose2d(*leaves, **{**args, "padding": 0})
        ty = full[:, :, top:full.shape[2] - bottom, left:full.shape[3] - right]
    xt, wt, bt = (tc.Tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose2d(xt, wt, bt, **args)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=0, atol=1e-10)
    g = np.random.default_rng(0).standard_normal(y.shape)
    ty.backward(torch.tensor(g))
    y.backward(tc.Tensor(g))
    for ours, theirs in zip((xt, wt, bt), leaves, strict=True):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.cpu_only("tracemalloc sees NumPy's host buffers, not CuPy's memory pool")
def test_chunked_conv_bounds_peak_memory(monkeypatch):
    """Forward+backward with a 256 KiB budget on a batch whose columns take 9 times that: the
    peak of NumPy buffers (tracemalloc) stays near 2 budgets plus the tensors themselves."""
    import tracemalloc

    budget = 2**18
    monkeypatch.setattr(windows, "IM2COL_BUDGET_BYTES", budget)
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((32, 8, 16, 16)).astype(np.float32), requires_grad=True)
    w = tc.Tensor(rng.standard_normal((8, 8, 3, 3)).astype(np.float32), requires_grad=True)
    full_cols = 32 * 8 * 9 * 16 * 16 * 4
    assert full_cols == 9 * budget
    g = tc.Tensor(rng.standard_normal((32, 8, 16, 16)).astype(np.float32))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        F.conv2d(x, w, padding=1).backward(g)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    tensors = 3 * x.data.nbytes  # the output, the input gradient and one temporary of that size
    assert peak < 2 * budget + tensors, (peak, budget, tensors)
    assert peak < full_cols / 2
