"""Fused fast paths against the general composition of ops they replace, the NumPy reference,
and float64 gradient checks (first and second order): linear, softmax cross-entropy."""

import numpy as np
import pytest
import references_nn as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tests import references as conv_ref
from tinygrad_cnn.ops import conv, dense, linalg, loss
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor
from tinygrad_cnn.testing import strategies as tst


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
    # products may round differently (BLAS vs the reference): within eps times the sum of the
    # terms' magnitudes, which a relative tolerance alone misses where they cancel to near 0
    scale = np.abs(x) @ np.abs(w).T + (np.abs(b) if bias else 0)
    assert np.all(np.abs(out - ref.linear(x, w, b if bias else None)) <= 1e-12 * scale)
    assert np.all(np.abs(out - out_ref) <= 1e-12 * scale)
    for got, want in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    out = fused(*ts)
    plain = tc.grad(out, ts, Tensor(g), retain_graph=True)          # backward on arrays
    graphed = tc.grad(out, ts, Tensor(g), create_graph=True)        # backward in Tensor ops
    for p, q in zip(plain, graphed, strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-12)
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


# ---------------------------------------------------------------------- conv2d


@given(case=tst.conv2d_geometries(max_size=5), data=st.data())
def test_conv2d_bias_in_the_product_matches_a_broadcast_add(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    b = data.draw(tst.float_arrays((case["weight_shape"][0],)))
    args = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    with tc.no_grad():
        g = np.random.default_rng(0).normal(size=F.conv2d(Tensor(x), Tensor(w), **args).shape)

    def fused(x, w, b):
        return F.conv2d(x, w, b, **args)

    def general(x, w, b):
        return F.conv2d(x, w, **args) + shape_ops.reshape(b, (1, -1, 1, 1))

    out, grads = _grads(fused, [x, w, b], g)
    out_ref, grads_ref = _grads(general, [x, w, b], g)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(case=tst.conv2d_geometries(max_batch=1, max_channels=3, max_size=4, max_kernel=2),
       data=st.data())
def test_conv2d_with_bias_gradgradcheck(case, data):
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    b = data.draw(tst.float_arrays((case["weight_shape"][0],)))
    args = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    assert tc.gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **args), (x, w, b))


@given(case=tst.conv2d_geometries(max_stride=1, max_channels=6), data=st.data())
def test_stride_one_input_gradient_routes_agree(case, data):
    """Stride 1 picks the flipped-kernel convolution or the phase grid by column size: both
    give the adjoint of the reference conv2d."""
    x = data.draw(tst.float_arrays(case["input_shape"]))
    w = data.draw(tst.float_arrays(case["weight_shape"]))
    args = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    y = F.conv2d(Tensor(x, requires_grad=True), Tensor(w), **args)
    geo = y.grad_fn.geometry
    g = data.draw(tst.float_arrays(y.shape))
    flipped = conv._input_grad_flipped(np, g, w, geo)
    phases = conv._input_grad_phases(np, g, w, geo)
    np.testing.assert_allclose(flipped, phases, rtol=1e-10, atol=1e-10)
    # the input gradient is conv2d's adjoint: <conv2d(x, w), g> = <x, dx> for every x
    np.testing.assert_allclose(np.sum(conv_ref.conv2d(x, w, **args) * g), np.sum(x * phases),
                               rtol=1e-9, atol=1e-9)


def test_stride_one_input_gradient_route_choice():
    """LeNet-5's second conv (6 -> 16 channels) takes the phase grid, 64 -> 64 the flipped
    kernel."""
    def geometry(c, k, size, kernel, padding):
        y = F.conv2d(Tensor(np.zeros((1, c, size, size)), requires_grad=True),
                     Tensor(np.zeros((k, c, kernel, kernel))), padding=padding)
        return y.grad_fn.geometry

    assert not conv._flipped_pays((16, 6, 5, 5), geometry(6, 16, 14, 5, 0))
    assert conv._flipped_pays((64, 64, 3, 3), geometry(64, 64, 32, 3, 1))


# ---------------------------------------------------------------------- batch norm


@given(seed=st.integers(0, 2**31), shape=st.sampled_from([(4, 3), (3, 2, 5), (2, 3, 2, 3)]),
       affine=st.booleans())
