"""Activation functions (nn.functional) and their layers: forward against a math-module
reference, float64 gradients (and second gradients where they exist) on Hypothesis inputs,
values and gradients against PyTorch when it is installed, and dtype behaviour."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import core_references as core
from tests import references_activations as ref
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
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        ours = tc.Tensor(x.astype(dtype), requires_grad=True)
        out = fn(ours)
        out.backward(tc.Tensor(upstream.astype(dtype)))
        t = torch.tensor(x.astype(dtype), requires_grad=True)
        expected = theirs(torch)(t)
        expected.backward(torch.tensor(upstream.astype(dtype)))
        assert out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


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
