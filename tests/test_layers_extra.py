"""Softmax2d, GLU, Hardshrink, Softshrink, Tanhshrink, Threshold, RMSNorm, ChannelShuffle,
Dropout1d, AdaptiveAvgPool1d and AdaptiveMaxPool1d (functional forms and layers): forward against
naive NumPy references, float64 gradcheck and gradgradcheck on Hypothesis inputs, values,
gradients at the kinks and reprs against PyTorch when it is installed, and every error."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import core_references as core
from tests.devices import to_host
from tests.module_checks import check_module
from tinygrad_cnn import nn
from tinygrad_cnn.testing import strategies as tst

per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
SMALL = tst.array_shapes(min_dims=1, max_dims=3, max_side=3)


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")


# ---------------------------------------------------------------------- naive references


def ref_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_glu(x, dim):
    a, b = np.split(x, 2, axis=dim)
    return a / (1.0 + np.exp(-b))


def ref_hardshrink(x, lambd=0.5):
    return np.array([v if abs(v) > lambd else 0.0 for v in x.ravel()]).reshape(x.shape)


def ref_softshrink(x, lambd=0.5):
    out = [v - lambd if v > lambd else v + lambd if v < -lambd else 0.0 for v in x.ravel()]
    return np.array(out).reshape(x.shape)


def ref_threshold(x, threshold, value):
    return np.array([v if v > threshold else value for v in x.ravel()]).reshape(x.shape)


def ref_rms_norm(x, norm_shape, weight, eps):
    flat = x.reshape(-1, int(np.prod(norm_shape)))
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        out[i] = row / np.sqrt(np.mean(row * row) + eps)
    out = out.reshape(x.shape)
    return out if weight is None else out * weight


def ref_channel_shuffle(x, groups):
    c = x.shape[1]
    out = np.empty_like(x)
    per = c // groups
    for j in range(groups):
        for k in range(per):
            out[:, k * groups + j] = x[:, j * per + k]
    return out


def ref_adaptive_avg_1d(x, o):
    n = x.shape[-1]
    cols = []
    for i in range(o):
        start, end = (i * n) // o, -((-(i + 1) * n) // o)
        cols.append(x[..., start:end].mean(-1))
    return np.stack(cols, -1)


def ref_adaptive_max_1d(x, o):
    k = x.shape[-1] // o
    windows = x.reshape(*x.shape[:-1], o, k)
    return windows.max(-1), windows.argmax(-1) + np.arange(o) * k


# ---------------------------------------------------------------------- elementwise activations

LAMBDS = st.sampled_from([0.0, 0.25, 0.5, 1.5])

# name, ours(x, arg), reference(x, arg), PyTorch's(torch, x, arg), kinks(arg), args
ELEMENTWISE = [
    ("hardshrink", F.hardshrink, ref_hardshrink,
     lambda t, x, a: t.nn.functional.hardshrink(x, a), lambda a: (-a, a), LAMBDS),
    ("softshrink", F.softshrink, ref_softshrink,
     lambda t, x, a: t.nn.functional.softshrink(x, a), lambda a: (-a, a), LAMBDS),
    ("tanhshrink", lambda x, a: F.tanhshrink(x), lambda x, a: x - np.tanh(x),
     lambda t, x, a: t.nn.functional.tanhshrink(x), lambda a: (), st.just(None)),
    ("threshold", lambda x, a: F.threshold(x, a, -2.0), lambda x, a: ref_threshold(x, a, -2.0),
     lambda t, x, a: t.nn.functional.threshold(x, a, -2.0), lambda a: (a,),
     st.sampled_from([-1.0, 0.0, 0.75])),
]
ELEMENTWISE_IDS = [e[0] for e in ELEMENTWISE]


@per_device
@pytest.mark.parametrize("name,fn,reference,theirs,kinks,args", ELEMENTWISE, ids=ELEMENTWISE_IDS)
@given(data=st.data())
def test_elementwise_forward(device, name, fn, reference, theirs, kinks, args, data):
    a = data.draw(args)
    x = data.draw(tst.float_arrays(SMALL, avoid=kinks(a), margin=0.05))
    out = fn(tc.Tensor(x, device=device), a)
    assert out.shape == x.shape and out.dtype == np.float64 and out.device == device
    np.testing.assert_allclose(out.numpy(), reference(x, a), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,fn,reference,theirs,kinks,args", ELEMENTWISE, ids=ELEMENTWISE_IDS)
@given(data=st.data())
def test_elementwise_gradients(name, fn, reference, theirs, kinks, args, data):
    a = data.draw(args)
    x = data.draw(tst.float_arrays(tst.array_shapes(1, 2, max_side=3), avoid=kinks(a),
                                   margin=0.05))
    core.check_grads(lambda x: fn(x, a), (x,))


@pytest.mark.parametrize("name,fn,reference,theirs,kinks,args", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_against_pytorch_at_the_kinks(name, fn, reference, theirs, kinks, args):
    torch = _torch()
    rng = np.random.default_rng(0)
    for a in (0.5, 0.0) if name != "tanhshrink" else (None,):
        # random points and the kinks exactly, where PyTorch's one-sided rules must match
        x = np.concatenate([rng.uniform(-3, 3, 30), np.array(kinks(a), float), [0.0]])
        upstream = rng.standard_normal(x.shape)
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
            ours = tc.Tensor(x.astype(dtype), requires_grad=True)
            out = fn(ours, a)
            out.backward(tc.Tensor(upstream.astype(dtype)))
            t = torch.tensor(x.astype(dtype), requires_grad=True)
            expected = theirs(torch, t, a)
            expected.backward(torch.tensor(upstream.astype(dtype)))
            assert out.dtype == dtype
            np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


def test_kink_gradients_are_zero_as_pytorch():
    x = tc.Tensor(np.array([-0.5, 0.5, 1.0]), requires_grad=True)
    F.hardshrink(x, 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
    x.grad = None
    F.softshrink(x, 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
    x.grad = None
    F.threshold(x, 0.5, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


def test_threshold_keeps_integer_dtype_as_pytorch():
    out = F.threshold(tc.tensor([1, 2, 3]), 2, 7)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [7, 7, 3])
    out = F.threshold(tc.tensor([1, 2, 3]), 2, 7.9)     # value cast to the dtype, as PyTorch's
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [7, 7, 3])


def test_shrink_float32_stays_float32_and_negative_hardshrink_shrinks_nothing():
    x = tc.Tensor(np.array([-1.0, 0.2, 2.0], np.float32))
    assert F.hardshrink(x).dtype == np.float32 and F.softshrink(x).dtype == np.float32
    assert F.tanhshrink(x).dtype == np.float32
    np.testing.assert_array_equal(F.hardshrink(x, -1.0).numpy(), x.numpy())   # as PyTorch


def test_shrink_and_threshold_errors():
    x = tc.ones(3)
    with pytest.raises(ValueError, match=r"softshrink: lambd must be greater than or equal to "
                                         r"0, got -0.5"):
        F.softshrink(x, -0.5)
    with pytest.raises(ValueError, match=r"softshrink: lambd .* got -1"):
        nn.Softshrink(-1)(x)
    with pytest.raises(TypeError, match=r"hardshrink: lambd must be a real number, got 'a'"):
        F.hardshrink(x, "a")
    with pytest.raises(TypeError, match=r"threshold: value must be a real number, got None"):
        F.threshold(x, 0.0, None)
    with pytest.raises(TypeError, match=r"threshold: threshold must be a real number"):
        F.threshold(x, [1], 0.0)
    with pytest.raises(TypeError, match=r"tanhshrink: expected a Tensor input, got list"):
        F.tanhshrink([1.0])


# ---------------------------------------------------------------------- GLU


@st.composite
def glu_cases(draw):
    ndim = draw(st.integers(1, 3))
    dim = draw(st.integers(-ndim, ndim - 1))
    shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
    shape[dim] = 2 * draw(st.integers(1, 2))
    x = draw(tst.float_arrays(tuple(shape)))
    return x, dim


@per_device
@given(case=glu_cases())
def test_glu_forward(device, case):
    x, dim = case
    out = F.glu(tc.Tensor(x, device=device), dim)
    np.testing.assert_allclose(out.numpy(), ref_glu(x, dim), rtol=1e-12, atol=1e-12)
    layer = nn.GLU(dim)
    np.testing.assert_array_equal(layer(tc.Tensor(x, device=device)).numpy(), out.numpy())


@given(case=glu_cases())
def test_glu_gradients(case):
    x, dim = case
    core.check_grads(lambda x: F.glu(x, dim), (x,))


def test_glu_default_dim_and_errors():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(F.glu(tc.Tensor(x)).numpy(), ref_glu(x, -1), rtol=1e-12)
    with pytest.raises(ValueError, match=r"glu: halving dimension must be even, but dimension 1 "
                                         r"of the input \(2, 3, 4\) is size 3"):
        F.glu(tc.Tensor(x), 1)
    with pytest.raises(ValueError, match=r"glu: halving dimension .* dimension -2 .* size 3"):
        nn.GLU(-2)(tc.Tensor(x))
    with pytest.raises(ValueError, match=r"glu: does not support 0-d inputs"):
        F.glu(tc.tensor(1.0))
    with pytest.raises(IndexError, match="glu"):
        F.glu(tc.Tensor(x), 3)


# ---------------------------------------------------------------------- Softmax2d


@per_device
@given(shape=st.sampled_from([(2, 3, 2, 2), (3, 1, 4), (1, 1, 2, 3)]), data=st.data())
def test_softmax2d_forward(device, shape, data):
    x = data.draw(tst.float_arrays(shape))
    out = nn.Softmax2d()(tc.Tensor(x, device=device))
    np.testing.assert_allclose(out.numpy(), ref_softmax(x, -3), rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_softmax2d_gradients(data):
    x = data.draw(tst.float_arrays(st.sampled_from([(1, 2, 2, 2), (3, 1, 2)])))
    core.check_grads(nn.Softmax2d(), (x,))


def test_softmax2d_errors():
    with pytest.raises(ValueError, match=r"Softmax2d: expected a 3-D \(C, H, W\) or 4-D "
                                         r"\(N, C, H, W\) input, got shape \(2, 2\)"):
        nn.Softmax2d()(tc.ones(2, 2))
    with pytest.raises(TypeError, match=r"Softmax2d: expected a Tensor input, got list"):
        nn.Softmax2d()([1.0])


# ---------------------------------------------------------------------- rms_norm / RMSNorm


@st.composite
def rms_cases(draw):
    norm_shape = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 2))))
    lead = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 2))))
    x = draw(tst.float_arrays(lead + norm_shape, min_value=0.2, max_value=2.0))
    signs = np.where(np.arange(x.size).reshape(x.shape) % 2, -1.0, 1.0)
    return x * signs, norm_shape


@per_device
@given(case=rms_cases(), affine=st.booleans(), eps=st.sampled_from([None, 1e-5, 0.5]),
       data=st.data())
def test_rms_norm_forward(device, case, affine, eps, data):
    x, norm_shape = case
    w = data.draw(tst.float_arrays(norm_shape)) if affine else None
    out = F.rms_norm(tc.Tensor(x, device=device), norm_shape,
                     None if w is None else tc.Tensor(w, device=device), eps)
    expected_eps = np.finfo(np.float64).eps if eps is None else eps
    np.testing.assert_allclose(out.numpy(), ref_rms_norm(x, norm_shape, w, expected_eps),
                               rtol=1e-10, atol=1e-12)


@given(case=rms_cases(), data=st.data())
def test_rms_norm_gradients(case, data):
    x, norm_shape = case
    w = data.draw(tst.float_arrays(norm_shape))
    core.check_grads(lambda x, w: F.rms_norm(x, norm_shape, w, 1e-3), (x, w))
    core.check_grads(lambda x: F.rms_norm(x, norm_shape), (x,))


def test_rms_norm_default_eps_is_the_dtypes_epsilon():
    x = np.zeros((2, 3), np.float32)
    x[0, 0] = 1e-4               # mean(x^2) ~ 3e-9, below float32's eps 1.19e-7: eps shows
    out = F.rms_norm(tc.Tensor(x), 3).numpy()
    expected = 1e-4 / np.sqrt(np.float32(1e-8) / 3 + np.finfo(np.float32).eps)
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-5)
    assert out.dtype == np.float32


def test_rms_norm_layer_gradcheck_and_parameters():
    layer = nn.RMSNorm((2, 3), eps=1e-4)
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones((2, 3)))
    layer.weight.data[...] = layer.weight.data * 2
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones((2, 3)))
    x = np.random.default_rng(1).standard_normal((2, 2, 3))
    assert check_module(layer, x)
    plain = nn.RMSNorm(3, elementwise_affine=False)
    assert plain.weight is None and list(plain.parameters()) == []


def test_rms_norm_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 4)), rng.uniform(0.5, 2, (3, 4))
    for eps in (None, 1e-6):
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
            ours = F.rms_norm(tc.Tensor(x.astype(dtype)), (3, 4), tc.Tensor(w.astype(dtype)), eps)
            theirs = torch.nn.functional.rms_norm(torch.tensor(x.astype(dtype)), (3, 4),
                                                  torch.tensor(w.astype(dtype)), eps)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=tol, atol=tol)
    for args in ((4,), ((2, 3),), ([3], 1e-5, False)):
        assert repr(nn.RMSNorm(*args)) == repr(torch.nn.RMSNorm(*args))


def test_rms_norm_errors():
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape=\(4,\) expects an input "
                                         r"of shape \(\*, 4\), got \(2, 3\)"):
        F.rms_norm(tc.ones(2, 3), (4,))
    with pytest.raises(ValueError, match=r"RMSNorm\(\(2, 3\).*normalized_shape=\(2, 3\) expects "
                                         r"an input of shape \(\*, 2, 3\), got \(3,\)"):
        nn.RMSNorm((2, 3))(tc.ones(3))
    with pytest.raises(ValueError, match=r"rms_norm: weight has shape \(2,\) but must have "
                                         r"shape \(3,\)"):
        F.rms_norm(tc.ones(2, 3), 3, tc.ones(2))
    with pytest.raises(ValueError, match=r"RMSNorm: normalized_shape must be a positive int"):
        nn.RMSNorm(0)
    with pytest.raises(TypeError, match=r"rms_norm: expected a floating-point input"):
        F.rms_norm(tc.tensor([1, 2]), 2)


# ---------------------------------------------------------------------- channel_shuffle


@st.composite
def shuffle_cases(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(1, 2))))
    return draw(tst.float_arrays((draw(st.integers(1, 2)), c) + spatial)), groups


@per_device
@given(case=shuffle_cases())
def test_channel_shuffle_forward(device, case):
    x, groups = case
    out = F.channel_shuffle(tc.Tensor(x, device=device), groups)
    np.testing.assert_array_equal(out.numpy(), ref_channel_shuffle(x, groups))
    layer = nn.ChannelShuffle(groups)
    np.testing.assert_array_equal(layer(tc.Tensor(x, device=device)).numpy(), out.numpy())


@given(case=shuffle_cases())
def test_channel_shuffle_gradients(case):
    x, groups = case
    core.check_grads(lambda x: F.channel_shuffle(x, groups), (x,))


def test_channel_shuffle_against_pytorch_and_errors():
    x = np.arange(2 * 6 * 2, dtype=float).reshape(2, 6, 2)
    with pytest.raises(ValueError, match=r"channel_shuffle: the number of channels must be "
                                         r"divisible by groups: got 6 channels .* and 4 groups"):
        F.channel_shuffle(tc.Tensor(x), 4)
    with pytest.raises(ValueError, match=r"channel_shuffle: groups must be a positive int, "
                                         r"got 0"):
        nn.ChannelShuffle(0)(tc.Tensor(x))
    with pytest.raises(ValueError, match=r"channel_shuffle: expected an input \(N, C, \*\) with "
                                         r"more than 2 dims, got shape \(4,\)"):
        F.channel_shuffle(tc.ones(4), 2)
    torch = _torch()
    np.testing.assert_array_equal(F.channel_shuffle(tc.Tensor(x), 3).numpy(),
                                  torch.nn.functional.channel_shuffle(torch.tensor(x), 3).numpy())
    assert repr(nn.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))


# ---------------------------------------------------------------------- dropout1d


@pytest.mark.parametrize("shape", [(64, 8, 5), (300, 6)])
def test_dropout1d_zeroes_whole_channels_and_scales_the_rest(device, shape):
    x = tc.ones(*shape, device=device)
    out = F.dropout1d(x, 0.25).numpy()
    whole = (out == 0).all(-1) | (out == 1 / 0.75).all(-1)
    assert whole.all()
    dropped = (out == 0).all(-1).mean()
    assert 0.15 < dropped < 0.35
    layer = nn.Dropout1d(0.25)
    layer.eval()
    assert layer(x) is x
    assert F.dropout1d(x, 0.25, training=False) is x and F.dropout1d(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout1d(x, 1.0).numpy(), 0)


def test_dropout1d_reproducible_and_gradient():
    x = np.random.default_rng(0).standard_normal((4, 5, 3))
    tc.manual_seed(3)
    a = F.dropout1d(tc.Tensor(x), 0.5).numpy()
    tc.manual_seed(3)
    xt = tc.Tensor(x, requires_grad=True)
    b = nn.Dropout1d(0.5)(xt)
    np.testing.assert_array_equal(a, b.numpy())
    b.sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), (a != 0) * 2.0)   # the same mask, scaled
    tc.manual_seed(3)
    mask = tc.backend.keep_mask(xt.device, (4, 5, 1), 0.5, np.float64)   # the generator's draw
    np.testing.assert_array_equal(a, x * to_host(mask))


def test_dropout1d_errors_and_repr():
    with pytest.raises(ValueError, match=r"Dropout1d: probability p must be between 0 and 1, "
                                         r"got 1.5"):
        nn.Dropout1d(1.5)
    with pytest.raises(ValueError, match=r"dropout1d: probability p must be between 0 and 1, "
                                         r"got -0.1"):
        F.dropout1d(tc.ones(2, 3), -0.1)
    with pytest.raises(ValueError, match=r"dropout1d: expected a 3-D input \(N, C, L\) or a 2-D "
                                         r"unbatched one \(C, L\), got shape \(2, 3, 4, 5\)"):
        F.dropout1d(tc.ones(2, 3, 4, 5))
    with pytest.raises(TypeError, match=r"dropout1d: needs a floating-point tensor, got int64"):
        F.dropout1d(tc.tensor([[1, 2]]))
    torch = _torch()
    for p in (0.5, 0.2):
        assert repr(nn.Dropout1d(p)) == repr(torch.nn.Dropout1d(p))


# ---------------------------------------------------------------------- adaptive 1-D pooling


@st.composite
def adaptive_cases(draw, divisible):
    o = draw(st.integers(1, 3))
    length = o * draw(st.integers(1, 3)) if divisible else draw(st.integers(1, 7))
    lead = (draw(st.integers(1, 2)),) * draw(st.integers(0, 1)) + (draw(st.integers(1, 3)),)
    x = draw(tst.float_arrays(lead + (length,), distinct=True, margin=0.05))
    return x, o


@per_device
@given(case=adaptive_cases(divisible=False))
def test_adaptive_avg_pool1d_forward(device, case):
    x, o = case
    out = F.adaptive_avg_pool1d(tc.Tensor(x, device=device), o)
    np.testing.assert_allclose(out.numpy(), ref_adaptive_avg_1d(x, o), rtol=1e-12, atol=1e-12)
    layer = nn.AdaptiveAvgPool1d((o,))
    np.testing.assert_array_equal(layer(tc.Tensor(x, device=device)).numpy(), out.numpy())


@given(case=adaptive_cases(divisible=False))
def test_adaptive_avg_pool1d_gradients(case):
    x, o = case
    core.check_grads(lambda x: F.adaptive_avg_pool1d(x, o), (x,))


@per_device
@given(case=adaptive_cases(divisible=True))
def test_adaptive_max_pool1d_forward(device, case):
    x, o = case
    values, indices = ref_adaptive_max_1d(x, o)
    out = F.adaptive_max_pool1d(tc.Tensor(x, device=device), o)
    np.testing.assert_array_equal(out.numpy(), values)
    out, idx = nn.AdaptiveMaxPool1d(o, return_indices=True)(tc.Tensor(x, device=device))
    np.testing.assert_array_equal(out.numpy(), values)
    np.testing.assert_array_equal(idx.numpy(), indices)
    assert idx.dtype == np.int64 and idx.shape == values.shape


@given(case=adaptive_cases(divisible=True))
def test_adaptive_max_pool1d_gradients(case):
    x, o = case
    core.check_grads(lambda x: F.adaptive_max_pool1d(x, o), (x,))


def test_adaptive_pool1d_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(0)
    for shape, o in (((2, 3, 7), 3), ((3, 10), 4), ((2, 2, 5), 5), ((1, 2, 4), 1)):
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(
            F.adaptive_avg_pool1d(tc.Tensor(x), o).numpy(),
            torch.nn.functional.adaptive_avg_pool1d(torch.tensor(x), o).numpy(), rtol=1e-12)
    x = rng.standard_normal((2, 3, 6))
    ours, our_idx = F.adaptive_max_pool1d(tc.Tensor(x), 3, return_indices=True)
    theirs, their_idx = torch.nn.functional.adaptive_max_pool1d(torch.tensor(x), 3, True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(our_idx.numpy(), their_idx.numpy())
    for layer in ("AdaptiveAvgPool1d", "AdaptiveMaxPool1d"):
        assert repr(getattr(nn, layer)(3)) == repr(getattr(torch.nn, layer)(3))
    assert repr(nn.AdaptiveMaxPool1d(2, True)) == repr(torch.nn.AdaptiveMaxPool1d(2, True))


def test_adaptive_pool1d_errors():
    with pytest.raises(ValueError, match=r"adaptive_avg_pool1d: expected a 3-D input \(N, C, L\) "
                                         r"or a 2-D unbatched one \(C, L\), got shape "
                                         r"\(2, 3, 4, 5\)"):
        F.adaptive_avg_pool1d(tc.ones(2, 3, 4, 5), 2)
    with pytest.raises(ValueError, match=r"adaptive_max_pool1d: output_size must be positive, "
                                         r"got 0"):
        F.adaptive_max_pool1d(tc.ones(3, 5), 0)
    with pytest.raises(TypeError, match=r"AdaptiveAvgPool1d: output_size must be an int or a "
                                        r"1-tuple of one, got \(2, 2\)"):
        nn.AdaptiveAvgPool1d((2, 2))
    with pytest.raises(NotImplementedError, match=r"adaptive_max_pool1d: output_size 2 must "
                                                  r"divide the input length 5"):
        F.adaptive_max_pool1d(tc.ones(1, 2, 5), 2)
    with pytest.raises(ValueError, match=r"AdaptiveMaxPool1d.*expected a 3-D input"):
        nn.AdaptiveMaxPool1d(2)(tc.ones(4))


# ---------------------------------------------------------------------- layers vs PyTorch

LAYERS = [
    ("Softmax2d", (), lambda x: F.softmax(x, -3)),
    ("GLU", (), F.glu), ("GLU", (1,), lambda x: F.glu(x, 1)),
    ("Hardshrink", (), F.hardshrink), ("Hardshrink", (1.5,), lambda x: F.hardshrink(x, 1.5)),
    ("Softshrink", (), F.softshrink), ("Softshrink", (0.3,), lambda x: F.softshrink(x, 0.3)),
    ("Tanhshrink", (), F.tanhshrink),
    ("Threshold", (0.1, 20), lambda x: F.threshold(x, 0.1, 20)),
    ("Threshold", (-1.0, 2.5, True), lambda x: F.threshold(x, -1.0, 2.5)),
]


@pytest.mark.parametrize("name,args,fn", LAYERS, ids=[f"{e[0]}{e[1]}" for e in LAYERS])
def test_activation_layers_match_function_and_pytorch(name, args, fn):
    layer = getattr(nn, name)(*args)
    x = np.random.default_rng(0).uniform(-3, 3, (2, 4, 3, 2))
    np.testing.assert_array_equal(layer(tc.Tensor(x)).numpy(), fn(tc.Tensor(x)).numpy())
    assert list(layer.parameters()) == []
    torch = _torch()
    theirs = getattr(torch.nn, name)(*args)
    assert repr(layer) == repr(theirs)
    np.testing.assert_allclose(layer(tc.Tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                               rtol=1e-12, atol=1e-12)


def test_channel_dropouts_refuse_a_bool_probability():
    for f, x in ((F.dropout1d, tc.ones(1, 2, 3)), (F.dropout2d, tc.ones(1, 2, 3, 3))):
        with pytest.raises(ValueError, match="probability p must be between 0 and 1, got True"):
            f(x, True)
