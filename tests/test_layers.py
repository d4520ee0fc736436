"""Layers: forward against NumPy references, float64 gradchecks of inputs AND parameters,
train/eval behaviour, default initialisation, and the errors that name the layer."""

import math

import numpy as np
import pytest
import references_nn as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests.module_checks import check_module, functional_call
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Tensor


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------- Linear


@given(seed=st.integers(0, 2**31), lead=st.sampled_from([(), (3,), (2, 3)]),
       bias=st.booleans())
def test_linear(seed, lead, bias):
    rng = _rng(seed)
    layer = nn.Linear(4, 3, bias=bias).double()
    x = rng.normal(size=lead + (4,))
    out = layer(Tensor(x))
    b = layer.bias.numpy() if bias else None
    expected = ref.linear(x, layer.weight.numpy(), b)
    # rounding of a sum of products is bounded by eps times the sum of their magnitudes (a
    # relative tolerance failed where the terms cancelled to 2.5e-7 out of ~1)
    magnitude = ref.linear(np.abs(x), np.abs(layer.weight.numpy()), None if b is None else abs(b))
    assert np.all(np.abs(out.numpy() - expected) <= 8 * np.finfo(np.float64).eps * magnitude)
    assert check_module(layer, x)
    w, bb = rng.normal(size=(3, 4)), rng.normal(size=3)
    assert tc.gradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, bb))
    assert tc.gradgradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, bb))


def test_linear_errors_name_the_layer():
    layer = nn.Linear(20, 5)
    with pytest.raises(ValueError, match=r"Linear\(in_features=20, out_features=5, bias=True\): "
                                         r"input has 19 features \(shape \(8, 19\)\)"):
        layer(tc.zeros(8, 19))
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) has 3 features but "
                                         r"weight of shape \(5, 20\) expects 20"):
        F.linear(tc.zeros(2, 3), layer.weight)


def test_default_init_matches_pytorch_rule():
    tc.manual_seed(0)
    layer = nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    for p in (layer.weight, layer.bias):
        v = p.numpy()
        assert np.abs(v).max() <= bound
        assert np.abs(v).max() > 0.95 * bound   # fills the whole range, not a narrower one
    # U(-b, b) has variance b^2 / 3
    assert abs(layer.weight.numpy().var() / (bound**2 / 3) - 1) < 0.03
    conv = nn.Conv2d(8, 16, 3, groups=2)
    fan_in = 4 * 3 * 3
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(fan_in)
    assert abs(conv.weight.numpy().var() / (1 / fan_in / 3) - 1) < 0.1
    convt = nn.ConvTranspose2d(4, 6, 3)   # fan_in from weight dim 1: 6*3*3
    assert np.abs(convt.bias.numpy()).max() <= 1 / math.sqrt(54)
    assert convt.weight.shape == (4, 6, 3, 3)
    tc.manual_seed(5)
    a = nn.Linear(3, 2).weight.numpy().copy()
    tc.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Linear(3, 2).weight.numpy())
    assert layer.weight.dtype == np.float32
    assert nn.Linear(2, 2, dtype="float64").weight.dtype == np.float64


# ---------------------------------------------------------------------- convolution


@given(seed=st.integers(0, 2**31), stride=st.sampled_from([1, 2, (2, 1)]),
       padding=st.sampled_from([0, 1, (1, 0)]), dilation=st.sampled_from([1, 2]),
       groups=st.sampled_from([1, 2]), bias=st.booleans())
def test_conv2d_layer(seed, stride, padding, dilation, groups, bias):
    rng = _rng(seed)
    layer = nn.Conv2d(4, 2, (3, 2), stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=bias).double()
    x = rng.normal(size=(2, 4, 6, 5))
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    b = layer.bias.numpy() if bias else None
    expected = ref.conv2d(x, layer.weight.numpy(), b, pair(stride), pair(padding),
                          pair(dilation), groups)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert check_module(layer, x, fast_mode=True)


