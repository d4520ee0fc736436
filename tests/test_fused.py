"""Fused fast paths against the general composition of ops they replace, the NumPy reference,
and float64 gradient checks (first and second order): linear, softmax cross-entropy."""

import numpy as np
import pytest
import references_nn as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn.ops import dense, linalg, loss
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _grads(fn, arrays, upstream):
    """Values and gradients of fn at float64 copies of ``arrays``."""
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(Tensor(upstream))
    return out.numpy(), [t.grad.numpy() for t in ts]


def _general_linear(x, w, b):
    out = linalg.matmul(x, shape_ops.transpose(w, 0, 1))
    return out if b is None else out + b


@given(seed=st.integers(0, 2**31), lead=st.sampled_from([(1,), (3,), (2, 3)]),
       bias=st.booleans())
def test_fused_linear_matches_matmul_and_add(seed, lead, bias):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=lead + (4,)), rng.normal(size=(3, 4)), rng.normal(size=3)
    g = rng.normal(size=lead + (3,))
    arrays = [x, w, b] if bias else [x, w]

    def fused(*ts):
        return dense.Linear.apply(*ts) if bias else dense.Linear.apply(*ts, None)

    def general(*ts):
        return _general_linear(*ts) if bias else _general_linear(*ts, None)

    out, grads = _grads(fused, arrays, g)
    out_ref, grads_ref = _grads(general, arrays, g)
    np.testing.assert_allclose(out, ref.linear(x, w, b if bias else None), rtol=1e-12)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12)
    for got, want in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert tc.gradcheck(fused, tuple(arrays))
    assert tc.gradgradcheck(fused, tuple(arrays))


def test_fused_linear_weight_gradient_is_owned_and_float32():
    x = Tensor(np.ones((2, 4), np.float32))
    layer = tc.nn.Linear(4, 3)
    layer(x).sum().backward()
    g = layer.weight.grad.data
    assert g.dtype == np.float32 and g.base is None and g.flags.c_contiguous


def _general_cross_entropy(x, target, weight, ignore_index, reduction):
    return F.nll_loss(loss.log_softmax(x, 1), target, weight, ignore_index, reduction)


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans(), ignore=st.booleans())
def test_fused_cross_entropy_matches_log_softmax_and_nll(seed, reduction, weighted, ignore):
    rng = np.random.default_rng(seed)
    n, c = 5, 4
    logits = rng.normal(size=(n, c)) * 2
    target = rng.integers(0, c, size=n)
    ignore_index = -100
    if ignore:
        ignore_index = int(target[0])  # at least one row ignored, not all of them
        target[1] = (ignore_index + 1) % c
    weight = Tensor(rng.uniform(0.5, 2.0, size=c)) if weighted else None
    g = rng.normal(size=n) if reduction == "none" else np.array(rng.normal())
    t = Tensor(target)

    def fused(x):
        return F.cross_entropy(x, t, weight, ignore_index, reduction)

    def general(x):
        return _general_cross_entropy(x, t, weight, ignore_index, reduction)

    out, (grad,) = _grads(fused, [logits], g)
    out_ref, (grad_ref,) = _grads(general, [logits], g)
    w = None if weight is None else weight.numpy()
    np.testing.assert_allclose(out, ref.cross_entropy(logits, target, w, ignore_index, reduction),
                               rtol=1e-10)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-14)
    assert fused(Tensor(logits, requires_grad=True)).grad_fn.__class__ is \
        loss.SoftmaxCrossEntropy
    assert tc.gradcheck(fused, (logits,))
    assert tc.gradgradcheck(fused, (logits,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_cross_entropy_third_derivative(reduction):
    """The backward's backward is Tensor ops: differentiate it once more."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 4))
    t = Tensor(rng.integers(0, 4, size=3))

    def grad_of_loss(x):
        with tc.enable_grad():  # the numeric Jacobians call this with grad mode off
            x = x if x.requires_grad else x.detach().requires_grad_()
            out = F.cross_entropy(x, t, reduction=reduction)
            (gx,) = tc.grad(out.sum(), (x,), create_graph=True)
        return gx

    assert tc.gradgradcheck(grad_of_loss, (logits,))


def test_fused_cross_entropy_float32_and_huge_logits():
    logits = Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], np.float32),
                    requires_grad=True)
    out = F.cross_entropy(logits, Tensor(np.array([1, 2])))
    assert out.dtype == np.float32 and out.shape == ()
    out.backward()
    assert np.isfinite(out.item()) and np.isfinite(logits.grad.numpy()).all()
    np.testing.assert_allclose(out.item(), (1e4 + np.log(3)) / 2, rtol=1e-6)
