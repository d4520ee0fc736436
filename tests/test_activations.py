"""Activation functions (nn.functional) and their layers: forward against a math-module
reference, float64 gradients (and second gradients where they exist) on Hypothesis inputs,
values and gradients against PyTorch when it is installed, and dtype behaviour."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import core_references as core
from tests import references_activations as ref
from tests import references_nn as ref_nn
from tests.module_checks import check_module
from tinygrad_cnn import nn
from tinygrad_cnn.testing import strategies as tst

SMALL = tst.array_shapes(min_dims=0, max_dims=3, max_side=3)
TINY = tst.array_shapes(min_dims=0, max_dims=2, max_side=3)

# name, ours, reference, PyTorch's (given the torch module), value range, kinks, twice
ACTIVATIONS = [
    ("relu6", F.relu6, ref.relu6, lambda t: t.nn.functional.relu6, (-2, 8), (0.0, 6.0), True),
    ("hardtanh", F.hardtanh, ref.hardtanh, lambda t: t.nn.functional.hardtanh, (-3, 3),
     (-1.0, 1.0), True),
    ("hardtanh_args", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: ref.hardtanh(x, -0.5, 2.0),
     lambda t: lambda x: t.nn.functional.hardtanh(x, -0.5, 2.0), (-3, 3), (-0.5, 2.0), True),
    ("silu", F.silu, ref.silu, lambda t: t.nn.functional.silu, (-4, 4), (), True),
    ("elu", F.elu, ref.elu, lambda t: t.nn.functional.elu, (-3, 3), (0.0,), True),
    ("elu_alpha", lambda x: F.elu(x, 0.5), lambda x: ref.elu(x, 0.5),
     lambda t: lambda x: t.nn.functional.elu(x, 0.5), (-3, 3), (0.0,), True),
    ("selu", F.selu, ref.selu, lambda t: t.nn.functional.selu, (-3, 3), (0.0,), True),
    ("celu", lambda x: F.celu(x, 2.0), lambda x: ref.celu(x, 2.0),
     lambda t: lambda x: t.nn.functional.celu(x, 2.0), (-3, 3), (0.0,), True),
    ("hardswish", F.hardswish, ref.hardswish, lambda t: t.nn.functional.hardswish, (-5, 5),
     (-3.0, 3.0), True),
    ("hardsigmoid", F.hardsigmoid, ref.hardsigmoid, lambda t: t.nn.functional.hardsigmoid,
     (-5, 5), (-3.0, 3.0), True),
    ("mish", F.mish, ref.mish, lambda t: t.nn.functional.mish, (-4, 4), (), True),
    ("softsign", F.softsign, ref.softsign, lambda t: t.nn.functional.softsign, (-3, 3), (0.0,),
     True),
    ("logsigmoid", F.logsigmoid, ref.logsigmoid, lambda t: t.nn.functional.logsigmoid, (-6, 6),
     (), True),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: ref_nn.gelu(x, "tanh"),
     lambda t: lambda x: t.nn.functional.gelu(x, approximate="tanh"), (-4, 4), (), True),
    ("gelu", F.gelu, ref_nn.gelu, lambda t: t.nn.functional.gelu, (-4, 4), (), True),
]
IDS = [a[0] for a in ACTIVATIONS]


@pytest.mark.parametrize("name,fn,reference,theirs,bounds,avoid,twice", ACTIVATIONS, ids=IDS)
@given(data=st.data())
def test_forward_and_gradients(name, fn, reference, theirs, bounds, avoid, twice, data):
    x = data.draw(tst.float_arrays(SMALL, min_value=bounds[0], max_value=bounds[1], avoid=avoid,
                                   margin=0.05))
    out = fn(tc.Tensor(x))
    assert out.dtype == np.float64 and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), reference(x), rtol=1e-12, atol=1e-12)
    small = data.draw(tst.float_arrays(TINY, min_value=bounds[0], max_value=bounds[1],
                                       avoid=avoid, margin=0.05))
    core.check_grads(fn, (small,), twice=twice)


@pytest.mark.parametrize("name,fn,reference,theirs,bounds,avoid,twice", ACTIVATIONS, ids=IDS)
def test_against_pytorch(name, fn, reference, theirs, bounds, avoid, twice):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # points across the range and its kinks exactly (where the one-sided rules must match)
    x = np.concatenate([rng.uniform(bounds[0] - 1, bounds[1] + 1, 40), np.array(avoid, float),
                        np.array([0.0])])
    upstream = rng.standard_normal(x.shape)
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (3e-8 relative) even in
    # float64; our reference is exact, so its float64 gradient is compared to that precision
    grad_tol64 = 1e-7 if name == "hardsigmoid" else 1e-12
    for dtype, tol, grad_tol in ((np.float64, 1e-12, grad_tol64), (np.float32, 1e-6, 1e-6)):
        ours = tc.Tensor(x.astype(dtype), requires_grad=True)
        out = fn(ours)
        out.backward(tc.Tensor(upstream.astype(dtype)))
        t = torch.tensor(x.astype(dtype), requires_grad=True)
        expected = theirs(torch)(t)
        expected.backward(torch.tensor(upstream.astype(dtype)))
        assert out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=grad_tol,
                                   atol=grad_tol)


def test_relu6_and_hardtanh_layers():
    x = np.array([-2.0, 0.5, 3.0, 7.0])
    np.testing.assert_array_equal(nn.ReLU6()(tc.Tensor(x)).numpy(), [0.0, 0.5, 3.0, 6.0])
    np.testing.assert_array_equal(nn.Hardtanh(-1.0, 2.0)(tc.Tensor(x)).numpy(),
                                  [-1.0, 0.5, 2.0, 2.0])
    assert repr(nn.ReLU6()) == "ReLU6()"
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(tc.Tensor(x), 2.0, 1.0)


def test_relu6_keeps_integer_dtype_as_pytorch():
    out = F.relu6(tc.tensor([-3, 2, 9]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [0, 2, 6])


# ---------------------------------------------------------------- layers, dtypes, PReLU

LAYERS = [
    ("SiLU", {}, F.silu), ("ELU", {"alpha": 0.5}, lambda x: F.elu(x, 0.5)), ("SELU", {}, F.selu),
    ("CELU", {"alpha": 2.0}, lambda x: F.celu(x, 2.0)), ("Hardswish", {}, F.hardswish),
    ("Hardsigmoid", {}, F.hardsigmoid), ("Mish", {}, F.mish), ("Softsign", {}, F.softsign),
    ("LogSigmoid", {}, F.logsigmoid), ("Softplus", {"beta": 2.0}, lambda x: F.softplus(x, 2.0)),
    ("ReLU6", {}, F.relu6), ("Hardtanh", {"min_val": -2.0, "max_val": 0.5},
                             lambda x: F.hardtanh(x, -2.0, 0.5)),
    ("GELU", {"approximate": "tanh"}, lambda x: F.gelu(x, "tanh")),
]


@pytest.mark.parametrize("name,kwargs,fn", LAYERS, ids=[entry[0] for entry in LAYERS])
def test_activation_layers_call_their_function(name, kwargs, fn):
    layer = getattr(nn, name)(**kwargs)
    x = np.random.default_rng(0).uniform(-5, 5, (2, 3, 4))
    np.testing.assert_array_equal(layer(tc.Tensor(x)).numpy(), fn(tc.Tensor(x)).numpy())
    assert list(layer.parameters()) == []
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, name)(**kwargs)
    assert repr(layer) == repr(theirs)
    np.testing.assert_allclose(layer(tc.Tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                               rtol=1e-12, atol=1e-12)


FLOAT_VALUED = ["silu", "elu", "selu", "celu", "hardswish", "hardsigmoid", "mish", "softsign",
                "logsigmoid", "gelu", "softplus", "erf"]


@pytest.mark.parametrize("name", FLOAT_VALUED)
def test_integer_inputs_give_float32(name):
    out = getattr(F, name)(tc.tensor([-2, 0, 3]))
    assert out.dtype == np.float32
    as_float32 = getattr(F, name)(tc.Tensor(np.array([-2.0, 0.0, 3.0], np.float32)))
    np.testing.assert_array_equal(out.numpy(), as_float32.numpy())
    assert getattr(F, name)(tc.tensor([True, False])).dtype == np.float32


def test_celu_alpha_zero_is_refused():
    with pytest.raises(ValueError, match="alpha must not be 0"):
        F.celu(tc.ones(2), 0.0)
    with pytest.raises(ValueError, match="alpha must not be 0"):
        nn.CELU(0.0)


@given(data=st.data())
def test_prelu_forward_and_gradients(data):
    channels = data.draw(st.integers(1, 3))
    shape = (2, channels) + tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    x = data.draw(tst.float_arrays(shape, avoid=(0.0,), margin=0.05))
    shared = data.draw(st.booleans())
    w = data.draw(tst.float_arrays((1 if shared else channels,), min_value=-1, max_value=1))
    out = F.prelu(tc.Tensor(x), tc.Tensor(w))
    np.testing.assert_allclose(out.numpy(), ref.prelu(x, w), rtol=1e-12, atol=1e-12)
    core.check_grads(F.prelu, (x[:1], w))


def test_prelu_layer_is_pytorchs():
    layer = nn.PReLU(3)
    assert repr(layer) == "PReLU(num_parameters=3)"
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["weight"] and layer.weight.shape == (3,)
    np.testing.assert_array_equal(layer.weight.numpy(), np.full(3, 0.25, np.float32))
    assert layer.weight.dtype == np.float32
    assert nn.PReLU(init=0.1, dtype=tc.float64).weight.dtype == np.float64
    x = tc.Tensor(np.array([[-2.0, 1.0, -1.0], [3.0, -4.0, 0.5]], np.float32))
    out = layer(x)
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), [-2.0, -4.0, -1.0])
    with pytest.raises(ValueError, match=r"weight has 3 elements but the input \(2, 4\) has 4"):
        layer(tc.ones(2, 4))
    with pytest.raises(ValueError, match="num_parameters must be a positive int"):
        nn.PReLU(0)
    np.testing.assert_array_equal(nn.PReLU()(tc.Tensor(np.array([-4.0, 2.0]))).numpy(),
                                  [-1.0, 2.0])                # 1-D input: one shared weight


def test_prelu_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for channels, shape in ((1, (2, 3, 4)), (3, (2, 3, 4, 2)), (4, (5, 4)), (1, (6,))):
        x = rng.uniform(-3, 3, shape)
        x[0, ...] = 0.0 if len(shape) > 1 else x[0, ...]      # the slope at 0 too
        w = rng.uniform(-1, 1, channels)
        ours_x, ours_w = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
        theirs_x = torch.tensor(x, requires_grad=True)
        theirs_w = torch.tensor(w, requires_grad=True)
        upstream = rng.standard_normal(shape)
        out = F.prelu(ours_x, ours_w)
        out.backward(tc.Tensor(upstream))
        expected = torch.nn.functional.prelu(theirs_x, theirs_w)
        expected.backward(torch.tensor(upstream))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_w.grad.numpy(), theirs_w.grad.numpy(), rtol=1e-12)
    theirs = torch.nn.PReLU(5)
    ours = nn.PReLU(5)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


def test_activations_on_device(device):
    host = np.array([[0.7, -1.3, 4.0], [-3.5, 0.4, 2.0]])
    x = tc.tensor(host, device=device, requires_grad=True)
    layer = nn.PReLU(3, device=device, dtype=tc.float64)
    fns = [F.relu6, F.hardtanh, F.silu, F.elu, F.selu, F.celu, F.hardswish, F.hardsigmoid,
           F.mish, F.softsign, F.logsigmoid, layer]
    out = sum(fn(x) for fn in fns)
    out.sum().backward()
    assert out.device == x.grad.device == tc.backend.normalize_device(device)
    with tc.no_grad():
        cpu = tc.Tensor(host, device="cpu")
        expected = sum(fn(cpu) for fn in fns[:-1]) + F.prelu(cpu, tc.Tensor(np.full(3, 0.25),
                                                                            device="cpu"))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)


def test_top_level_names_as_pytorch():
    """torch.selu, torch.celu, torch.prelu, torch.erf and Tensor.prelu, Tensor.erf exist too."""
    x = tc.Tensor(np.array([-1.5, 0.5, 2.0]))
    w = tc.Tensor(np.array([0.3]))
    np.testing.assert_array_equal(tc.selu(x).numpy(), F.selu(x).numpy())
    np.testing.assert_array_equal(tc.celu(x, 2.0).numpy(), F.celu(x, 2.0).numpy())
    np.testing.assert_array_equal(tc.prelu(x, w).numpy(), F.prelu(x, w).numpy())
    np.testing.assert_array_equal(x.prelu(w).numpy(), F.prelu(x, w).numpy())
    np.testing.assert_array_equal(tc.erf(x).numpy(), F.erf(x).numpy())
    np.testing.assert_array_equal(x.erf().numpy(), F.erf(x).numpy())


# ---------------------------------------------------------------------- activations


def test_erf_matches_math_erf():
    xs = np.concatenate([np.linspace(-7, 7, 20001), np.logspace(-300, 1, 500),
                         -np.logspace(-20, 0.8, 200), [0.0, 2.5, -2.5, 30.0]])
    ours = F.erf(tc.Tensor(xs)).numpy()
    expected = np.array([math.erf(v) for v in xs])
    np.testing.assert_allclose(ours, expected, rtol=2e-15, atol=1e-300)
    assert np.abs(ours - expected).max() < 1e-14
    assert F.erf(tc.Tensor(xs.astype(np.float32))).dtype == np.float32
    assert tc.gradcheck(F.erf, (np.array([-3.0, -0.7, 0.0, 0.4, 2.49, 2.51, 4.0]),))
    assert tc.gradgradcheck(F.erf, (np.array([-1.3, 0.2, 2.6]),))


@given(seed=st.integers(0, 2**31))
def test_activation_layers(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=(3, 5))
    x[np.abs(x) < 0.02] = 0.05          # off the kink at 0
    cases = [
        (nn.ReLU(), np.maximum(x, 0)),
        (nn.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x)),
        (nn.Sigmoid(), 1 / (1 + np.exp(-x))),
        (nn.Tanh(), np.tanh(x)),
        (nn.Softmax(dim=1), np.exp(x) / np.exp(x).sum(1, keepdims=True)),
        (nn.LogSoftmax(dim=0), x - np.log(np.exp(x).sum(0, keepdims=True))),
        (nn.GELU(), ref_nn.gelu(x)),
        (nn.GELU("tanh"), ref_nn.gelu(x, "tanh")),
    ]
    for layer, expected in cases:
        np.testing.assert_allclose(layer(tc.Tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-14)
        assert check_module(layer, x)
    for approximate in ("none", "tanh"):
        assert tc.gradgradcheck(lambda v, a=approximate: F.gelu(v, a), (x[:1],))


def test_activation_repr_and_errors():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    with pytest.raises(ValueError, match="approximate must be"):
        nn.GELU("fast")
    with pytest.warns(UserWarning, match="no dim given"):
        out = nn.Softmax()(tc.Tensor(np.zeros((2, 3))))
    np.testing.assert_allclose(out.numpy(), np.full((2, 3), 1 / 3))


def test_softplus():
    x = np.array([-800.0, -3.0, 0.0, 2.0, 30.0, 800.0])
    out = F.softplus(tc.Tensor(x)).numpy()
    np.testing.assert_allclose(out, [0.0, math.log1p(math.exp(-3)), math.log(2),
                                     math.log1p(math.exp(2)), 30.0, 800.0], rtol=1e-12)
    assert tc.gradgradcheck(lambda v: F.softplus(v, beta=2.0), (np.array([-1.0, 0.3, 2.0]),))
