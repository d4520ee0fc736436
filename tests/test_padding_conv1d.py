"""F.pad's four modes, pixel_shuffle / pixel_unshuffle, conv1d and the 1-D pools (through the 2-D
ops), and their layers: naive references, float64 gradcheck and gradgradcheck, PyTorch, errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references_vocab as ref
from tinygrad_cnn import nn
from tinygrad_cnn.testing import strategies as tst

per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------- F.pad


@st.composite
def pad_cases(draw, modes=("constant", "reflect", "replicate", "circular")):
    """(mode, input shape, widths) within PyTorch's limits for the mode."""
    mode = draw(st.sampled_from(modes))
    dims = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    lead = (draw(st.integers(1, 2)),) * batched + (draw(st.integers(1, 2)),)
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    widths = []
    for size in reversed(sizes):  # PyTorch's order: last dim first
        top = {"reflect": size - 1, "circular": size}.get(mode, 3)
        widths += [draw(st.integers(0, top)), draw(st.integers(0, top))]
    return mode, lead + sizes, tuple(widths)


@per_device
@given(case=pad_cases(), data=st.data())
def test_pad_matches_naive_reference(device, case, data):
    mode, shape, widths = case
    x = data.draw(tst.float_arrays(shape))
    out = F.pad(tc.Tensor(x, device=device), widths, mode=mode)
    np.testing.assert_array_equal(out.numpy(), ref.pad(x, widths, mode))


@given(case=pad_cases(("reflect", "replicate", "circular")), data=st.data())
def test_pad_gradcheck_and_gradgradcheck(case, data):
    mode, shape, widths = case
    x = data.draw(tst.float_arrays(shape))
    assert tc.gradcheck(lambda x: F.pad(x, widths, mode=mode), (x,))
    assert tc.gradgradcheck(lambda x: F.pad(x, widths, mode=mode), (x,))


def test_pad_gradient_adds_up_where_an_element_is_read_twice():
    x = tc.Tensor(np.array([[[1.0, 2.0, 3.0]]]), requires_grad=True)
    F.pad(x, (2, 2), mode="reflect").sum().backward()   # 3 2 [1 2 3] 2 1
    np.testing.assert_array_equal(x.grad.numpy(), [[[2.0, 3.0, 2.0]]])
    x.grad = None
    F.pad(x, (3, 1), mode="circular").sum().backward()  # 1 2 3 [1 2 3] 1
    np.testing.assert_array_equal(x.grad.numpy(), [[[3.0, 2.0, 2.0]]])
    x.grad = None
    F.pad(x, (2, 0), mode="replicate").sum().backward()  # 1 1 [1 2 3]
    np.testing.assert_array_equal(x.grad.numpy(), [[[3.0, 1.0, 1.0]]])


@pytest.mark.parametrize("mode,shape,widths,match", [
    ("reflect", (1, 2, 3), (3, 0), r"reflect padding must be smaller than the padded dim, got "
                                   r"padding \(3, 0\) for dim 2 of size 3"),
    ("circular", (1, 2, 3), (0, 4), r"circular padding must be at most .* got padding \(0, 4\) "
                                    r"for dim 2 of size 3"),
    ("reflect", (3,), (1, 1), r"2 widths for a 2-D or 3-D input.* got 2 widths \(1, 1\) for an "
                              r"input of shape \(3,\)"),
    ("replicate", (2, 3), (1, 1, 1, 1), r"got 4 widths"),
    ("replicate", (1, 2, 3), (1, -1), r"non-negative padding, got \(1, -1\) for dim 2"),
    ("constant", (1, 2, 3), (1, 1, 1), r"even number of widths .* got 3"),
    ("wrap", (1, 2, 3), (1, 1), r"mode must be one of .* got 'wrap'"),
    ("replicate", (1, 0, 3), (1, 1, 1, 1), r"cannot pad dim 1 of size 0"),
])
def test_pad_errors_name_the_bad_value(mode, shape, widths, match):
    with pytest.raises(ValueError, match=match):
        F.pad(tc.zeros(*shape), widths, mode=mode)