def test_conv2d_same_padding_and_repr():
    layer = nn.Conv2d(3, 4, 4, padding="same").double()
    x = _rng().normal(size=(1, 3, 5, 5))
    out = layer(Tensor(x))
    assert out.shape == (1, 4, 5, 5)
    # PyTorch's 'same' for an even kernel: 1 row/column before, 2 after
    padded = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2)))
    np.testing.assert_allclose(out.numpy(), ref.conv2d(padded, layer.weight.numpy(),
                                                       layer.bias.numpy()), rtol=1e-10)
    assert repr(layer) == "Conv2d(3, 4, kernel_size=(4, 4), stride=(1, 1), padding=same)"
    assert repr(nn.Conv2d(3, 16, 5, stride=2, padding=1, groups=1, bias=False)) == (
        "Conv2d(3, 16, kernel_size=(5, 5), stride=(2, 2), padding=(1, 1), bias=False)")


def test_conv2d_errors_name_the_layer():
    layer = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16, kernel_size=\(3, 3\).*\): expected 3 "
                                         r"input channels, got 1 \(input shape \(2, 1, 8, 8\)\)"):
        layer(tc.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape"):
        layer(tc.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"output height would be 0 pixels.*floor\(\(2 \+ 2\*0 - "
                                         r"1\*\(3-1\) - 1\) / 1\) \+ 1 = 0"):
        layer(tc.zeros(1, 3, 2, 8))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


@given(seed=st.integers(0, 2**31), stride=st.sampled_from([1, 2]), padding=st.sampled_from([0, 1]),
       output_padding=st.sampled_from([0, 1]))
def test_conv_transpose2d_layer(seed, stride, padding, output_padding):
    if output_padding >= stride:
        output_padding = 0
    rng = _rng(seed)
    layer = nn.ConvTranspose2d(3, 2, 3, stride=stride, padding=padding,
                               output_padding=output_padding).double()
    x = rng.normal(size=(2, 3, 4, 3))
    expected = ref.conv_transpose2d(x, layer.weight.numpy(), layer.bias.numpy(),
                                    (stride, stride), (padding, padding),
                                    (output_padding, output_padding))
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert check_module(layer, x, fast_mode=True)


def test_conv_transpose2d_errors():
    layer = nn.ConvTranspose2d(3, 2, 3, padding=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(3, 2.*expected 3 input channels, "
                                         r"got 2"):
        layer(tc.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError,
                       match=r"output height would be -1 pixels.*\(1 - 1\)\*1 - 2\*2.* = -1"):
        layer(tc.zeros(1, 3, 1, 4))
    asymmetric = nn.ConvTranspose2d(3, 2, 3, padding=((3, 1), (0, 0)))
    with pytest.raises(ValueError, match=r"output height would be -1 pixels.*P_before - P_after.*"
                                         r"= \(1 - 1\)\*1 - 3 - 1 \+ 1\*\(3-1\) \+ 0 \+ 1 = -1"):
        asymmetric(tc.zeros(1, 3, 1, 4))
    conv = nn.Conv2d(3, 2, 5, padding=((1, 0), (0, 0)))
    with pytest.raises(ValueError, match=r"output height would be 0 pixels.*floor\(\(W \+ "
                                         r"P_before \+ P_after - D\*\(K-1\) - 1\) / S\) \+ 1 = "
                                         r"floor\(\(3 \+ 1 \+ 0 - 1\*\(5-1\) - 1\) / 1\) \+ 1 = 0"):
        conv(tc.zeros(1, 3, 3, 8))


def _conv_transpose_ref(x, w, b, stride, pads, output_padding):
    """The reference transposed conv, uncropped, then cropped by ((top, bottom), (left, right))."""
    full = ref.conv_transpose2d(x, w, None, stride, (0, 0), output_padding)
    (t, bt), (lf, r) = pads
    out = full[:, :, t:full.shape[2] - bt, lf:full.shape[3] - r]
    return out if b is None else out + b.reshape(1, -1, 1, 1)


@given(seed=st.integers(0, 2**31), pads=st.tuples(*[st.integers(0, 2)] * 4),
       stride=st.sampled_from([(1, 1), (2, 1), (2, 3)]), extra=st.tuples(st.booleans(),
                                                                         st.booleans()))
def test_conv_layers_with_asymmetric_padding(seed, pads, stride, extra):
    rng = _rng(seed)
    padding = ((pads[0], pads[1]), (pads[2], pads[3]))
    output_padding = tuple(int(e) * (s - 1) for e, s in zip(extra, stride, strict=True))
    layer = nn.ConvTranspose2d(3, 2, 3, stride=stride, padding=padding,
                               output_padding=output_padding).double()
    x = rng.normal(size=(2, 3, 4, 3))
    expected = _conv_transpose_ref(x, layer.weight.numpy(), layer.bias.numpy(), stride, padding,
                                   output_padding)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-10, atol=1e-12)
    assert check_module(layer, x, fast_mode=True)
    conv = nn.Conv2d(3, 2, 3, stride=stride, padding=padding).double()
    padded = np.pad(x, ((0, 0), (0, 0)) + padding)
    np.testing.assert_allclose(conv(Tensor(x)).numpy(),
                               ref.conv2d(padded, conv.weight.numpy(), conv.bias.numpy(), stride),
                               rtol=1e-10, atol=1e-12)
    assert check_module(conv, x, fast_mode=True)


def test_conv_layers_keep_padding_as_pytorch_does():
    assert nn.Conv2d(2, 2, 3, padding=((1, 1), (2, 2))).padding == (1, 2)
    assert nn.ConvTranspose2d(2, 2, 3, padding=[1, 0]).padding == (1, 0)
    layer = nn.ConvTranspose2d(2, 2, 3, padding=((1, 0), (0, 1)))
    assert repr(layer) == ("ConvTranspose2d(2, 2, kernel_size=(3, 3), stride=(1, 1), "
                           "padding=((1, 0), (0, 1)))")
    assert layer(tc.zeros(1, 2, 5, 5)).shape == (1, 2, 6, 6)   # 4 - 1 + 2 + 1 per axis


@given(seed=st.integers(0, 2**31), stride=st.sampled_from([(2, 2), (3, 2), (1, 3)]),
       dilation=st.sampled_from([1, 2]), padding=st.sampled_from([0, 1, ((1, 0), (2, 1))]),
       shift=st.tuples(st.integers(0, 2), st.integers(0, 2)), batch_and_channels=st.booleans())
def test_conv_transpose2d_output_size(seed, stride, dilation, padding, shift,
                                      batch_and_channels):
    """forward(x, output_size) equals the layer with the output_padding that gives that size."""
    rng = _rng(seed)
    layer = nn.ConvTranspose2d(3, 2, (3, 2), stride=stride, padding=padding,
                               dilation=dilation).double()
    x = Tensor(rng.normal(size=(2, 3, 4, 5)))
    smallest = layer(x).shape[2:]
    extra = tuple(e % s for e, s in zip(shift, stride, strict=True))   # in [0, stride - 1]
    size = tuple(n + e for n, e in zip(smallest, extra, strict=True))
    requested = (2, 2) + size if batch_and_channels else size
    out = layer(x, output_size=requested)
    assert out.shape == (2, 2) + size
    expected = F.conv_transpose2d(x, layer.weight, layer.bias, stride, padding, extra,
                                  dilation=dilation)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, atol=1e-14)
    largest = tuple(n + s - 1 for n, s in zip(smallest, stride, strict=True))
    with pytest.raises(ValueError, match=rf"requested an output size of \({largest[0] + 1}, "
                                         rf"{size[1]}\), but valid sizes range from "
                                         rf"\({smallest[0]}, {smallest[1]}\) to "
                                         rf"\({largest[0]}, {largest[1]}\)"):
        layer(x, output_size=(largest[0] + 1, size[1]))


