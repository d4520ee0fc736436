"""BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm1d/2d and Dropout2d: naive references,
float64 gradcheck and gradgradcheck (input, weight, bias), running statistics, PyTorch's values,
gradients and defaults, and errors that name the layer or op."""

import inspect
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references_nn as ref_nn
from tests import references_vocab as ref
from tests.devices import to_default
from tests.module_checks import check_module
from tinygrad_cnn import nn
from tinygrad_cnn.testing import strategies as tst

per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _torch():
    return pytest.importorskip("torch")


def _spread(data, shape):
    """Values with a clear spread in every normalized block (a near-constant block makes the
    normalization ill-conditioned: var + eps ~ eps)."""
    return data.draw(tst.float_arrays(shape, distinct=True, margin=0.05))


# ---------------------------------------------------------------------- layer_norm


@st.composite
def layer_norm_cases(draw):
    k = draw(st.integers(1, 2))
    norm_shape = tuple(draw(st.integers(2, 3)) for _ in range(k))
    lead = tuple(draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 2))))
    return lead + norm_shape, norm_shape


@per_device
@given(case=layer_norm_cases(), affine=st.booleans(), data=st.data())
def test_layer_norm_matches_reference(device, case, affine, data):
    shape, norm_shape = case
    x = _spread(data, shape)
    w = data.draw(tst.float_arrays(norm_shape)) if affine else None
    b = data.draw(tst.float_arrays(norm_shape)) if affine else None
    def on(a):
        return None if a is None else tc.Tensor(a, device=device)

    out = F.layer_norm(on(x), norm_shape, on(w), on(b), eps=1e-5)
    np.testing.assert_allclose(out.numpy(), ref.layer_norm(x, norm_shape, w, b), rtol=1e-10,
                               atol=1e-10)


@given(case=layer_norm_cases(), data=st.data())
def test_layer_norm_gradcheck_and_gradgradcheck(case, data):
    shape, norm_shape = case
    x = _spread(data, shape)
    w, b = data.draw(tst.float_arrays(norm_shape)), data.draw(tst.float_arrays(norm_shape))
    def fn(x, w, b):
        return F.layer_norm(x, norm_shape, w, b)

    assert tc.gradcheck(fn, (x, w, b))
    assert tc.gradgradcheck(fn, (x, w, b))


def _assert_same_repr(layer, tlayer, torch):
    """PyTorch 2.13 (the version this library mirrors) shows ``bias=`` in the norm layers' reprs;
    older versions (2.11 on the GPU image) do not, so the comparison leaves it out there."""
    ours = repr(layer)
    if tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) < (2, 13):
        ours = re.sub(r", bias=(True|False)", "", ours)
    assert ours == repr(tlayer)


def test_layer_norm_layer_against_pytorch():
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    for args, kwargs in [((5,), {}), (((4, 5),), {"eps": 1e-3}),
                         ((5,), {"elementwise_affine": False}), ((5,), {"bias": False})]:
        layer, tlayer = nn.LayerNorm(*args, **kwargs).double(), torch.nn.LayerNorm(*args, **kwargs)
        tlayer.double()
        _assert_same_repr(layer, tlayer, torch)
        assert list(layer.state_dict()) == list(tlayer.state_dict())
        for p in layer.parameters():    # move off the default ones / zeros
            p.data[...] = to_default(np.random.default_rng(p.size).standard_normal(p.shape))
        tlayer.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
        _compare(layer, tlayer, x, torch)


def _compare(layer, tlayer, x, torch, rtol=1e-10):
    """Outputs, input gradients and parameter gradients of a layer and its PyTorch twin."""
    xt, xr = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = layer(xt), tlayer(xr)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(tc.Tensor(g))
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=rtol, atol=1e-10)
    theirs = dict(tlayer.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs[name].grad.numpy(), rtol=rtol,
                                   atol=1e-10)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\), .*\): layer_norm: "
                                         r"normalized_shape=\(4,\) expects an input of shape "
                                         r"\(\*, 4\), got \(2, 3\)"):
        nn.LayerNorm(4)(tc.zeros(2, 3))
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(3,\) but must have "
                                         r"shape \(4,\)"):
        F.layer_norm(tc.zeros(2, 4), (4,), tc.zeros(3))
    with pytest.raises(ValueError, match=r"normalized_shape must be a positive int"):
        nn.LayerNorm(0)