def test_pad_argument_types():
    with pytest.raises(TypeError, match=r"pad must hold ints, got \(1, 1.5\)"):
        F.pad(tc.zeros(1, 2, 3), (1, 1.5), mode="reflect")
    with pytest.raises(ValueError, match=r"value=1.0 is only used by mode 'constant'"):
        F.pad(tc.zeros(1, 2, 3), (1, 1), mode="reflect", value=1.0)
    out = F.pad(tc.ones(1, 1, 2), (1, 0), value=7.0)
    np.testing.assert_array_equal(out.numpy(), [[[7.0, 1.0, 1.0]]])


@given(case=pad_cases(), data=st.data())
def test_pad_against_pytorch(case, data):
    torch = _torch()
    mode, shape, widths = case
    x = data.draw(tst.float_arrays(shape))
    g = np.random.default_rng(0).standard_normal(ref.pad(x, widths, mode).shape)
    xt = tc.Tensor(x, requires_grad=True)
    out = F.pad(xt, widths, mode=mode)
    out.backward(tc.Tensor(g))
    xr = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.pad(xr, widths, mode=mode)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer,torch_name,padding,shape", [
    (nn.ZeroPad2d, "ZeroPad2d", (1, 2, 0, 3), (2, 3, 4, 4)),
    (nn.ReflectionPad2d, "ReflectionPad2d", 2, (2, 3, 4, 4)),
    (nn.ReflectionPad2d, "ReflectionPad2d", (1, 0, 3, 2), (3, 4, 5)),
    (nn.ReplicationPad2d, "ReplicationPad2d", (1, 0, 3, 2), (2, 3, 4, 4)),
    (nn.CircularPad2d, "CircularPad2d", 1, (2, 3, 4, 4)),
    (nn.ReflectionPad1d, "ReflectionPad1d", (2, 1), (2, 3, 4)),
    (nn.ReplicationPad1d, "ReplicationPad1d", 3, (2, 3, 4)),
    (nn.ZeroPad1d, "ZeroPad1d", (2, 1), (2, 3, 4)),
])
def test_padding_layers(layer, torch_name, padding, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    module = layer(padding)
    widths = module.padding
    mode = {"Zero": "constant", "Refl": "reflect", "Repl": "replicate", "Circ": "circular"}
    out = module(tc.Tensor(x))
    np.testing.assert_array_equal(out.numpy(), ref.pad(x, widths, mode[torch_name[:4]]))
    assert tc.gradcheck(module, (x,))
    torch = pytest.importorskip("torch")
    expected = getattr(torch.nn, torch_name)(padding)
    assert repr(module) == repr(expected)
    np.testing.assert_array_equal(out.numpy(), expected(torch.tensor(x)).numpy())


def test_padding_layer_errors_name_the_layer():
    with pytest.raises(TypeError, match=r"ReflectionPad2d: padding must be an int or a tuple "
                                        r"\(left, right, top, bottom\) of 4 ints, got \(1, 2\)"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match=r"ReplicationPad2d: padding must be non-negative"):
        nn.ReplicationPad2d(-1)
    with pytest.raises(ValueError, match=r"ReflectionPad2d\(\(3, 3, 3, 3\)\): pad: reflect "
                                         r"padding must be smaller"):
        nn.ReflectionPad2d(3)(tc.zeros(1, 1, 3, 5))
    layer = nn.ConstantPad2d(1, 2.5)
    assert repr(layer) == "ConstantPad2d(padding=(1, 1, 1, 1), value=2.5)"
    np.testing.assert_array_equal(layer(tc.zeros(1, 1, 1))[0].numpy(), [[2.5] * 3, [2.5, 0, 2.5],
                                                                        [2.5] * 3])


# ---------------------------------------------------------------------- pixel shuffle


@st.composite
def shuffle_cases(draw):
    r = draw(st.integers(1, 3))
    lead = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 2))))
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return r, lead, c, h, w