def test_conv_transpose2d_output_size_errors():
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2)
    x = tc.zeros(2, 4, 5, 5)
    assert layer(x, output_size=np.array([12, 11])).shape == (2, 6, 12, 11)
    assert layer(x, output_size=(np.int64(11), 12)).shape == (2, 6, 11, 12)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 6.*\): requested an output size "
                                         r"of \(10, 11\), but valid sizes range from \(11, 11\) "
                                         r"to \(12, 12\) \(for an input of \(5, 5\)\)"):
        layer(x, output_size=(10, 11))
    with pytest.raises(ValueError, match=r"ConvTranspose2d: for a 4-D input, output_size must "
                                         r"have 2 or 4 elements, got 3"):
        layer(x, output_size=(1, 12, 12))
    with pytest.raises(TypeError, match=r"ConvTranspose2d: output_size must be \(OH, OW\) or "
                                        r"\(N, C, OH, OW\), got 12"):
        layer(x, output_size=12)
    with pytest.raises(TypeError, match=r"ConvTranspose2d: output_size must hold ints, got "
                                        r"\(12.0, 12\)"):
        layer(x, output_size=(12.0, 12))


def test_conv_transpose2d_output_size_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = _rng(3)
    x = rng.normal(size=(2, 4, 5, 6))
    for stride, padding, dilation in [((2, 3), (1, 0), 1), (3, 2, (2, 1)), (2, 0, 3)]:
        ours = nn.ConvTranspose2d(4, 2, 3, stride=stride, padding=padding,
                                  dilation=dilation).double()
        theirs = torch.nn.ConvTranspose2d(4, 2, 3, stride=stride, padding=padding,
                                          dilation=dilation).double()
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
            theirs.bias.copy_(torch.tensor(ours.bias.numpy()))
        smallest = ours(Tensor(x)).shape[2:]
        s = (stride, stride) if isinstance(stride, int) else stride
        for extra in [(0, 0), (s[0] - 1, 0), (0, s[1] - 1), (s[0] - 1, s[1] - 1)]:
            size = (smallest[0] + extra[0], smallest[1] + extra[1])
            expected = theirs(torch.tensor(x), output_size=size).detach().numpy()
            np.testing.assert_allclose(ours(Tensor(x), output_size=size).numpy(), expected,
                                       rtol=1e-10, atol=1e-12)
        too_big = (smallest[0] + s[0], smallest[1])
        with pytest.raises(ValueError, match="requested an output size"):
            theirs(torch.tensor(x), output_size=too_big)
        with pytest.raises(ValueError, match="requested an output size"):
            ours(Tensor(x), output_size=too_big)