# ---------------------------------------------------------------------- group_norm


@st.composite
def group_norm_cases(draw):
    groups = draw(st.integers(1, 3))
    chans = groups * draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2))))
    if chans // groups * int(np.prod(spatial)) < 2:
        spatial = spatial + (2,)
    return (draw(st.integers(1, 2)), chans) + spatial, groups


@per_device
@given(case=group_norm_cases(), affine=st.booleans(), data=st.data())
def test_group_norm_matches_reference(device, case, affine, data):
    shape, groups = case
    x = _spread(data, shape)
    w = data.draw(tst.float_arrays(shape[1:2])) if affine else None
    b = data.draw(tst.float_arrays(shape[1:2])) if affine else None
    def on(a):
        return None if a is None else tc.Tensor(a, device=device)

    out = F.group_norm(on(x), groups, on(w), on(b))
    np.testing.assert_allclose(out.numpy(), ref.group_norm(x, groups, w, b), rtol=1e-10,
                               atol=1e-10)


@given(case=group_norm_cases(), data=st.data())
def test_group_norm_gradcheck_and_gradgradcheck(case, data):
    shape, groups = case
    x = _spread(data, shape)
    w, b = data.draw(tst.float_arrays(shape[1:2])), data.draw(tst.float_arrays(shape[1:2]))
    def fn(x, w, b):
        return F.group_norm(x, groups, w, b)

    assert tc.gradcheck(fn, (x, w, b))
    assert tc.gradgradcheck(fn, (x, w, b))


def test_group_norm_layer_against_pytorch():
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 4))
    for args, kwargs in [((3, 6), {}), ((1, 6), {}), ((6, 6), {"affine": False}),
                         ((2, 6), {"bias": False, "eps": 1e-3})]:
        if "bias" in kwargs and "bias" not in inspect.signature(torch.nn.GroupNorm).parameters:
            continue  # PyTorch before 2.13 (2.11 on the GPU image) has no GroupNorm(bias=)
        layer, tlayer = nn.GroupNorm(*args, **kwargs).double(), torch.nn.GroupNorm(*args, **kwargs)
        tlayer.double()
        _assert_same_repr(layer, tlayer, torch)
        assert list(layer.state_dict()) == list(tlayer.state_dict())
        for p in layer.parameters():
            p.data[...] = to_default(np.random.default_rng(p.size).standard_normal(p.shape))
        tlayer.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
        _compare(layer, tlayer, x, torch)


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(4\) must be divisible by "
                                         r"num_groups \(3\)"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4, .*\): expected 4 channels, got 6"):
        nn.GroupNorm(2, 4)(tc.zeros(1, 6, 2, 2))
    with pytest.raises(ValueError, match=r"group_norm: the input's 5 channels .* not divisible "
                                         r"by num_groups=2"):
        F.group_norm(tc.zeros(1, 5, 2), 2)


# ---------------------------------------------------------------------- instance_norm


@st.composite
def instance_cases(draw):
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 2))))
    if int(np.prod(spatial)) < 2:
        spatial = spatial[:-1] + (2,)
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3))) + spatial


@per_device
@given(shape=instance_cases(), affine=st.booleans(), data=st.data())
def test_instance_norm_matches_reference_and_updates_running_stats(device, shape, affine, data):
    x = _spread(data, shape)
    c = shape[1]
    w = data.draw(tst.float_arrays((c,))) if affine else None
    b = data.draw(tst.float_arrays((c,))) if affine else None
    def on(a):
        return None if a is None else tc.Tensor(a, device=device)

    rm0 = data.draw(tst.float_arrays((c,)))
    rv0 = data.draw(tst.float_arrays((c,), min_value=0.5, max_value=2.0))
    rm, rv = on(rm0.copy()), on(rv0.copy())
    out = F.instance_norm(on(x), rm, rv, on(w), on(b), use_input_stats=True, momentum=0.3)
    expected, means, variances = ref.instance_norm(x, w, b)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    count = int(np.prod(shape[2:]))
    np.testing.assert_allclose(rm.numpy(), 0.7 * rm0 + 0.3 * means.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.7 * rv0 + 0.3 * variances.mean(0) * count
                               / (count - 1), rtol=1e-12)
    evaluated = F.instance_norm(on(x), rm, rv, use_input_stats=False)
    shape_c = (1, c) + (1,) * (x.ndim - 2)
    np.testing.assert_allclose(evaluated.numpy(), (x - rm.numpy().reshape(shape_c))
                               / np.sqrt(rv.numpy().reshape(shape_c) + 1e-5), rtol=1e-10)