def test_batch_norm_one_node_matches_reference_on_both_backward_paths(seed, shape, affine):
    """Training-mode batch norm is one node: its array backward (plain backward) and its Tensor
    backward (create_graph=True) agree, with the reference forward and with gradcheck."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 2 + 1
    w, b = rng.uniform(0.5, 2, size=shape[1]), rng.normal(size=shape[1])
    g = rng.normal(size=shape)
    arrays = [x, w, b] if affine else [x]

    def fn(x, w=None, b=None):
        return F.batch_norm(x, None, None, w, b, training=True)

    ts = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    assert type(out.grad_fn).__name__ == "BatchNormBatchStats"
    expected = ref.batch_norm_train(x, w if affine else np.ones(shape[1]),
                                    b if affine else np.zeros(shape[1]), 1e-5)[0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    plain = tc.grad(out, ts, Tensor(g), retain_graph=True)
    graphed = tc.grad(out, ts, Tensor(g), create_graph=True)
    for p, q in zip(plain, graphed, strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-10, atol=1e-12)
    assert tc.gradcheck(fn, tuple(arrays))
    assert tc.gradgradcheck(fn, tuple(arrays))


def test_batch_norm_float32_gradients_on_a_large_batch_match_float64():
    """Training-mode batch norm in float32 over N*H*W = 100,352 values per channel, values of
    mean 3 (not 0) and a gradient of mean 0.5: output and gradients stay within a few float32
    roundings of the float64 result for the same (float32) inputs. The weight gradient
    sum(g * x_hat) cancels (x_hat has mean 0), so the error of float32 channel sums and of the
    mean rounded to float32 comes out amplified: it was 1.9e-5 (PyTorch 2.13 CPU: 3.7e-6,
    measured 2026-11-27); with float64 sums taken about the exact mean it is 7e-7."""
    rng = np.random.default_rng(0)
    shape = (32, 32, 56, 56)
    x = (rng.normal(size=shape) * 2 + 3).astype(np.float32)
    g = (rng.normal(size=shape) + 0.5).astype(np.float32)
    w = rng.uniform(0.5, 1.5, size=32).astype(np.float32)
    b = (0.1 * rng.normal(size=32)).astype(np.float32)
    ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.batch_norm(*ts[:1], None, None, *ts[1:], training=True)
    out.backward(Tensor(g))

    # float64 reference of the same float32 inputs (PyTorch's formulas)
    x64, g64, w64, b64 = (a.astype(np.float64) for a in (x, g, w, b))
    dims, m = (0, 2, 3), x.size // 32
    c = (1, 32, 1, 1)
    x_hat = (x64 - x64.mean(dims, keepdims=True)) / np.sqrt(x64.var(dims, keepdims=True) + 1e-5)
    grad_w, grad_b = (g64 * x_hat).sum(dims), g64.sum(dims)
    invstd = 1 / np.sqrt(x64.var(dims) + 1e-5)
    grad_x = (g64 - grad_b.reshape(c) / m - x_hat * grad_w.reshape(c) / m) * (
        invstd * w64).reshape(c)

    def rel(ours, exact):
        return np.max(np.abs(ours - exact)) / np.max(np.abs(exact))

    assert rel(out.numpy(), x_hat * w64.reshape(c) + b64.reshape(c)) < 5e-7
    assert rel(ts[0].grad.numpy(), grad_x) < 5e-7
    assert rel(ts[2].grad.numpy(), grad_b) < 5e-7
    assert rel(ts[1].grad.numpy(), grad_w) < 2e-6
    assert all(t.grad.dtype == np.float32 for t in ts)


# ---------------------------------------------------------------------- ReLU


def test_relu_from_its_output_matches_torch_at_infinities():
    """ReLU keeps only its output for backward (no mask array); relu(-inf) is 0, as PyTorch's
    (x * (x > 0) made it NaN)."""
    x = Tensor(np.array([-np.inf, -1.0, 0.0, 2.0, np.inf], np.float32), requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0, 2.0, np.inf])
    y.backward(Tensor(np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 4.0, 5.0])
    assert x.grad.dtype == np.float32


@given(seed=st.integers(0, 2**31))
def test_relu_gradgradcheck_through_its_backward_op(seed):
    x = np.random.default_rng(seed).normal(size=(3, 4))
    x[np.abs(x) < 0.1] = 0.5  # off the kink
    assert tc.gradcheck(F.relu, (x,))
    assert tc.gradgradcheck(F.relu, (x,))
    assert tc.gradgradcheck(lambda x: F.relu(x) * x, (x,))