# Arguments PyTorch refuses at construction, and geometry it refuses in forward: both refused
# here at construction, naming the layer and the argument (never a ZeroDivisionError, nor the
# output-size message's "use more padding" for a negative padding).
_BAD_LAYER_ARGS = [
    (lambda: nn.Linear(-1, 3), ValueError, r"Linear: in_features must be non-negative, got -1"),
    (lambda: nn.Linear(4, 2.5), TypeError, r"Linear: out_features must be an int, got 2.5"),
    (lambda: nn.Conv2d(4, 6, 3, stride=0), ValueError, r"Conv2d: stride must be positive, got 0"),
    (lambda: nn.Conv2d(4, 6, 3, stride=-1), ValueError,
     r"Conv2d: stride must be positive, got -1"),
    (lambda: nn.Conv2d(4, 6, 3, stride=(1, 0)), ValueError,
     r"Conv2d: stride must be positive, got \(1, 0\)"),
    (lambda: nn.Conv2d(4, 6, 3, padding=-5), ValueError,
     r"Conv2d: padding must be non-negative, got -5"),
    (lambda: nn.Conv2d(4, 6, 3, padding=((1, -1), (0, 0))), ValueError,
     r"Conv2d: padding must be non-negative"),
    (lambda: nn.Conv2d(4, 6, 3, padding="full"), ValueError,
     r"Conv2d: padding must be an int, a pair, .*'valid' or 'same', got 'full'"),
    (lambda: nn.Conv2d(4, 6, 3, padding=1.5), TypeError,
     r"Conv2d: padding must be an int or a pair of ints, got 1.5"),
    (lambda: nn.Conv2d(4, 6, 3, dilation=0), ValueError,
     r"Conv2d: dilation must be positive, got 0"),
    (lambda: nn.Conv2d(4, 6, 0), ValueError, r"Conv2d: kernel_size must be positive, got 0"),
    (lambda: nn.Conv2d(4, 6, (3, 2, 1)), TypeError,
     r"Conv2d: kernel_size must be an int or a pair of ints, got \(3, 2, 1\)"),
    (lambda: nn.Conv2d(0, 6, 3), ValueError, r"Conv2d: in_channels must be positive, got 0"),
    (lambda: nn.Conv2d(4, -1, 3), ValueError, r"Conv2d: out_channels must be positive, got -1"),
    (lambda: nn.Conv2d(4.0, 6, 3), TypeError, r"Conv2d: in_channels must be an int, got 4.0"),
    (lambda: nn.Conv2d(3, 3, 3, groups=1.5), TypeError, r"Conv2d: groups must be an int, got 1.5"),
    (lambda: nn.Conv2d(4, 4, 3, groups="2"), TypeError, r"Conv2d: groups must be an int, got '2'"),
    (lambda: nn.Conv2d(4, 4, 3, groups=True), TypeError,
     r"Conv2d: groups must be an int, got True"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, r"Conv2d: groups must be positive, got 0"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError,
     r"Conv2d: in_channels \(4\) and out_channels \(6\) must both be divisible by groups \(4\)"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="mirror"), ValueError,
     r"Conv2d: padding_mode must be one of \('zeros', 'reflect', 'replicate', 'circular'\), "
     r"got 'mirror'"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=0), ValueError,
     r"ConvTranspose2d: stride must be positive, got 0"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding=-1), ValueError,
     r"ConvTranspose2d: padding must be non-negative, got -1"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding="same"), ValueError,
     r"ConvTranspose2d: padding='same' is not supported; give an int or a pair"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding=np.array([1, 1])), TypeError,
     r"ConvTranspose2d: padding must be an int or a pair of ints, got array\(\[1, 1\]\)"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, output_padding=1), ValueError,
     r"ConvTranspose2d: output_padding 1 must be >= 0 and smaller than the stride 1 or the "
     r"dilation 1"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=(0, -1)), ValueError,
     r"ConvTranspose2d: output_padding -1 must be >= 0"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=1.5), TypeError,
     r"ConvTranspose2d: groups must be an int, got 1.5"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect"), ValueError,
     r'ConvTranspose2d: only "zeros" padding mode is supported, got \'reflect\''),
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: stride must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, stride=-2), ValueError,
     r"MaxPool2d: stride must be positive, got -2"),
    (lambda: nn.MaxPool2d(3, padding=-1), ValueError,
     r"MaxPool2d: padding must be non-negative, got -1"),
    (lambda: nn.MaxPool2d(3, dilation=0), ValueError,
     r"MaxPool2d: dilation must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, ceil_mode="yes"), TypeError,
     r"MaxPool2d: ceil_mode must be a bool, got 'yes'"),
    (lambda: nn.AvgPool2d(0), ValueError, r"AvgPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.AvgPool2d(2, stride=0), ValueError, r"AvgPool2d: stride must be positive, got 0"),
    (lambda: nn.AvgPool2d(2, padding=(0, -1)), ValueError,
     r"AvgPool2d: padding must be non-negative, got \(0, -1\)"),
    (lambda: nn.AvgPool2d(2, divisor_override=1.5), TypeError,
     r"AvgPool2d: divisor_override must be an int \(or None\), got 1.5"),
    (lambda: nn.AvgPool2d(2, divisor_override="2"), TypeError,
     r"AvgPool2d: divisor_override must be an int \(or None\), got '2'"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     r"AvgPool2d: divisor_override must be positive, got 0"),
    (lambda: nn.AvgPool2d(2, count_include_pad=None), TypeError,
     r"AvgPool2d: count_include_pad must be a bool, got None"),
    (lambda: nn.LPPool2d(2, 0), ValueError, r"LPPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.LPPool2d(2, 2, stride=0), ValueError,
     r"LPPool2d: stride must be positive, got 0"),
    (lambda: nn.LPPool2d(0, 2), ValueError, r"LPPool2d: norm_type must be a positive finite "
                                            r"number, got 0"),
    (lambda: nn.LPPool2d(math.inf, 2), ValueError, r"LPPool2d: norm_type must be a positive "
                                                   r"finite number, got inf"),
    (lambda: nn.LPPool2d("2", 2), TypeError, r"LPPool2d: norm_type must be a number, got '2'"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError,
     r"AdaptiveAvgPool2d: output_size must be positive, got 0"),
    (lambda: nn.AdaptiveAvgPool2d(1.0), TypeError,
     r"AdaptiveAvgPool2d: output_size must be an int, None or a pair of them, got 1.0"),
    (lambda: nn.AdaptiveMaxPool2d((2, 2, 2)), TypeError,
     r"AdaptiveMaxPool2d: output_size must be an int, None or a pair of them, got \(2, 2, 2\)"),
    (lambda: nn.AdaptiveMaxPool2d((None, -1)), ValueError,
     r"AdaptiveMaxPool2d: output_size must be positive, got \(None, -1\)"),
]