@given(shape=instance_cases(), data=st.data())
def test_instance_norm_gradcheck_and_gradgradcheck(shape, data):
    x = _spread(data, shape)
    w, b = data.draw(tst.float_arrays(shape[1:2])), data.draw(tst.float_arrays(shape[1:2]))
    def fn(x, w, b):
        return F.instance_norm(x, weight=w, bias=b)

    assert tc.gradcheck(fn, (x, w, b))
    assert tc.gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"track_running_stats": True},
                                    {"affine": True, "track_running_stats": True,
                                     "momentum": None}, {"affine": True, "bias": False}])
def test_instance_norm_layer_against_pytorch(kwargs):
    torch = _torch()
    if "bias" in kwargs and "bias" not in inspect.signature(torch.nn.InstanceNorm2d).parameters:
        pytest.skip(f"PyTorch {torch.__version__}'s InstanceNorm2d has no bias= (2.13's has)")
    layer, tlayer = nn.InstanceNorm2d(3, **kwargs).double(), torch.nn.InstanceNorm2d(3, **kwargs)
    tlayer.double()
    _assert_same_repr(layer, tlayer, torch)
    assert list(layer.state_dict()) == list(tlayer.state_dict())
    for p in layer.parameters():
        p.data[...] = to_default(np.random.default_rng(p.size).standard_normal(p.shape))
    tlayer.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(0)
    for step in range(2):   # running statistics after two training steps
        _compare(layer, tlayer, rng.standard_normal((2, 3, 4, 5)) * (step + 1), torch)
    for key, value in tlayer.state_dict().items():
        np.testing.assert_allclose(layer.state_dict()[key].numpy(), value.numpy(), rtol=1e-12)
    layer.eval(), tlayer.eval()
    _compare(layer, tlayer, rng.standard_normal((2, 3, 4, 5)), torch)
    _compare(layer, tlayer, rng.standard_normal((3, 4, 5)), torch)   # unbatched
    one_d, t_one_d = nn.InstanceNorm1d(3, **kwargs).double(), torch.nn.InstanceNorm1d(3, **kwargs)
    _compare(one_d, t_one_d.double(), rng.standard_normal((2, 3, 6)), torch)


def test_instance_norm_defaults_and_errors():
    layer = nn.InstanceNorm2d(4)
    assert not layer.affine and not layer.track_running_stats
    assert list(layer.parameters()) == [] and layer.running_mean is None
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element "
                                         r"when training, got input shape \(2, 4, 1, 1\)"):
        layer(tc.zeros(2, 4, 1, 1))
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(4, .*\): expected an input \(N, C, H, "
                                         r"W\) or \(C, H, W\), got shape \(2, 4\)"):
        layer(tc.zeros(2, 4))
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(4, .*affine=True.*\): expected 4 "
                                         r"channels, got 3"):
        nn.InstanceNorm2d(4, affine=True)(tc.zeros(2, 3, 2, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer(tc.randn(2, 3, 2, 2))
    assert any("num_features is not used" in str(w.message) for w in caught)


# ---------------------------------------------------------------------- dropout2d


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    x = tc.ones(64, 8, 3, 3)
    out = F.dropout2d(x, 0.25).numpy()
    per_channel = out.reshape(64, 8, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 1 / 0.75).all(-1))
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.15 < dropped < 0.35        # 512 channels: 0.25 +- 4.6 standard deviations
    layer = nn.Dropout2d(0.25)
    layer.eval()
    assert layer(x) is x
    assert F.dropout2d(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout2d(x, 1.0).numpy(), 0)
    assert repr(layer) == "Dropout2d(p=0.25, inplace=False)"


def test_dropout2d_reproducible_and_gradient():
    x = np.random.default_rng(0).standard_normal((4, 5, 3, 3))
    tc.manual_seed(3)
    a = F.dropout2d(tc.Tensor(x), 0.5).numpy()
    tc.manual_seed(3)
    xt = tc.Tensor(x, requires_grad=True)
    b = F.dropout2d(xt, 0.5)
    np.testing.assert_array_equal(a, b.numpy())
    b.sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), (a != 0) * 2.0)   # the same mask, scaled


