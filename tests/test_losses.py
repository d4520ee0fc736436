"""Losses: forward against NumPy references, float64 gradchecks (and gradgradchecks), bad input."""

import numpy as np
import pytest
import references_nn as ref
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Tensor

REDUCTIONS = ["mean", "sum", "none"]


def _torch():
    try:
        import torch  # noqa: PLC0415
    except Exception:  # not installed, or installed without its native libraries
        return None
    return torch


def _case(seed, shape=(5, 4), extra=()):
    rng = np.random.default_rng(seed)
    n, c = shape
    logits = rng.normal(size=(n, c) + extra) * 2
    target = rng.integers(0, c, size=(n,) + extra)
    return rng, logits, target


# ---------------------------------------------------------------------- cross_entropy / nll


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS),
       smoothing=st.sampled_from([0.0, 0.1, 0.35]), weighted=st.booleans(),
       ignore=st.booleans(), spatial=st.booleans())
def test_cross_entropy_class_targets(seed, reduction, smoothing, weighted, ignore, spatial):
    rng, logits, target = _case(seed, extra=(3,) if spatial else ())
    weight = rng.uniform(0.5, 2.0, size=4) if weighted else None
    if ignore:
        target.reshape(-1)[::3] = 2   # ignore class 2 at some positions
    kwargs = dict(weight=None if weight is None else Tensor(weight),
                  ignore_index=2 if ignore else -100, reduction=reduction,
                  label_smoothing=smoothing)
    out = F.cross_entropy(Tensor(logits), Tensor(target), **kwargs)
    expected = ref.cross_entropy(logits, target, weight, 2 if ignore else -100, reduction,
                                 smoothing)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert tc.gradcheck(lambda x: F.cross_entropy(x, Tensor(target), **kwargs), (logits,))


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS),
       smoothing=st.sampled_from([0.0, 0.2]), weighted=st.booleans())
def test_cross_entropy_probability_targets(seed, reduction, smoothing, weighted):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(4, 3, 2))
    probs = rng.dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1).copy()   # (4, 3, 2)
    weight = rng.uniform(0.5, 2.0, size=3) if weighted else None
    kwargs = dict(weight=None if weight is None else Tensor(weight), reduction=reduction,
                  label_smoothing=smoothing)
    out = F.cross_entropy(Tensor(logits), Tensor(probs), **kwargs)
    np.testing.assert_allclose(out.numpy(), ref.cross_entropy(logits, probs, weight,
                                                              reduction=reduction,
                                                              label_smoothing=smoothing),
                               rtol=1e-12, atol=1e-12)
    # differentiable in the logits and in the target probabilities
    assert tc.gradcheck(lambda x, p: F.cross_entropy(x, p, **kwargs), (logits, probs))


def test_cross_entropy_twice_differentiable():
    rng, logits, target = _case(1)
    weight = Tensor(rng.uniform(0.5, 2, size=4))
    assert tc.gradgradcheck(
        lambda x: F.cross_entropy(x, Tensor(target), weight=weight, label_smoothing=0.1),
        (logits,))


@pytest.mark.parametrize("extra", [(), (3,), (2, 2)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_cross_entropy_twice_differentiable(extra, reduction):
    """Class indices without smoothing take the fused node, (N, C) and (N, C, d1, ...) logits
    alike; its backward's own backward (Tensor ops) against numeric second derivatives."""
    rng, logits, target = _case(2, (3, 4), extra)
    target.reshape(-1)[0] = 1   # ignored below
    weight = Tensor(rng.uniform(0.5, 2, size=4))
    assert tc.gradgradcheck(
        lambda x: F.cross_entropy(x, Tensor(target), weight=weight, ignore_index=1,
                                  reduction=reduction), (logits,))


def test_cross_entropy_huge_logits_stay_finite():
    logits = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]]), requires_grad=True)
    target = Tensor(np.array([1, 1]))
    loss = F.cross_entropy(logits, target)
    loss.backward()
    # sample 0 picks a class 2e4 below the max: loss 2e4; sample 1 is right: loss ~0
    np.testing.assert_allclose(loss.item(), (2e4 + 0.0) / 2, rtol=1e-12)
    assert np.isfinite(logits.grad.numpy()).all()
    np.testing.assert_allclose(logits.grad.numpy()[0], [0.5, -0.5, 0.0], atol=1e-12)