@pytest.mark.parametrize("make,error,match", _BAD_LAYER_ARGS)
def test_layer_arguments_are_checked_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("layer,attr,value,match", [
    (nn.Conv2d(4, 6, 3), "stride", 0, r"Conv2d: stride must be positive, got 0"),
    (nn.Conv2d(4, 6, 3), "padding", -5, r"Conv2d: padding must be non-negative, got -5"),
    (nn.ConvTranspose2d(4, 6, 3), "kernel_size", (0, 3),
     r"ConvTranspose2d: kernel_size must be positive, got \(0, 3\)"),
    (nn.MaxPool2d(2), "stride", 0, r"MaxPool2d: stride must be positive, got 0"),
    (nn.AvgPool2d(2), "kernel_size", 0, r"AvgPool2d: kernel_size must be positive, got 0"),
    (nn.LPPool2d(2, 2), "stride", -1, r"LPPool2d: stride must be positive, got -1"),
])
def test_arguments_changed_after_construction_are_checked_in_forward(layer, attr, value, match):
    setattr(layer, attr, value)
    with pytest.raises(ValueError, match=match):
        layer(tc.zeros(2, 4, 5, 5))


def test_layers_accept_numpy_integers():
    rng = _rng(5)
    x = rng.normal(size=(2, 4, 6, 6))
    i64 = np.int64
    ours = nn.Conv2d(i64(4), np.int32(6), i64(3), stride=i64(2), padding=(i64(1), 1),
                     groups=i64(2)).double()
    plain = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    assert repr(ours) == repr(plain) and type(ours.groups) is int
    plain.load_state_dict(ours.state_dict())
    np.testing.assert_array_equal(ours(Tensor(x)).numpy(), plain(Tensor(x)).numpy())
    convt = nn.ConvTranspose2d(i64(4), i64(2), i64(3), stride=i64(2),
                               output_padding=i64(1)).double()
    assert convt(Tensor(x)).shape == (2, 2, 14, 14)
    for ours, plain in [(nn.MaxPool2d(i64(2), i64(1), i64(1)), nn.MaxPool2d(2, 1, 1)),
                        (nn.AvgPool2d(i64(3), divisor_override=i64(4)),
                         nn.AvgPool2d(3, divisor_override=4)),
                        (nn.LPPool2d(i64(2), i64(2)), nn.LPPool2d(2, 2)),
                        (nn.AdaptiveAvgPool2d(i64(3)), nn.AdaptiveAvgPool2d(3)),
                        (nn.AdaptiveMaxPool2d((i64(2), None)), nn.AdaptiveMaxPool2d((2, None)))]:
        np.testing.assert_array_equal(ours(Tensor(np.abs(x))).numpy(),
                                      plain(Tensor(np.abs(x))).numpy())