@per_device
@given(case=shuffle_cases(), data=st.data())
def test_pixel_shuffle_matches_reference_and_unshuffle_inverts_it(device, case, data):
    r, lead, c, h, w = case
    x = data.draw(tst.float_arrays(lead + (c * r * r, h, w)))
    out = F.pixel_shuffle(tc.Tensor(x, device=device), r)
    flat = x.reshape((-1,) + x.shape[-3:])
    expected = ref.pixel_shuffle(flat, r).reshape(lead + (c, h * r, w * r))
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(F.pixel_unshuffle(out, r).numpy(), x)
    layer = nn.PixelShuffle(r)
    np.testing.assert_array_equal(layer(tc.Tensor(x)).numpy(), expected)
    np.testing.assert_array_equal(nn.PixelUnshuffle(r)(tc.Tensor(expected)).numpy(), x)


@given(case=shuffle_cases(), data=st.data())
def test_pixel_shuffle_gradcheck(case, data):
    r, lead, c, h, w = case
    x = data.draw(tst.float_arrays(lead + (c * r * r, h, w)))
    assert tc.gradcheck(lambda x: F.pixel_shuffle(x, r), (x,))
    assert tc.gradgradcheck(lambda x: F.pixel_shuffle(x, r), (x,))
    y = data.draw(tst.float_arrays(lead + (c, h * r, w * r)))
    assert tc.gradcheck(lambda y: F.pixel_unshuffle(y, r), (y,))


def test_pixel_shuffle_errors_and_pytorch():
    with pytest.raises(ValueError, match=r"pixel_shuffle: the channel dim \(-3\) of the input "
                                         r"\(1, 5, 2, 2\) must be divisible by "
                                         r"upscale_factor\*\*2 = 4, got 5"):
        F.pixel_shuffle(tc.zeros(1, 5, 2, 2), 2)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: the height and width .* divisible "
                                         r"by downscale_factor = 2, got 3 x 4"):
        F.pixel_unshuffle(tc.zeros(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match=r"upscale_factor must be positive, got 0"):
        nn.PixelShuffle(0)
    with pytest.raises(ValueError, match=r"at least 3 dims, got shape \(4, 4\)"):
        F.pixel_shuffle(tc.zeros(4, 4), 2)
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 18, 2, 3))
    expected = torch.nn.functional.pixel_shuffle(torch.tensor(x), 3).numpy()
    np.testing.assert_array_equal(F.pixel_shuffle(tc.Tensor(x), 3).numpy(), expected)
    assert repr(nn.PixelShuffle(3)) == repr(torch.nn.PixelShuffle(3))
    np.testing.assert_array_equal(F.pixel_unshuffle(tc.Tensor(expected), 3).numpy(), x)


# ---------------------------------------------------------------------- conv1d


@st.composite
def conv1d_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    cg, kg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dilation, padding = draw(st.integers(1, 2)), draw(st.integers(0, 2))
    reach = dilation * (kernel - 1) + 1
    length = draw(st.integers(max(1, reach - 2 * padding), 7))
    batch = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    return dict(x=(batch, cg * groups, length), w=(kg * groups, cg, kernel), bias=bias,
                stride=stride, padding=padding, dilation=dilation, groups=groups)


def _conv1d_args(case):
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


@per_device
@given(case=conv1d_cases(), data=st.data())
def test_conv1d_matches_naive_reference(device, case, data):
    x = data.draw(tst.float_arrays(case["x"]))
    w = data.draw(tst.float_arrays(case["w"]))
    b = data.draw(tst.float_arrays((case["w"][0],))) if case["bias"] else None
    out = F.conv1d(tc.Tensor(x, device=device), tc.Tensor(w, device=device),
                   None if b is None else tc.Tensor(b, device=device), **_conv1d_args(case))
    expected = ref.conv1d(x, w, b, **_conv1d_args(case))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    unbatched = F.conv1d(tc.Tensor(x[0]), tc.Tensor(w), None if b is None else tc.Tensor(b),
                         **_conv1d_args(case))
    np.testing.assert_allclose(unbatched.numpy(), expected[0], rtol=1e-12, atol=1e-12)


