"""F.interpolate / nn.Upsample (nearest, bilinear with align_corners both ways), F.unfold /
F.fold and their layers: naive references, float64 gradcheck and gradgradcheck, PyTorch's values
and gradients, errors."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references_vocab as ref
from tests.devices import to_default
from tinygrad_cnn import nn
from tinygrad_cnn.testing import strategies as tst

per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------- interpolate

FACTORS = [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0]


@st.composite
def interpolate_cases(draw):
    """(input shape, interpolate kwargs, output size, scale factors the reference uses)."""
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    kwargs = {"mode": mode}
    if mode == "bilinear":
        kwargs["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
        kwargs["size"] = size if draw(st.booleans()) or size[0] != size[1] else size[0]
        return shape, kwargs, size, (None, None)
    factors = (draw(st.sampled_from(FACTORS)), draw(st.sampled_from(FACTORS)))
    size = (int(np.floor(h * factors[0])), int(np.floor(w * factors[1])))
    if min(size) < 1:
        factors, size = (2.0, 2.0), (2 * h, 2 * w)
    kwargs["scale_factor"] = factors if factors[0] != factors[1] else factors[0]
    if draw(st.booleans()):
        kwargs["recompute_scale_factor"] = True
        return shape, kwargs, size, (None, None)
    return shape, kwargs, size, factors


def _reference(x, kwargs, size, factors):
    if kwargs["mode"] == "nearest":
        return ref.interpolate_nearest(x, size, factors)
    return ref.interpolate_bilinear(x, size, kwargs["align_corners"], factors)


@per_device
@given(case=interpolate_cases(), data=st.data())
def test_interpolate_matches_naive_reference(device, case, data):
    shape, kwargs, size, factors = case
    x = data.draw(tst.float_arrays(shape))
    out = F.interpolate(tc.Tensor(x, device=device), **kwargs)
    np.testing.assert_allclose(out.numpy(), _reference(x, kwargs, size, factors), rtol=1e-12,
                               atol=1e-12)
    layer = nn.Upsample(**kwargs)
    np.testing.assert_array_equal(layer(tc.Tensor(x, device=device)).numpy(), out.numpy())


@given(case=interpolate_cases(), data=st.data())
def test_interpolate_gradcheck_and_gradgradcheck(case, data):
    shape, kwargs, _, _ = case
    x = data.draw(tst.float_arrays(shape))
    assert tc.gradcheck(lambda x: F.interpolate(x, **kwargs), (x,))
    assert tc.gradgradcheck(lambda x: F.interpolate(x, **kwargs), (x,))


@given(case=interpolate_cases(), data=st.data())
def test_interpolate_against_pytorch(case, data):
    torch = _torch()
    shape, kwargs, _, _ = case
    x = data.draw(tst.float_arrays(shape))
    xt, xr = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = F.interpolate(xt, **kwargs), torch.nn.functional.interpolate(xr, **kwargs)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_nearest_index_rule_matches_pytorch_for_every_small_size():
    # PyTorch computes the nearest source index in float32, and its 2-D kernel special-cases
    # out == in and out == 2*in: a ramp input shows the index chosen for every output position
    torch = _torch()
    for dtype in (np.float32, np.float64):
        for n, d in itertools.product(range(1, 13), (1, 2, 3)):   # 1-3 spatial dims of n
            x = np.broadcast_to(np.arange(n, dtype=dtype), (1, 1) + (n,) * d).copy()
            for kwargs in ([{"size": m} for m in range(1, 26)]
                           + [{"scale_factor": f} for f in (0.3, 0.7, 1.3, 2.1, 2.5, 3.7)
                              if int(n * f) >= 1]):
                for mode in ("nearest", "nearest-exact"):
                    mine = F.interpolate(tc.Tensor(x), mode=mode, **kwargs).numpy()
                    theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode,
                                                             **kwargs).numpy()
                    np.testing.assert_array_equal(mine, theirs, err_msg=f"{n} {kwargs} {mode}")


def test_linear_and_trilinear_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(0)
    for mode, shape, kwargs in [("linear", (2, 3, 5), {"size": 8}),
                                ("linear", (2, 3, 5), {"scale_factor": 0.6,
                                                       "align_corners": True}),
                                ("trilinear", (1, 2, 3, 4, 2), {"size": (5, 2, 3)}),
                                ("nearest", (1, 2, 3, 4, 2), {"scale_factor": (2.0, 0.5, 1.5)}),
                                ("bilinear", (1, 2, 4, 4), {"size": 1, "align_corners": True})]:
        x = rng.standard_normal(shape)
        xt, xr = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out = F.interpolate(xt, mode=mode, **kwargs)
        expected = torch.nn.functional.interpolate(xr, mode=mode, **kwargs)
        g = rng.standard_normal(out.shape)
        out.backward(tc.Tensor(g))
        expected.backward(torch.tensor(g))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_bilinear_float32_against_pytorch():
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 5)).astype(np.float32)
    for align in (False, True):
        for kwargs in ({"size": (11, 3)}, {"scale_factor": 1.7}):
            out = F.interpolate(tc.Tensor(x), mode="bilinear", align_corners=align, **kwargs)
            expected = torch.nn.functional.interpolate(torch.tensor(x), mode="bilinear",
                                                       align_corners=align, **kwargs)
            assert out.dtype == np.float32
            np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_upsample_layers_repr_and_pytorch():
    torch = _torch()
    pairs = [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
             (nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True),
              torch.nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True)),
             (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(
                 scale_factor=2)),
             (nn.UpsamplingNearest2d(size=5), torch.nn.UpsamplingNearest2d(size=5))]
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3))
    for mine, theirs in pairs:
        assert repr(mine) == repr(theirs)
        np.testing.assert_allclose(mine(tc.Tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"size": 4, "scale_factor": 2}, ValueError, r"exactly one of size and scale_factor"),
    ({}, ValueError, r"exactly one of size and scale_factor, got size=None"),
    ({"size": 4, "align_corners": True}, ValueError,
     r"align_corners can only be set with the linear modes .* not with mode 'nearest'"),
    ({"size": 4, "mode": "bicubic"}, ValueError, r"mode must be one of .* got 'bicubic'"),
    ({"size": 4, "mode": "linear"}, ValueError, r"mode 'linear' needs a 3-D input .* got shape "
                                                r"\(1, 1, 3, 3\)"),
    ({"scale_factor": 0.1}, ValueError, r"output size \(0, 0\) must be positive"),
    ({"size": (2, 3, 4)}, ValueError, r"size must have 2 elements, one per spatial dim"),
    ({"size": 2.5}, TypeError, r"size must hold numbers \(Integral\), got 2.5"),
    ({"scale_factor": -2.0}, ValueError, r"scale_factor must be positive"),
])
def test_interpolate_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.interpolate(tc.zeros(1, 1, 3, 3), **kwargs)


def test_interpolate_integer_input_and_layer_errors():
    x = tc.Tensor(np.arange(4, dtype=np.int64).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).numpy()[0, 0, 0], [0, 0, 1, 1])
    with pytest.raises(TypeError, match=r"mode 'bilinear' needs a floating-point input"):
        F.interpolate(x, size=3, mode="bilinear")
    with pytest.raises(ValueError, match=r"Upsample: give exactly one of size and scale_factor"):
        nn.Upsample()


# ---------------------------------------------------------------------- unfold / fold


@st.composite
def unfold_cases(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 6))
                 for k, d, p in zip(kernel, dilation, padding, strict=True))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    args = {"kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    if kernel[0] == kernel[1] and draw(st.booleans()):
        args["kernel_size"] = kernel[0]     # ints as well as pairs
    return shape, args


def _ref_args(args):
    k = args["kernel_size"]
    return {"kernel": (k, k) if isinstance(k, int) else k, "dilation": args["dilation"],
            "padding": args["padding"], "stride": args["stride"]}


def _cols_shape(shape, args):
    r = _ref_args(args)
    out = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in
           zip(shape[2:], r["kernel"], r["dilation"], r["padding"], r["stride"], strict=True)]
    return (shape[0], shape[1] * r["kernel"][0] * r["kernel"][1], out[0] * out[1])


@per_device
@given(case=unfold_cases(), data=st.data())
def test_unfold_and_fold_match_naive_references(device, case, data):
    shape, args = case
    x = data.draw(tst.float_arrays(shape))
    out = F.unfold(tc.Tensor(x, device=device), **args)
    np.testing.assert_array_equal(out.numpy(), ref.unfold(x, **_ref_args(args)))
    np.testing.assert_array_equal(F.unfold(tc.Tensor(x[0]), **args).numpy(), out.numpy()[0])
    cols = data.draw(tst.float_arrays(_cols_shape(shape, args)))
    folded = F.fold(tc.Tensor(cols, device=device), shape[2:], **args)
    np.testing.assert_allclose(folded.numpy(), ref.fold(cols, shape[2:], **_ref_args(args)),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn.Fold(shape[2:], **args)(tc.Tensor(cols[0])).numpy(),
                               folded.numpy()[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(nn.Unfold(**args)(tc.Tensor(x)).numpy(), out.numpy())


@given(case=unfold_cases(), data=st.data())
def test_unfold_fold_gradcheck_and_gradgradcheck(case, data):
    shape, args = case
    x = data.draw(tst.float_arrays(shape))
    cols = data.draw(tst.float_arrays(_cols_shape(shape, args)))
    assert tc.gradcheck(lambda x: F.unfold(x, **args), (x,))
    assert tc.gradgradcheck(lambda x: F.unfold(x, **args), (x,))
    assert tc.gradcheck(lambda c: F.fold(c, shape[2:], **args), (cols,))
    assert tc.gradgradcheck(lambda c: F.fold(c, shape[2:], **args), (cols,))


@given(case=unfold_cases(), data=st.data())
def test_unfold_fold_against_pytorch(case, data):
    torch = _torch()
    shape, args = case
    x = data.draw(tst.float_arrays(shape))
    cols = data.draw(tst.float_arrays(_cols_shape(shape, args)))
    for fn, tfn, inp, extra in ((F.unfold, torch.nn.functional.unfold, x, ()),
                                (F.fold, torch.nn.functional.fold, cols, (shape[2:],))):
        mine, theirs = tc.Tensor(inp, requires_grad=True), torch.tensor(inp, requires_grad=True)
        out, expected = fn(mine, *extra, **args), tfn(theirs, *extra, **args)
        g = np.random.default_rng(0).standard_normal(out.shape)
        out.backward(tc.Tensor(g))
        expected.backward(torch.tensor(g))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12,
                                   atol=1e-12)


def test_unfold_as_a_convolution_and_layer_repr():
    # conv2d = weight rows @ unfold(x): the use PyTorch's documentation gives
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    cols = F.unfold(tc.Tensor(x), (3, 2), padding=1, stride=(2, 1))          # (2, 18, L)
    out = (tc.Tensor(w.reshape(4, -1)) @ cols).numpy()
    expected = F.conv2d(tc.Tensor(x), tc.Tensor(w), padding=1, stride=(2, 1)).numpy()
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=1e-12, atol=1e-12)
    assert repr(nn.Unfold(2)) == "Unfold(kernel_size=2, dilation=1, padding=0, stride=1)"
    assert repr(nn.Fold((4, 5), 2)) == ("Fold(output_size=(4, 5), kernel_size=2, dilation=1, "
                                        "padding=0, stride=1)")


def test_unfold_fold_errors():
    with pytest.raises(ValueError, match=r"unfold: expected a 4-D input \(N, C, H, W\) or a 3-D "
                                         r"unbatched one \(C, H, W\), got shape \(3, 4\)"):
        F.unfold(tc.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=r"unfold: the kernel \(4, dilation 1, reaching 4\) is "
                                         r"larger than the padded input height 3"):
        F.unfold(tc.zeros(1, 1, 3, 5), 4)
    with pytest.raises(ValueError, match=r"fold: the input has 5 blocks \(shape \(1, 4, 5\)\) "
                                         r"but output_size \(3, 3\) .* has 2 x 2 = 4"):
        F.fold(tc.zeros(1, 4, 5), (3, 3), 2)
    with pytest.raises(ValueError, match=r"fold: the input's dim 1 \(6, shape \(1, 6, 4\)\) must "
                                         r"be divisible by the kernel's KH\*KW = 4"):
        F.fold(tc.zeros(1, 6, 4), (3, 3), 2)
    with pytest.raises(ValueError, match=r"unfold: padding must be non-negative, got -1"):
        F.unfold(tc.zeros(1, 1, 3, 3), 2, padding=-1)
    with pytest.raises(TypeError, match=r"unfold: stride must be an int or a pair of ints"):
        F.unfold(tc.zeros(1, 1, 3, 3), 2, stride=1.5)


# ---------------------------------------------------------------------- take_axis


@given(data=st.data(), sorted_index=st.booleans(), axis=st.integers(0, 2))
def test_take_axis_gradient_sums_back_repeated_reads(data, sorted_index, axis):
    # interpolate's gather: its adjoint sums runs of a sorted index with add.reduceat and falls
    # back to a scatter-add for any other index
    from tinygrad_cnn.ops.resample import take_axis
    shape = (2, 3, 4)
    x = data.draw(tst.float_arrays(shape))
    index = np.array(data.draw(st.lists(st.integers(0, shape[axis] - 1), min_size=1,
                                        max_size=6)))
    if sorted_index:
        index = np.sort(index)
    on_device = to_default(index)  # take_axis takes an index array on x's device
    out = take_axis(tc.Tensor(x), on_device, axis)
    np.testing.assert_array_equal(out.numpy(), np.take(x, index, axis=axis))
    g = np.random.default_rng(0).standard_normal(out.shape)
    xt = tc.Tensor(x, requires_grad=True)
    take_axis(xt, on_device, axis).backward(tc.Tensor(g))
    expected = np.zeros_like(x)
    for j, i in enumerate(index):     # each output position's gradient back at its source
        src = [slice(None)] * 3
        dst = [slice(None)] * 3
        src[axis], dst[axis] = i, j
        expected[tuple(src)] += g[tuple(dst)]
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert tc.gradcheck(lambda x: take_axis(x, on_device, axis), (x,))
    assert tc.gradgradcheck(lambda x: take_axis(x, on_device, axis), (x,))