def test_cross_entropy_unbatched_and_float32():
    logits = np.random.default_rng(0).normal(size=5).astype(np.float32)
    out = F.cross_entropy(Tensor(logits), Tensor(np.array(3)))
    assert out.dtype == np.float32 and out.shape == ()
    np.testing.assert_allclose(out.item(), ref.cross_entropy(logits[None].astype(np.float64),
                                                             np.array([3])), rtol=1e-5)


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_nll_loss(seed, reduction, weighted):
    rng, logits, target = _case(seed, extra=(2,))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target.reshape(-1)[0] = -100
    weight = rng.uniform(0.5, 2.0, size=4) if weighted else None
    w = None if weight is None else Tensor(weight)
    out = F.nll_loss(Tensor(logp), Tensor(target), weight=w, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref.nll_loss(logp, target, weight,
                                                         reduction=reduction), rtol=1e-12)
    assert tc.gradcheck(lambda x: F.nll_loss(x, Tensor(target), weight=w, reduction=reduction),
                        (logp,))


def test_class_target_errors():
    logits = Tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=r"class 4, out of range for 4 classes \(valid 0..3"):
        F.cross_entropy(logits, Tensor(np.array([0, 4, 1])))
    with pytest.raises(IndexError, match="class -1"):
        F.nll_loss(logits, Tensor(np.array([0, -1, 1])))
    with pytest.raises(TypeError, match="must be integers, got float32"):
        F.nll_loss(logits, Tensor(np.array([0.0, 1.0, 2.0], dtype=np.float32)))
    with pytest.raises(ValueError, match=r"probabilities and must have the input's shape "
                                         r"\(3, 4\), got \(3,\)"):
        F.cross_entropy(logits, Tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match=r"target shape \(2,\) does not fit input shape \(3, 4\)"):
        F.cross_entropy(logits, Tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match="weight has shape"):
        F.cross_entropy(logits, Tensor(np.array([0, 1, 2])), weight=Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(logits, Tensor(np.array([0, 1, 2])), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(logits, Tensor(np.array([0, 1, 2])), label_smoothing=1.5)


# ---------------------------------------------------------------------- regression losses


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS),
       beta=st.sampled_from([0.0, 0.5, 1.0, 2.0]))
def test_regression_losses(seed, reduction, beta):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4))
    y = x + rng.choice([-1, 1], size=x.shape) * rng.uniform(0.05, 3.0, size=x.shape)
    if beta > 0:  # keep |x - y| off the kink at beta
        close = np.abs(np.abs(x - y) - beta) < 0.02
        y[close] += 0.05 * np.sign(y - x)[close]
    cases = [
        (F.mse_loss, ref.mse_loss, {}),
        (F.l1_loss, ref.l1_loss, {}),
        (F.smooth_l1_loss, ref.smooth_l1_loss, {"beta": beta}),
    ]
    for fn, reference, kw in cases:
        out = fn(Tensor(x), Tensor(y), reduction=reduction, **kw)
        np.testing.assert_allclose(out.numpy(), reference(x, y, reduction, **kw), rtol=1e-12)
        assert tc.gradcheck(lambda a, b, fn=fn, kw=kw: fn(a, b, reduction=reduction, **kw),
                            (x, y))


def test_regression_losses_twice_differentiable():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    assert tc.gradgradcheck(lambda a, b: F.mse_loss(a, b), (x, y))
    assert tc.gradgradcheck(lambda a, b: F.smooth_l1_loss(a, b, beta=10.0), (x, y))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"target shape \(4, 1\) does not match input shape "
                                         r"\(4,\)"):
        F.mse_loss(Tensor(np.zeros(4)), Tensor(np.zeros((4, 1))))
    with pytest.raises(ValueError, match="beta must be non-negative"):
        F.smooth_l1_loss(Tensor(np.zeros(4)), Tensor(np.zeros(4)), beta=-1)