def test_dropout2d_errors_and_3d_input():
    with pytest.raises(ValueError, match=r"Dropout2d: probability p must be between 0 and 1, "
                                         r"got 1.5"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-D input .* got shape \(2, 3\)"):
        F.dropout2d(tc.zeros(2, 3))
    with pytest.warns(UserWarning, match=r"read as \(N, C, L\)"):
        out = F.dropout2d(tc.ones(6, 4, 5), 0.5).numpy()
    assert np.all((out == 0).all(-1) | (out == 2).all(-1))   # whole (N, C) rows


# ---------------------------------------------------------------------- BatchNorm


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 2, 3))])
def test_batchnorm_train_eval_and_running_stats(cls, shape):
    rng = np.random.default_rng(2)
    bn = cls(3).double()
    bn.weight.data[...] = to_default(rng.uniform(0.5, 2, size=3))
    bn.bias.data[...] = to_default(rng.normal(size=3))
    x = rng.normal(size=shape) * 2 + 1
    y = bn(tc.Tensor(x))
    expected, mean, var = ref_nn.batch_norm_train(x, bn.weight.numpy(), bn.bias.numpy(), 1e-5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn(tc.Tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean + 0.9 * 0.1 * mean)
    bn.eval()
    y_eval = bn(tc.Tensor(x))
    np.testing.assert_allclose(
        y_eval.numpy(),
        ref_nn.batch_norm_eval(x, bn.running_mean.numpy(), bn.running_var.numpy(),
                            bn.weight.numpy(), bn.bias.numpy(), 1e-5), rtol=1e-10)
    assert bn.num_batches_tracked.item() == 2   # eval leaves the statistics alone
    assert check_module(bn, x)                  # eval: running stats are constants
    bn.train()
    assert check_module(bn, x)                  # train: gradients flow through batch stats


def test_batchnorm_options():
    x = np.random.default_rng(3).normal(size=(5, 2, 3, 3))
    bn = nn.BatchNorm2d(2, momentum=None).double()
    bn(tc.Tensor(x))
    bn(tc.Tensor(x * 3))
    means = [ref_nn.batch_norm_train(v, np.ones(2), np.zeros(2), 1e-5)[1] for v in (x, 3 * x)]
    np.testing.assert_allclose(bn.running_mean.numpy(), (means[0] + means[1]) / 2, rtol=1e-12)
    plain = nn.BatchNorm2d(2, affine=False, track_running_stats=False).double()
    assert list(plain.parameters()) == [] and list(plain.state_dict()) == []
    plain.eval()   # no running statistics: batch statistics even in eval
    np.testing.assert_allclose(plain(tc.Tensor(x)).numpy(),
                               ref_nn.batch_norm_train(x, np.ones(2), np.zeros(2), 1e-5)[0],
                               rtol=1e-10, atol=1e-12)
    assert tc.gradgradcheck(lambda x: F.batch_norm(x, None, None, training=True), (x[:3, :, :2],))
    assert list(nn.BatchNorm2d(2).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert repr(nn.BatchNorm2d(4)) == (
        "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*\): expected 3 channels, got 4 "
                                         r"\(input shape \(2, 4, 5, 5\)\)"):
        nn.BatchNorm2d(3)(tc.zeros(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\)"):
        nn.BatchNorm2d(3)(tc.zeros(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tc.zeros(1, 3))