@given(case=conv1d_cases(), data=st.data())
def test_conv1d_gradcheck_and_gradgradcheck(case, data):
    x = data.draw(tst.float_arrays(case["x"]))
    w = data.draw(tst.float_arrays(case["w"]))
    b = data.draw(tst.float_arrays((case["w"][0],)))
    args = _conv1d_args(case)
    assert tc.gradcheck(lambda x, w, b: F.conv1d(x, w, b, **args), (x, w, b))
    assert tc.gradgradcheck(lambda x, w: F.conv1d(x, w, **args), (x, w))


@given(case=conv1d_cases(), data=st.data())
def test_conv1d_against_pytorch(case, data):
    torch = _torch()
    x = data.draw(tst.float_arrays(case["x"]))
    w = data.draw(tst.float_arrays(case["w"]))
    b = data.draw(tst.float_arrays((case["w"][0],)))
    args = _conv1d_args(case)
    tensors = [tc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.conv1d(*tensors, **args)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    refs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    expected = torch.nn.functional.conv1d(*refs, **args)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(tensors, refs, strict=True):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_conv1d_same_padding_and_layer():
    torch = pytest.importorskip("torch")
    layer = nn.Conv1d(4, 6, 3, padding="same", groups=2, bias=True)
    tlayer = torch.nn.Conv1d(4, 6, 3, padding="same", groups=2).double()
    layer.double()
    tlayer.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 9))
    np.testing.assert_allclose(layer(tc.Tensor(x)).numpy(),
                               tlayer(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert repr(nn.Conv1d(2, 4, 3)) == repr(torch.nn.Conv1d(2, 4, 3))
    assert repr(nn.Conv1d(2, 4, 3, 2, 1, bias=False)) == repr(torch.nn.Conv1d(2, 4, 3, 2, 1,
                                                                              bias=False))


def test_conv1d_layer_init_and_gradcheck():
    layer = nn.Conv1d(3, 4, 5)
    assert layer.weight.shape == (4, 3, 5) and layer.bias.shape == (4,)
    bound = 1 / np.sqrt(3 * 5)   # PyTorch's default: U(+-1/sqrt(fan_in)) for the bias
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert np.abs(layer.weight.numpy()).max() <= bound   # kaiming_uniform(a=sqrt(5)) bound
    layer.double()
    x = np.random.default_rng(0).standard_normal((2, 3, 7))
    w, b = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    np.testing.assert_allclose(layer(tc.Tensor(x)).numpy(), ref.conv1d(x, w, b), rtol=1e-12)
    assert tc.gradcheck(lambda x: layer(x), (x,))


def test_conv1d_errors_name_the_op():
    with pytest.raises(ValueError, match=r"conv1d: input has 3 channels but weight \(4, 2, 3\) "
                                         r"with groups=1 expects 2"):
        F.conv1d(tc.zeros(1, 3, 5), tc.zeros(4, 2, 3))
    with pytest.raises(ValueError, match=r"conv1d: expected a 3-D input \(N, C, L\) or a 2-D "
                                         r"unbatched one \(C, L\), got shape \(1, 3, 5, 5\)"):
        F.conv1d(tc.zeros(1, 3, 5, 5), tc.zeros(4, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: expected a 3-D weight"):
        F.conv1d(tc.zeros(1, 3, 5), tc.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: the kernel \(3, dilation 2\) does not fit"):
        F.conv1d(tc.zeros(1, 3, 4), tc.zeros(4, 3, 3), dilation=2)
    with pytest.raises(TypeError, match=r"conv1d: stride must be an int or a 1-tuple of one, "
                                        r"got \(1, 2\)"):
        F.conv1d(tc.zeros(1, 3, 5), tc.zeros(4, 3, 3), stride=(1, 2))
    with pytest.raises(ValueError, match=r"Conv1d\(3, 4, kernel_size=\(3,\), stride=\(1,\)\): "
                                         r"expected 3 input channels, got 2"):
        nn.Conv1d(3, 4, 3)(tc.zeros(1, 2, 5))
    with pytest.raises(ValueError, match=r"Conv1d: in_channels \(3\) and out_channels \(4\) must "
                                         r"both be divisible by groups \(2\)"):
        nn.Conv1d(3, 4, 3, groups=2)


# ---------------------------------------------------------------------- 1-D pooling


@st.composite
def pool1d_cases(draw, kind):
    kernel = draw(st.integers(1, 3))
    stride = draw(st.sampled_from([None, 1, 2, 3]))
    padding = draw(st.integers(0, kernel // 2))
    dilation = draw(st.integers(1, 2)) if kind == "max" else 1
    ceil_mode = draw(st.booleans())
    reach = dilation * (kernel - 1) + 1
    length = draw(st.integers(max(1, reach - 2 * padding), 7))
    # windows made only of padding are left out (as the 2-D pool strategies do)
    assume(tst._windows_touch_input(length, kernel, stride or kernel, padding, dilation,
                                    ceil_mode))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), length)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "max":
        args["dilation"] = dilation
    else:
        args["count_include_pad"] = draw(st.booleans())
    return shape, args


def _ref_args(args):
    out = dict(args)
    out["kernel"] = out.pop("kernel_size")
    return out


@per_device
@given(case=pool1d_cases("max"), data=st.data())
def test_max_pool1d(device, case, data):
    shape, args = case
    x = data.draw(tst.float_arrays(shape, distinct=True))
    out, idx = F.max_pool1d(tc.Tensor(x, device=device), return_indices=True, **args)
    expected, expected_idx = ref.max_pool1d(x, **_ref_args(args))
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    assert tc.gradcheck(lambda x: F.max_pool1d(x, **args), (x,))
    layer = nn.MaxPool1d(**args)
    np.testing.assert_array_equal(layer(tc.Tensor(x[0])).numpy(), expected[0])  # unbatched


@per_device
@given(case=pool1d_cases("avg"), data=st.data())
def test_avg_pool1d(device, case, data):
    shape, args = case
    x = data.draw(tst.float_arrays(shape))
    out = F.avg_pool1d(tc.Tensor(x, device=device), **args)
    expected = ref.avg_pool1d(x, **_ref_args(args))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert tc.gradcheck(lambda x: F.avg_pool1d(x, **args), (x,))
    assert tc.gradgradcheck(lambda x: F.avg_pool1d(x, **args), (x,))
    np.testing.assert_allclose(nn.AvgPool1d(**args)(tc.Tensor(x)).numpy(), expected, rtol=1e-12)


@given(max_case=pool1d_cases("max"), avg_case=pool1d_cases("avg"), data=st.data())
def test_pool1d_against_pytorch(max_case, avg_case, data):
    torch = _torch()
    for kind, (shape, args) in (("max", max_case), ("avg", avg_case)):
        x = data.draw(tst.float_arrays(shape, distinct=True))
        xt = tc.Tensor(x, requires_grad=True)
        xr = torch.tensor(x, requires_grad=True)
        out = getattr(F, f"{kind}_pool1d")(xt, **args)
        expected = getattr(torch.nn.functional, f"{kind}_pool1d")(xr, **args)
        g = np.random.default_rng(0).standard_normal(out.shape)
        out.backward(tc.Tensor(g))
        expected.backward(torch.tensor(g))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert repr(nn.MaxPool1d(2)) == repr(torch.nn.MaxPool1d(2))
    assert repr(nn.AvgPool1d(3, 2, 1)) == repr(torch.nn.AvgPool1d(3, 2, 1))


def test_pool1d_errors_name_the_op():
    with pytest.raises(ValueError, match=r"max_pool1d: padding must be between 0 and half the "
                                         r"kernel size 3 \(at most 1\), got 2"):
        F.max_pool1d(tc.zeros(1, 1, 5), 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool1d: the kernel \(4, dilation 1\) does not "
                                         r"fit"):
        F.avg_pool1d(tc.zeros(1, 1, 3), 4)
    with pytest.raises(ValueError, match=r"MaxPool1d: padding must be between"):
        nn.MaxPool1d(2, padding=2)
    with pytest.raises(ValueError, match=r"AvgPool1d\(.*\): expected a 3-D input \(N, C, L\)"):
        nn.AvgPool1d(2)(tc.zeros(1, 1, 4, 4))


# ---------------------------------------------------------------------- conv padding_mode


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding,stride,dilation", [(1, 1, 1), (2, 2, 1), ("same", 1, 2),
                                                     ("valid", 1, 1), ((1, 2), 1, 1)])
def test_conv_layers_padding_mode(mode, padding, stride, dilation):
    rng = np.random.default_rng(0)
    layer = nn.Conv2d(2, 3, 3, stride, padding, dilation, padding_mode=mode).double()
    x = rng.standard_normal((2, 2, 6, 7))
    w, b = layer.weight.numpy().copy(), layer.bias.numpy().copy()
    pads = {1: (1, 1, 1, 1), 2: (2, 2, 2, 2), "same": (2, 2, 2, 2), "valid": (0,) * 4,
            (1, 2): (2, 2, 1, 1)}[padding]
    padded = ref.pad(x, pads, mode)
    out = layer(tc.Tensor(x))
    expected = F.conv2d(tc.Tensor(padded), tc.Tensor(w), tc.Tensor(b), stride,
                        dilation=dilation).numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert tc.gradcheck(lambda x: layer(x), (x,))
    if padding == (1, 2):
        return
    layer1 = nn.Conv1d(2, 3, 3, stride, padding, dilation, padding_mode=mode).double()
    x1 = x[:, :, 0]
    w1, b1 = layer1.weight.numpy().copy(), layer1.bias.numpy().copy()
    out1 = layer1(tc.Tensor(x1))
    expected1 = ref.conv1d(ref.pad(x1, pads[:2], mode), w1, b1, stride, 0, dilation)
    np.testing.assert_allclose(out1.numpy(), expected1, rtol=1e-12, atol=1e-12)
    torch = pytest.importorskip("torch")
    for mine, cls, inp in ((layer, torch.nn.Conv2d, x), (layer1, torch.nn.Conv1d, x1)):
        theirs = cls(2, 3, 3, stride, padding, dilation, padding_mode=mode).double()
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mine.state_dict().items()})
        assert repr(mine) == repr(theirs)
        xt, xr = tc.Tensor(inp, requires_grad=True), torch.tensor(inp, requires_grad=True)
        a, e = mine(xt), theirs(xr)
        g = rng.standard_normal(a.shape)
        a.backward(tc.Tensor(g))
        e.backward(torch.tensor(g))
        np.testing.assert_allclose(a.numpy(), e.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_conv_padding_mode_errors():
    with pytest.raises(ValueError, match=r"Conv2d\(.*padding_mode=reflect\): "
                                         r"padding_mode='reflect': pad: reflect padding must be "
                                         r"smaller than the padded dim"):
        nn.Conv2d(1, 1, 5, padding=2, padding_mode="reflect")(tc.zeros(1, 1, 2, 8))
    with pytest.raises(ValueError, match=r"Conv1d: padding_mode must be one of"):
        nn.Conv1d(1, 1, 3, padding_mode="mirror")