# ---------------------------------------------------------------------- pooling


def _distinct(rng, shape):
    return rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) * 0.1


@given(seed=st.integers(0, 2**31), kernel=st.sampled_from([2, 3]),
       stride=st.sampled_from([None, 1, 2]), padding=st.sampled_from([0, 1]))
def test_pool_layers(seed, kernel, stride, padding):
    rng = _rng(seed)
    x = _distinct(rng, (2, 2, 6, 5)) - 1.5
    s = kernel if stride is None else stride
    m = nn.MaxPool2d(kernel, stride, padding)
    np.testing.assert_allclose(
        m(Tensor(x)).numpy(),
        ref.pool2d(x, (kernel, kernel), (s, s), lambda w: w.max(-1), (padding, padding),
                   -np.inf))
    assert check_module(m, x)
    a = nn.AvgPool2d(kernel, stride, padding)
    np.testing.assert_allclose(
        a(Tensor(x)).numpy(),
        ref.pool2d(x, (kernel, kernel), (s, s), lambda w: w.mean(-1), (padding, padding)),
        rtol=1e-12, atol=1e-14)
    assert check_module(a, x)
    positive = np.abs(x) + 0.5
    lp = nn.LPPool2d(2, kernel, stride)
    np.testing.assert_allclose(
        lp(Tensor(positive)).numpy(),
        ref.pool2d(positive, (kernel, kernel), (s, s), lambda w: np.sqrt((w**2).sum(-1))),
        rtol=1e-12)
    assert check_module(lp, positive)


