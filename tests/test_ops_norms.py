"""vector_norm / norm, F.normalize, F.softmin: forward against the definition, float64
gradients (PyTorch's values at 0), dtype rules, errors, PyTorch as optional oracle."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import core_references as ref
from tests import references_ops as rops
from tinygrad_cnn.testing import strategies as tst

SMALL = tst.array_shapes(min_dims=1, max_dims=3, max_side=3)
ORDS = [2, 1, math.inf, -math.inf, 3, 0.5, 0]


@st.composite
def dim_spec(draw, ndim):
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None, tuple(range(ndim))
    if kind == "int":
        d = draw(st.integers(-ndim, ndim - 1))
        return d, (d % ndim,)
    axes = tuple(sorted(draw(st.sets(st.integers(0, ndim - 1), min_size=1))))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes), axes


@pytest.mark.parametrize("ord", ORDS)
@given(x=tst.float_arrays(SMALL, avoid=(0.0,), margin=0.05, distinct=True), data=st.data())
def test_vector_norm_forward_and_gradients(ord, x, data):
    dim, axes = data.draw(dim_spec(x.ndim))
    keepdim = data.draw(st.booleans())
    expected = rops.vector_norm(x, ord, axes)
    if keepdim:
        expected = expected.reshape([1 if i in axes else n for i, n in enumerate(x.shape)])
    out = tc.linalg.vector_norm(tc.Tensor(x), ord, dim, keepdim)
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(tc.Tensor(x).norm(ord, dim, keepdim).numpy(), expected, rtol=1e-12)
    if ord == 0:
        assert not tc.Tensor(x, requires_grad=True).norm(0).requires_grad
    else:
        # distinct |x| too (no tied maxima for inf): distinct values shifted away from 0
        ref.check_grads(lambda t: tc.linalg.vector_norm(t, ord, dim, keepdim), (np.abs(x) + 0.1,))
        ref.check_grads(lambda t: tc.norm(t, ord, dim, keepdim), (x,))


def test_fro_default_and_gradients_at_zero_as_pytorch():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    np.testing.assert_allclose(tc.Tensor(x).norm().item(), np.sqrt((x**2).sum()))
    np.testing.assert_allclose(tc.norm(tc.Tensor(x), dim=1).numpy(), np.sqrt((x**2).sum(1)))
    for ord in (2, 1, 3, 0.5):
        z = tc.zeros(3, dtype=tc.float64, requires_grad=True)
        tc.linalg.vector_norm(z, ord).backward()
        assert z.grad.tolist() == [0.0, 0.0, 0.0], ord
    mixed = tc.tensor([0.0, 2.0, 0.0], dtype=tc.float64, requires_grad=True)
    tc.linalg.vector_norm(mixed, 0.5).backward()
    np.testing.assert_allclose(mixed.grad.numpy(), [0.0, 1.0, 0.0])
    tied = tc.tensor([3.0, -3.0, 1.0], dtype=tc.float64, requires_grad=True)
    tc.linalg.vector_norm(tied, math.inf).backward()
    np.testing.assert_allclose(tied.grad.numpy(), [0.5, -0.5, 0.0])


@given(x=tst.float_arrays(SMALL, avoid=(0.0,), margin=0.05), data=st.data())
def test_normalize(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    p = data.draw(st.sampled_from([2.0, 1.0, 3.0]))
    norms = np.sum(np.abs(x) ** p, axis=dim, keepdims=True) ** (1 / p)
    np.testing.assert_allclose(F.normalize(tc.Tensor(x), p, dim).numpy(), x / norms, rtol=1e-12)
    ref.check_grads(lambda t: F.normalize(t, p, dim), (x,))
    zeros = F.normalize(tc.zeros((2, 3)), dim=1)
    assert zeros.tolist() == [[0.0] * 3] * 2        # 0 / eps, not NaN


@given(x=tst.float_arrays(SMALL), data=st.data())
def test_softmin(x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    np.testing.assert_allclose(F.softmin(tc.Tensor(x), dim).numpy(), ref.softmax(-x, dim),
                               rtol=1e-12)
    ref.check_grads(lambda t: F.softmin(t, dim), (x,))


def test_dtypes():
    x = tc.tensor([3.0, 4.0])
    assert x.norm().dtype == np.float32 and F.normalize(x, dim=0).dtype == np.float32
    assert tc.linalg.vector_norm(x, dtype=tc.float64).dtype == np.float64
    assert tc.linalg.vector_norm(tc.tensor([3, 4]), dtype=tc.float32).item() == 5.0
    assert F.softmin(tc.tensor([1, 2]), 0, dtype=tc.float64).dtype == np.float64
    assert tc.tensor([0.0, 1.5, -2.0], dtype=tc.float16).norm(0).item() == 2.0


def test_errors():
    with pytest.raises(TypeError, match="needs a floating-point tensor, got int64"):
        tc.linalg.vector_norm(tc.tensor([3, 4]))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        tc.zeros((2, 2)).norm(dim=2)
    with pytest.raises(NotImplementedError, match="'nuc'"):
        tc.zeros((2, 2)).norm("nuc")
    with pytest.raises(ValueError, match="ord=inf of an empty dim 0"):
        tc.zeros((0,)).norm(math.inf)
    with pytest.raises(TypeError, match="softmin: needs a floating-point tensor"):
        F.softmin(tc.tensor([1, 2]), 0)
    with pytest.warns(UserWarning, match="implicit dimension"):
        F.softmin(tc.zeros((2, 3)))


def test_zero_dim():
    s = tc.tensor(-3.0)
    assert tc.linalg.vector_norm(s, dim=0).item() == 3.0 and s.norm(1).item() == 3.0
    assert F.softmin(s, 0).item() == 1.0


def test_pytorch_cross_check():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x[0, 1] = 0.0
    zero_row = x.copy()
    zero_row[2] = 0.0
    for a in (x, zero_row):
        for ord in (2, 1, math.inf, -math.inf, 3, 0.5, 0):
            for dim in (None, 1, (0, 1)):
                rops.compare_with_torch(
                    torch, lambda t, o=ord, d=dim: tc.linalg.vector_norm(t, o, d),
                    lambda t, o=ord, d=dim: torch.linalg.vector_norm(t, o, d), [a])
        for p in (2.0, 1.0, 3.0):
            rops.compare_with_torch(torch, lambda t, p=p: F.normalize(t, p, 1),
                                    lambda t, p=p: torch.nn.functional.normalize(t, p, 1), [a])
        rops.compare_with_torch(torch, lambda t: t.norm(), lambda t: t.norm(), [a])
        rops.compare_with_torch(torch, lambda t: F.softmin(t, 0),
                                lambda t: torch.nn.functional.softmin(t, 0), [a])


def test_softmin_layer():
    x = np.random.default_rng(4).standard_normal((3, 5))
    layer = tc.nn.Softmin(dim=1)
    expected = np.exp(-x) / np.exp(-x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(layer(tc.tensor(x)).numpy(), expected, rtol=1e-12)
    assert tc.gradcheck(lambda t: layer(t), (x,))
    assert tc.gradgradcheck(lambda t: layer(t), (x,))
    assert repr(layer) == "Softmin(dim=1)"
    torch = pytest.importorskip("torch", reason="PyTorch is an optional test oracle")
    np.testing.assert_allclose(layer(tc.tensor(x)).numpy(),
                               torch.nn.Softmin(dim=1)(torch.tensor(x)).numpy(), rtol=1e-12)