# ---------------------------------------------------------------------- binary losses


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_binary_cross_entropy(seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, size=(3, 4))
    t = rng.uniform(0, 1, size=(3, 4))
    weight = rng.uniform(0.5, 2, size=(4,)) if weighted else None
    w = None if weight is None else Tensor(weight)
    out = F.binary_cross_entropy(Tensor(p), Tensor(t), weight=w, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref.binary_cross_entropy(p, t, weight, reduction),
                               rtol=1e-12)
    assert tc.gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
                        (p, t))


def test_binary_cross_entropy_edges_and_errors():
    p = Tensor(np.array([0.0, 1.0, 0.5]))
    t = Tensor(np.array([1.0, 0.0, 1.0]))
    out = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(out.numpy(), [100.0, 100.0, np.log(2)], rtol=1e-12)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*\[-0.5, 1.0\]"):
        F.binary_cross_entropy(Tensor(np.array([-0.5, 1.0])), Tensor(np.array([1.0, 0.0])))


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS),
       weighted=st.booleans(), pos=st.booleans())
def test_bce_with_logits(seed, reduction, weighted, pos):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4)) * 3
    t = rng.uniform(0, 1, size=(3, 4))
    weight = rng.uniform(0.5, 2, size=(3, 1)) if weighted else None
    pos_weight = rng.uniform(0.5, 3, size=(4,)) if pos else None
    kw = dict(weight=None if weight is None else Tensor(weight), reduction=reduction,
              pos_weight=None if pos_weight is None else Tensor(pos_weight))
    out = F.binary_cross_entropy_with_logits(Tensor(x), Tensor(t), **kw)
    np.testing.assert_allclose(
        out.numpy(), ref.binary_cross_entropy_with_logits(x, t, weight, reduction, pos_weight),
        rtol=1e-12, atol=1e-13)
    assert tc.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kw), (x, t))


def test_bce_with_logits_stable_and_smooth_at_zero():
    x = Tensor(np.array([800.0, -800.0, 0.0]), requires_grad=True)
    t = Tensor(np.array([0.0, 1.0, 1.0]))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.item(), 1600.0 + np.log(2), rtol=1e-12)
    # d/dx = sigmoid(x) - t: exact at x = 0 (a zero-initialised output layer)
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0, -0.5], atol=1e-12)
    assert tc.gradgradcheck(
        lambda a: F.binary_cross_entropy_with_logits(a, Tensor(np.array([0.3, 0.9]))),
        (np.array([0.7, -1.2]),))


# ---------------------------------------------------------------------- modules


def test_loss_modules_match_functions():
    rng, logits, target = _case(5)
    x, y = Tensor(logits), Tensor(target)
    w = rng.uniform(0.5, 2, size=4)
    m = nn.CrossEntropyLoss(weight=Tensor(w), label_smoothing=0.1, reduction="sum")
    assert m(x, y).item() == F.cross_entropy(x, y, weight=Tensor(w), label_smoothing=0.1,
                                             reduction="sum").item()
    assert list(m.state_dict()) == ["weight"]
    logp = F.log_softmax(x, 1)
    assert nn.NLLLoss()(logp, y).item() == F.nll_loss(logp, y).item()
    z = Tensor(rng.normal(size=(5, 4)))
    assert nn.MSELoss()(x, z).item() == F.mse_loss(x, z).item()
    assert nn.L1Loss(reduction="sum")(x, z).item() == F.l1_loss(x, z, reduction="sum").item()
    assert nn.SmoothL1Loss(beta=0.5)(x, z).item() == F.smooth_l1_loss(x, z, beta=0.5).item()
    p, t = F.sigmoid(x), Tensor(rng.uniform(size=(5, 4)))
    assert nn.BCELoss()(p, t).item() == F.binary_cross_entropy(p, t).item()
    pw = Tensor(rng.uniform(1, 2, size=4))
    assert (nn.BCEWithLogitsLoss(pos_weight=pw)(x, t).item()
            == F.binary_cross_entropy_with_logits(x, t, pos_weight=pw).item())
    assert "reduction='sum'" in repr(nn.L1Loss(reduction="sum"))
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="avg")