@pytest.mark.parametrize("out_hw", [(1, 1), (2, 3), (3, 2), (4, 5)])
def test_adaptive_pools(out_hw):
    x = _distinct(_rng(1), (2, 3, 6, 6))
    avg = nn.AdaptiveAvgPool2d(out_hw)
    np.testing.assert_allclose(avg(Tensor(x)).numpy(),
                               ref.adaptive_pool2d(x, out_hw, lambda w: w.mean(-1)), rtol=1e-12)
    assert check_module(avg, x)
    if 6 % out_hw[0] or 6 % out_hw[1]:
        # uneven (overlapping) bins: ops/pool.py implements them for the average only
        with pytest.raises(NotImplementedError, match="uneven bins are not supported"):
            nn.AdaptiveMaxPool2d(out_hw)(Tensor(x))
        return
    mx = nn.AdaptiveMaxPool2d(out_hw)
    np.testing.assert_allclose(mx(Tensor(x)).numpy(),
                               ref.adaptive_pool2d(x, out_hw, lambda w: w.max(-1)))
    assert check_module(mx, x)


def test_pool_errors_and_repr():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=3.*output width would be 0 "
                                         r"pixels.*floor\(\(2 \+ 2\*0 - 1\*\(3-1\) - 1\) / 3\)"):
        nn.MaxPool2d(3)(tc.zeros(1, 1, 5, 2))
    assert repr(nn.MaxPool2d(2)) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                                     "ceil_mode=False)")
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"