@pytest.mark.skipif(_torch() is None, reason="PyTorch is not importable")
def test_against_pytorch():
    torch = _torch()
    rng, logits, target = _case(7, extra=(2,))
    target.reshape(-1)[1] = 1
    w = rng.uniform(0.5, 2, size=4)
    for smoothing in (0.0, 0.2):
        ours = F.cross_entropy(Tensor(logits), Tensor(target), weight=Tensor(w), ignore_index=1,
                               label_smoothing=smoothing).item()
        theirs = torch.nn.functional.cross_entropy(
            torch.tensor(logits), torch.tensor(target), weight=torch.tensor(w), ignore_index=1,
            label_smoothing=smoothing).item()
        assert abs(ours - theirs) < 1e-12
    x, t = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4))
    pw = rng.uniform(1, 2, size=4)
    ours = F.binary_cross_entropy_with_logits(Tensor(x), Tensor(t), pos_weight=Tensor(pw)).item()
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(t), pos_weight=torch.tensor(pw)).item()
    assert abs(ours - theirs) < 1e-12
    probs = rng.dirichlet(np.ones(4), size=5)
    logits2 = rng.normal(size=(5, 4))
    for reduction in REDUCTIONS:
        ours = F.cross_entropy(Tensor(logits2), Tensor(probs), weight=Tensor(w),
                               label_smoothing=0.15, reduction=reduction).numpy()
        theirs = torch.nn.functional.cross_entropy(
            torch.tensor(logits2), torch.tensor(probs), weight=torch.tensor(w),
            label_smoothing=0.15, reduction=reduction).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
        ours = F.nll_loss(Tensor(logits2), Tensor(target[:, 0]), weight=Tensor(w),
                          reduction=reduction).numpy()
        theirs = torch.nn.functional.nll_loss(torch.tensor(logits2), torch.tensor(target[:, 0]),
                                              weight=torch.tensor(w), reduction=reduction)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-14)
    p = rng.uniform(0.01, 0.99, size=(3, 4))
    ours = F.binary_cross_entropy(Tensor(p), Tensor(t), weight=Tensor(pw)).item()
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                      weight=torch.tensor(pw)).item()
    assert abs(ours - theirs) < 1e-12
    ours = F.smooth_l1_loss(Tensor(x), Tensor(t), beta=0.3).item()
    theirs = torch.nn.functional.smooth_l1_loss(torch.tensor(x), torch.tensor(t), beta=0.3).item()
    assert abs(ours - theirs) < 1e-12


def test_losses_on_device(device):
    rng, logits, target = _case(2)
    x = Tensor(logits, device=device, requires_grad=True)
    loss = F.cross_entropy(x, Tensor(target, device=device), label_smoothing=0.1)
    loss.backward()
    assert x.grad.device == tc.backend.normalize_device(device)
    np.testing.assert_allclose(loss.item(), ref.cross_entropy(logits, target,
                                                              label_smoothing=0.1), rtol=1e-12)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_class_weights_on_another_device_are_named(device, loss):
    """A CPU weight with GPU logits (or the reverse) is named, on every path (the fused kernels
    too), not a CuPy type error."""
    other = "cpu" if tc.backend.normalize_device(device) == "gpu" else "gpu"
    if other == "gpu" and not tc.gpu_available():
        pytest.skip(f"no GPU: {tc.backend.gpu_unavailable_reason()}")
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3)), device=device)
    t = Tensor(np.array([0, 1, 2, 1]), device=device)
    w = Tensor(np.ones(3), device=other)
    with pytest.raises(tc.backend.DeviceMismatchError,
                       match=f"{loss}: weight is on {other} but the input is on"):
        getattr(F, loss)(x, t, w)