def test_flatten():
    x = _rng().normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(nn.Flatten()(Tensor(x)).numpy(), x.reshape(2, -1))
    np.testing.assert_array_equal(nn.Flatten(0, 1)(Tensor(x)).numpy(), x.reshape(6, 4, 5))
    assert check_module(nn.Flatten(), x)


# ---------------------------------------------------------------------- Dropout


def test_dropout_scaling_and_eval_identity():
    x = Tensor(np.ones((200, 250)))
    layer = nn.Dropout(0.3)
    out = layer(x).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-15)
    # keep fraction 0.7 within ~6 sigma of Binomial(50000, 0.7)
    assert abs(kept.mean() - 0.7) < 6 * math.sqrt(0.7 * 0.3 / kept.size)
    assert abs(out.mean() - 1) < 0.02
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.3, training=False) is x
    assert (nn.Dropout(1.0)(x).numpy() == 0).all()
    assert nn.Dropout(0.0)(x) is x


def test_dropout_reproducible_and_gradient():
    x = _rng().normal(size=(4, 5))
    tc.manual_seed(7)
    a = F.dropout(Tensor(x), 0.5).numpy()
    tc.manual_seed(7)
    b = F.dropout(Tensor(x), 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    c = F.dropout(Tensor(x), 0.5).numpy()
    assert not np.array_equal(a, c)

    def fn(x):
        tc.manual_seed(11)  # the same mask at every evaluation
        return F.dropout(x, 0.4)

    assert tc.gradcheck(fn, (x,))
    assert tc.gradgradcheck(fn, (x,))
    with pytest.raises(ValueError, match="between 0 and 1, got 1.5"):
        nn.Dropout(1.5)


# ---------------------------------------------------------------------- a whole model


def test_small_cnn_gradcheck_fast_mode():
    tc.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.GELU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4), nn.Tanh(),
                          nn.Linear(4, 2))
    x = _distinct(_rng(4), (3, 2, 4, 4)) - 2.0
    assert check_module(model, x, fast_mode=True)
    # and a loss on top, second-order through the whole stack
    model.eval()
    target = Tensor(np.array([0, 1, 1]))
    names = [n for n, _ in model.named_parameters()]
    arrays = [p.numpy().copy() for p in model.parameters()]
    assert tc.gradcheck(
        lambda x, *ps: F.cross_entropy(
            functional_call(model, dict(zip(names, ps, strict=True)), x), target),
        (x, *arrays), fast_mode=True, seed=0)


def test_layers_on_device(device):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(0.2), nn.Linear(8, 3)).to(device)
    x = tc.randn(4, 1, 4, 4, device=device)
    out = model(x)
    assert out.shape == (4, 3) and out.device == tc.backend.normalize_device(device)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.device == out.device for p in model.parameters())


def _torch():
    try:
        import torch  # noqa: PLC0415
    except Exception:  # not installed, or installed without its native libraries
        return None
    return torch


@pytest.mark.skipif(_torch() is None, reason="PyTorch is not importable")
def test_layers_against_pytorch():
    torch = _torch()
    x = _rng(9).normal(size=(4, 3, 6, 6))
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    theirs = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(conv.weight.numpy()))
        theirs.bias.copy_(torch.tensor(conv.bias.numpy()))
    np.testing.assert_allclose(conv(Tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    bn, their_bn = nn.BatchNorm2d(3).double(), torch.nn.BatchNorm2d(3).double()
    for scale in (1.0, 3.0):
        ours, ref_out = bn(Tensor(x * scale)), their_bn(torch.tensor(x * scale))
    np.testing.assert_allclose(ours.numpy(), ref_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, value in their_bn.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[name].numpy(), value.numpy(), rtol=1e-12)
    assert list(bn.state_dict()) == list(their_bn.state_dict())
    for approximate in ("none", "tanh"):
        np.testing.assert_allclose(
            F.gelu(Tensor(x), approximate).numpy(),
            torch.nn.functional.gelu(torch.tensor(x), approximate=approximate).numpy(),
            rtol=1e-12, atol=1e-15)
