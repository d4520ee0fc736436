"""margin_ranking_loss, triplet_margin_loss, cosine_embedding_loss, hinge_embedding_loss,
soft_margin_loss, multilabel_soft_margin_loss, gaussian_nll_loss, poisson_nll_loss: forward
against naive NumPy references and PyTorch, float64 gradchecks and gradgradchecks away from the
kinks, devices, modules, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Tensor

REDUCTIONS = ["mean", "sum", "none"]
seeds = st.integers(0, 2**31)
reductions = st.sampled_from(REDUCTIONS)


def _reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](loss)


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


def _off_zero(z, gap=0.05):
    """Push values within ``gap`` of 0 out to +-gap (keeps a hinge off its kink)."""
    return np.where(np.abs(z) < gap, np.where(z < 0, -gap, gap), z)


# ---------------------------------------------------------------------- naive references


def ref_margin_ranking(x1, x2, y, margin, reduction):
    x1, x2, y = np.broadcast_arrays(x1, x2, y)
    out = np.empty(x1.shape)
    for i in np.ndindex(out.shape):
        out[i] = max(0.0, -y[i] * (x1[i] - x2[i]) + margin)
    return _reduce(out, reduction)


def _dist(u, v, p, eps):
    return sum(abs(a - b + eps) ** p for a, b in zip(u, v, strict=True)) ** (1 / p)


def ref_triplet(a, pos, neg, margin, p, eps, swap, reduction):
    a2, pos2, neg2 = (np.atleast_2d(t) for t in (a, pos, neg))
    out = np.empty(a2.shape[0])
    for i in range(a2.shape[0]):
        d_ap, d_an = _dist(a2[i], pos2[i], p, eps), _dist(a2[i], neg2[i], p, eps)
        if swap:
            d_an = min(d_an, _dist(pos2[i], neg2[i], p, eps))
        out[i] = max(0.0, margin + d_ap - d_an)
    return _reduce(out if a.ndim == 2 else out[0], reduction)


def ref_cosine_embedding(x1, x2, y, margin, reduction):
    a, b, t = np.atleast_2d(x1), np.atleast_2d(x2), np.atleast_1d(y)
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        cos = (a[i] * b[i]).sum() / math.sqrt(((a[i] ** 2).sum() + 1e-12)
                                              * ((b[i] ** 2).sum() + 1e-12))
        out[i] = 1 - cos if t[i] == 1 else max(0.0, cos - margin) if t[i] == -1 else 0.0
    return _reduce(out if x1.ndim == 2 else out[0], reduction)


def ref_hinge_embedding(x, y, margin, reduction):
    out = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        out[i] = x[i] if y[i] == 1 else max(0.0, margin - x[i])
    return _reduce(out, reduction)


def ref_soft_margin(x, y, reduction):
    out = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        z = -y[i] * x[i]
        out[i] = z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))
    return _reduce(out, reduction)


def ref_multilabel(x, t, w, reduction):
    x2, t2 = np.atleast_2d(x), np.atleast_2d(t)
    w = np.ones(x2.shape[-1]) if w is None else np.broadcast_to(w, x2.shape)
    w2 = np.broadcast_to(w, x2.shape)
    out = np.zeros(x2.shape[0])
    for n in range(x2.shape[0]):
        for c in range(x2.shape[1]):
            s = 1 / (1 + math.exp(-x2[n, c]))
            out[n] -= w2[n, c] * (t2[n, c] * math.log(s) + (1 - t2[n, c]) * math.log(1 - s))
        out[n] /= x2.shape[1]
    return _reduce(out if x.ndim == 2 else out[0], reduction)


def ref_gaussian(x, t, var, full, eps, reduction):
    var = np.asarray(var, dtype=float)
    if var.shape == x.shape[:-1] and var.shape != x.shape:
        var = var[..., None]
    x, t, var = np.broadcast_arrays(x, t, var)
    out = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        v = max(var[i], eps)
        out[i] = 0.5 * (math.log(v) + (x[i] - t[i]) ** 2 / v)
        if full:
            out[i] += 0.5 * math.log(2 * math.pi)
    return _reduce(out, reduction)


def ref_poisson(x, t, log_input, full, eps, reduction):
    out = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        out[i] = (math.exp(x[i]) - t[i] * x[i] if log_input
                  else x[i] - t[i] * math.log(x[i] + eps))
        if full and t[i] > 1:
            out[i] += t[i] * math.log(t[i]) - t[i] + 0.5 * math.log(2 * math.pi * t[i])
    return _reduce(out, reduction)


# ---------------------------------------------------------------------- Hypothesis: forward + grad

batch_shapes = st.sampled_from([(), (1,), (3,), (5,)])


@given(seed=seeds, reduction=reductions, shape=batch_shapes,
       margin=st.sampled_from([0.0, 0.5, -0.3]))
def test_margin_ranking_loss(seed, reduction, shape, margin):
    rng = np.random.default_rng(seed)
    x1, y = rng.normal(size=shape), _signs(rng, shape)
    x2 = x1 + (_off_zero(rng.normal(size=shape)) + margin) * y   # -y (x1 - x2) + margin != 0
    out = F.margin_ranking_loss(Tensor(x1), Tensor(x2), Tensor(y), margin, reduction)
    np.testing.assert_allclose(out.numpy(), ref_margin_ranking(x1, x2, y, margin, reduction),
                               rtol=1e-12, atol=1e-15)
    assert out.shape == (shape if reduction == "none" else ())
    assert tc.gradcheck(lambda a, b: F.margin_ranking_loss(a, b, Tensor(y), margin, reduction),
                        (x1, x2))


@given(seed=seeds, reduction=reductions, n=st.sampled_from([None, 1, 4]), d=st.integers(1, 5),
       p=st.sampled_from([1.0, 2.0, 3.0]), margin=st.sampled_from([0.5, 1.0, 2.0]),
       swap=st.booleans())
def test_triplet_margin_loss(seed, reduction, n, d, p, margin, swap):
    rng = np.random.default_rng(seed)
    shape = (d,) if n is None else (n, d)
    a, pos, neg = (rng.normal(size=shape) for _ in range(3))
    out = F.triplet_margin_loss(Tensor(a), Tensor(pos), Tensor(neg), margin, p, 1e-6, swap,
                                reduction)
    np.testing.assert_allclose(out.numpy(),
                               ref_triplet(a, pos, neg, margin, p, 1e-6, swap, reduction),
                               rtol=1e-10, atol=1e-14)
    assert out.shape == (shape[:-1] if reduction == "none" else ())
    # the gradient away from the hinge's kink and the swap's tie
    a2, pos2, neg2 = (np.atleast_2d(t) for t in (a, pos, neg))
    d_ap = np.array([_dist(u, v, p, 1e-6) for u, v in zip(a2, pos2, strict=True)])
    d_an = np.array([_dist(u, v, p, 1e-6) for u, v in zip(a2, neg2, strict=True)])
    d_pn = np.array([_dist(u, v, p, 1e-6) for u, v in zip(pos2, neg2, strict=True)])
    if (np.abs(margin + d_ap - np.minimum(d_an, d_pn) if swap else margin + d_ap - d_an).min()
            > 1e-3 and (not swap or np.abs(d_an - d_pn).min() > 1e-3)
            and np.abs(a2 - pos2).min() > 1e-3 and np.abs(a2 - neg2).min() > 1e-3
            and np.abs(pos2 - neg2).min() > 1e-3):
        assert tc.gradcheck(lambda x, y, z: F.triplet_margin_loss(x, y, z, margin, p, 1e-6,
                                                                  swap, reduction),
                            (a, pos, neg))


@given(seed=seeds, reduction=reductions, n=st.sampled_from([None, 1, 4]), d=st.integers(1, 5),
       margin=st.sampled_from([0.0, 0.3, -0.4]))
def test_cosine_embedding_loss(seed, reduction, n, d, margin):
    rng = np.random.default_rng(seed)
    shape = (d,) if n is None else (n, d)
    x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
    y = _signs(rng, shape[:-1])
    out = F.cosine_embedding_loss(Tensor(x1), Tensor(x2), Tensor(y), margin, reduction)
    np.testing.assert_allclose(out.numpy(), ref_cosine_embedding(x1, x2, y, margin, reduction),
                               rtol=1e-10, atol=1e-14)
    assert out.shape == (shape[:-1] if reduction == "none" else ())
    cos = np.sum(x1 * x2, -1) / np.sqrt(np.sum(x1 * x1, -1) * np.sum(x2 * x2, -1))
    if d > 1 and np.abs(cos - margin).min() > 1e-3:     # off the kink; d = 1: cos is +-1
        assert tc.gradcheck(lambda a, b: F.cosine_embedding_loss(a, b, Tensor(y), margin,
                                                                 reduction), (x1, x2))


@given(seed=seeds, reduction=reductions,
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       margin=st.sampled_from([1.0, 0.5, 2.0]))
def test_hinge_embedding_loss(seed, reduction, shape, margin):
    rng = np.random.default_rng(seed)
    x = margin - _off_zero(rng.normal(size=shape) * 2)          # margin - x off 0
    y = _signs(rng, shape)
    out = F.hinge_embedding_loss(Tensor(x), Tensor(y), margin, reduction)
    np.testing.assert_allclose(out.numpy(), ref_hinge_embedding(x, y, margin, reduction),
                               rtol=1e-12, atol=1e-15)
    assert out.shape == (shape if reduction == "none" else ())
    assert tc.gradcheck(lambda a: F.hinge_embedding_loss(a, Tensor(y), margin, reduction), (x,))


@given(seed=seeds, reduction=reductions,
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       scale=st.sampled_from([0.5, 3.0, 50.0]))
def test_soft_margin_loss(seed, reduction, shape, scale):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=shape) * scale, _signs(rng, shape)
    out = F.soft_margin_loss(Tensor(x), Tensor(y), reduction)
    np.testing.assert_allclose(out.numpy(), ref_soft_margin(x, y, reduction), rtol=1e-12,
                               atol=1e-15)
    assert tc.gradcheck(lambda a, b: F.soft_margin_loss(a, b, reduction), (x, y))


@given(seed=seeds, reduction=reductions, n=st.sampled_from([None, 1, 3]), c=st.integers(1, 5),
       weighted=st.sampled_from([None, "class", "full"]))
def test_multilabel_soft_margin_loss(seed, reduction, n, c, weighted):
    rng = np.random.default_rng(seed)
    shape = (c,) if n is None else (n, c)
    x = rng.normal(size=shape) * 3
    t = (rng.uniform(size=shape) < 0.5).astype(float)
    w = {None: None, "class": rng.uniform(0.5, 2, size=c), "full": rng.uniform(0.5, 2, shape)}
    w = w[weighted]
    out = F.multilabel_soft_margin_loss(Tensor(x), Tensor(t),
                                        None if w is None else Tensor(w), reduction)
    np.testing.assert_allclose(out.numpy(), ref_multilabel(x, t, w, reduction), rtol=1e-12,
                               atol=1e-15)
    assert out.shape == (shape[:-1] if reduction == "none" else ())
    if w is None:
        assert tc.gradcheck(lambda a, b: F.multilabel_soft_margin_loss(a, b, None, reduction),
                            (x, t))
    else:
        assert tc.gradcheck(lambda a, b, ww: F.multilabel_soft_margin_loss(a, b, ww, reduction),
                            (x, t, w))


@given(seed=seeds, reduction=reductions, full=st.booleans(),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       var_form=st.sampled_from(["same", "short", "one", "float"]))
def test_gaussian_nll_loss(seed, reduction, full, shape, var_form):
    rng = np.random.default_rng(seed)
    x, t = rng.normal(size=shape), rng.normal(size=shape)
    if var_form == "same":
        var = rng.uniform(0.1, 3.0, size=shape)
    elif var_form == "short":
        var = rng.uniform(0.1, 3.0, size=shape[:-1])
    elif var_form == "one":                            # one dim of size 1: a shared variance
        k = rng.integers(len(shape))
        var = rng.uniform(0.1, 3.0, size=shape[:k] + (1,) + shape[k + 1:])
    else:
        var = float(rng.uniform(0.1, 3.0))
    v = var if var_form == "float" else Tensor(var)
    out = F.gaussian_nll_loss(Tensor(x), Tensor(t), v, full, 1e-6, reduction)
    np.testing.assert_allclose(out.numpy(), ref_gaussian(x, t, var, full, 1e-6, reduction),
                               rtol=1e-12, atol=1e-15)
    assert out.shape == (shape if reduction == "none" else ())
    if var_form == "float":
        assert tc.gradcheck(lambda a, b: F.gaussian_nll_loss(a, b, var, full, 1e-6, reduction),
                            (x, t))
    else:
        assert tc.gradcheck(lambda a, b, s: F.gaussian_nll_loss(a, b, s, full, 1e-6, reduction),
                            (x, t, var))


@given(seed=seeds, reduction=reductions, full=st.booleans(), log_input=st.booleans(),
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple))
def test_poisson_nll_loss(seed, reduction, full, log_input, shape):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) if log_input else rng.uniform(0.1, 4.0, size=shape)
    t = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 7.0], size=shape)
    out = F.poisson_nll_loss(Tensor(x), Tensor(t), log_input, full, 1e-8, reduction)
    np.testing.assert_allclose(out.numpy(), ref_poisson(x, t, log_input, full, 1e-8, reduction),
                               rtol=1e-12, atol=1e-14)
    assert out.shape == (shape if reduction == "none" else ())
    assert tc.gradcheck(lambda a: F.poisson_nll_loss(a, Tensor(t), log_input, full, 1e-8,
                                                     reduction), (x,))
    # and in the target, off the Stirling term's switch at 1
    tt = np.where(np.abs(t - 1) < 0.1, 1.3, t) + 0.05
    assert tc.gradcheck(lambda a, b: F.poisson_nll_loss(a, b, log_input, full, 1e-8,
                                                        reduction), (x, tt))


# ---------------------------------------------------------------------- second derivatives


def test_twice_differentiable():
    rng = np.random.default_rng(1)
    x1, x2, x3 = rng.normal(size=(3, 4, 5))
    y = np.array([1.0, -1.0, 1.0, -1.0])
    ranked = x1[:, 0] + (np.abs(rng.normal(size=4)) + 0.2) * y     # active hinge everywhere
    assert tc.gradgradcheck(lambda a, b: F.margin_ranking_loss(a, b, Tensor(y), 0.1),
                            (x1[:, 0], ranked))
    for p, swap in ((2.0, False), (3.0, True), (1.5, False)):
        assert tc.gradgradcheck(lambda a, b, c, p=p, swap=swap: F.triplet_margin_loss(
            a, b, c, margin=5.0, p=p, swap=swap, reduction="sum"), (x1, x2, x3))
    cy = np.array([1.0, -1.0, -1.0, 1.0])
    assert tc.gradgradcheck(lambda a, b: F.cosine_embedding_loss(a, b, Tensor(cy), -1.5),
                            (x1, x2))
    assert tc.gradgradcheck(lambda a: F.hinge_embedding_loss(a, Tensor(np.sign(x2)), 9.0), (x1,))
    assert tc.gradgradcheck(lambda a, b: F.soft_margin_loss(a, b, "none"), (x1, np.sign(x2)))
    assert tc.gradgradcheck(lambda a, b, w: F.multilabel_soft_margin_loss(a, b, w),
                            (x1, (x2 > 0) * 1.0, np.abs(x3[0]) + 0.5))
    assert tc.gradgradcheck(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=True),
                            (x1, x2, x3 ** 2 + 0.1))
    assert tc.gradgradcheck(lambda a, b, v: F.gaussian_nll_loss(a, b, v, reduction="sum"),
                            (x1, x2, x3[:, 0] ** 2 + 0.1))
    t = rng.choice([0.0, 2.0, 3.5], size=(4, 5))
    assert tc.gradgradcheck(lambda a, b: F.poisson_nll_loss(a, b, full=True), (x1, t))
    assert tc.gradgradcheck(lambda a: F.poisson_nll_loss(a, Tensor(t), log_input=False),
                            (np.abs(x1) + 0.1,))


# ---------------------------------------------------------------------- edge semantics


def test_soft_margin_loss_finite_for_huge_margins():
    x = Tensor(np.array([1000.0, -1000.0, 800.0]), requires_grad=True)
    y = Tensor(np.array([-1.0, -1.0, 1.0]))
    out = F.soft_margin_loss(x, y, reduction="none")
    np.testing.assert_allclose(out.numpy(), [1000.0, 0.0, 0.0], atol=1e-300)
    F.soft_margin_loss(x, y, reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 0.0], atol=1e-300)
    big = F.soft_margin_loss(Tensor(np.full(3, 100.0, dtype=np.float32)),
                             Tensor(-np.ones(3, dtype=np.float32)))
    assert big.dtype == np.float32 and big.item() == pytest.approx(100.0)


def test_gaussian_nll_loss_clamp_passes_gradient_and_zero_variance():
    # var below eps: the value uses eps, the gradient is d loss / d var at eps (not 0)
    x, t = Tensor(np.array([0.5, 1.0])), Tensor(np.array([0.0, 0.0]))
    var = Tensor(np.array([0.0, 1e-9]), requires_grad=True)
    out = F.gaussian_nll_loss(x, t, var, eps=1e-3, reduction="sum")
    d = np.array([0.25, 1.0])
    np.testing.assert_allclose(out.item(), np.sum(0.5 * (np.log(1e-3) + d / 1e-3)), rtol=1e-12)
    out.backward()
    np.testing.assert_allclose(var.grad.numpy(), 0.5 * (1 / 1e-3 - d / 1e-6), rtol=1e-12)


def test_poisson_stirling_only_above_one():
    x = np.zeros(4)
    t = np.array([0.0, 1.0, 1.0 + 1e-9, 2.0])
    out = F.poisson_nll_loss(Tensor(x), Tensor(t), full=True, reduction="none").numpy()
    plain = F.poisson_nll_loss(Tensor(x), Tensor(t), full=False, reduction="none").numpy()
    np.testing.assert_array_equal(out[:2], plain[:2])
    assert out[3] - plain[3] == pytest.approx(2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi))
    tt = Tensor(t, requires_grad=True)
    F.poisson_nll_loss(Tensor(x), tt, full=True, reduction="sum").backward()
    assert np.isfinite(tt.grad.numpy()).all()        # no NaN from log 0 where target = 0


def test_cosine_embedding_and_hinge_other_targets():
    x1 = Tensor(np.array([[1.0, 0.0], [0.0, 0.0]]))
    x2 = Tensor(np.array([[1.0, 1.0], [1.0, 0.0]]))
    # a target other than +-1 contributes 0; a zero vector gives cos = 0, not NaN
    out = F.cosine_embedding_loss(x1, x2, Tensor(np.array([0.0, 1.0])), reduction="none")
    np.testing.assert_allclose(out.numpy(), [0.0, 1.0])
    # hinge: other targets add both terms, as PyTorch's
    h = F.hinge_embedding_loss(Tensor(np.array([0.25])), Tensor(np.array([0.0])), 1.0, "sum")
    assert h.item() == pytest.approx(0.75 + 0.25)


# ---------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_against_pytorch(reduction):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")
    tf = torch.nn.functional
    rng = np.random.default_rng(7)
    x1, x2, x3 = rng.normal(size=(3, 4, 5))
    y = np.array([1.0, -1.0, 1.0, -1.0])
    counts = rng.choice([0.0, 1.0, 2.0, 5.0, 0.5], size=(4, 5))
    small = x3 ** 2
    small[0, :2] = [1e-9, 0.0]             # clamped at eps: PyTorch's gradient passes through
    cases = [  # (ours, theirs, arrays that get gradients)
        (lambda a, b: F.margin_ranking_loss(a, b, Tensor(y), 0.2, reduction),
         lambda a, b: tf.margin_ranking_loss(a, b, torch.tensor(y), 0.2, reduction=reduction),
         (x1[:, 0], x2[:, 0])),
        (lambda a, b, c: F.triplet_margin_loss(a, b, c, 1.5, 2.0, 1e-6, False, reduction),
         lambda a, b, c: tf.triplet_margin_loss(a, b, c, 1.5, 2.0, 1e-6, False,
                                                reduction=reduction), (x1, x2, x3)),
        (lambda a, b, c: F.triplet_margin_loss(a, b, c, 2.0, 1.0, 0.1, True, reduction),
         lambda a, b, c: tf.triplet_margin_loss(a, b, c, 2.0, 1.0, 0.1, True,
                                                reduction=reduction), (x1, x2, x3)),
        (lambda a, b, c: F.triplet_margin_loss(a, b, c, 1.0, 3.0, 1e-6, True, reduction),
         lambda a, b, c: tf.triplet_margin_loss(a, b, c, 1.0, 3.0, 1e-6, True,
                                                reduction=reduction), (x1[0], x2[0], x3[0])),
        (lambda a, b: F.cosine_embedding_loss(a, b, Tensor(y), 0.1, reduction),
         lambda a, b: tf.cosine_embedding_loss(a, b, torch.tensor(y), 0.1, reduction=reduction),
         (x1, x2)),
        (lambda a, b: F.cosine_embedding_loss(a, b, Tensor(np.array(-1.0)), -0.5, reduction),
         lambda a, b: tf.cosine_embedding_loss(a, b, torch.tensor(-1.0), -0.5,
                                               reduction=reduction), (x1[0], x2[0])),
        (lambda a: F.hinge_embedding_loss(a, Tensor(np.sign(x2)), 0.7, reduction),
         lambda a: tf.hinge_embedding_loss(a, torch.tensor(np.sign(x2)), 0.7,
                                           reduction=reduction), (x1,)),
        (lambda a: F.soft_margin_loss(a, Tensor(np.sign(x2)), reduction),
         lambda a: tf.soft_margin_loss(a, torch.tensor(np.sign(x2)), reduction=reduction),
         (x1 * 5,)),
        (lambda a, w: F.multilabel_soft_margin_loss(a, Tensor((x2 > 0) * 1.0), w, reduction),
         lambda a, w: tf.multilabel_soft_margin_loss(a, torch.tensor((x2 > 0) * 1.0), w,
                                                     reduction=reduction), (x1, x3[0] ** 2)),
        (lambda a: F.multilabel_soft_margin_loss(a[0], Tensor((x2[0] > 0) * 1.0),
                                                 reduction=reduction),
         lambda a: tf.multilabel_soft_margin_loss(a[0], torch.tensor((x2[0] > 0) * 1.0),
                                                  reduction=reduction), (x1,)),
        (lambda a, b, v: F.gaussian_nll_loss(a, b, v, True, 1e-6, reduction),
         lambda a, b, v: tf.gaussian_nll_loss(a, b, v, True, 1e-6, reduction=reduction),
         (x1, x2, small)),
        (lambda a, b, v: F.gaussian_nll_loss(a, b, v, False, 1e-2, reduction),
         lambda a, b, v: tf.gaussian_nll_loss(a, b, v, False, 1e-2, reduction=reduction),
         (x1, x2, small[:, 0])),
        (lambda a, b, v: F.gaussian_nll_loss(a, b, v, False, 1e-6, reduction),
         lambda a, b, v: tf.gaussian_nll_loss(a, b, v, False, 1e-6, reduction=reduction),
         (x1, x2, small[:1])),
        (lambda a, b: F.gaussian_nll_loss(a, b, 0.3, False, 1e-6, reduction),
         lambda a, b: tf.gaussian_nll_loss(a, b, 0.3, False, 1e-6, reduction=reduction),
         (x1, x2)),
        (lambda a: F.poisson_nll_loss(a, Tensor(counts), True, True, 1e-8, reduction),
         lambda a: tf.poisson_nll_loss(a, torch.tensor(counts), True, True, eps=1e-8,
                                       reduction=reduction), (x1,)),
        (lambda a: F.poisson_nll_loss(a, Tensor(counts), False, False, 1e-3, reduction),
         lambda a: tf.poisson_nll_loss(a, torch.tensor(counts), False, False, eps=1e-3,
                                       reduction=reduction), (np.abs(x1),)),
    ]
    for ours_fn, theirs_fn, arrays in cases:
        ours_in = [Tensor(a, requires_grad=True) for a in arrays]
        theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
        ours, theirs = ours_fn(*ours_in), theirs_fn(*theirs_in)
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)
        g = rng.normal(size=ours.shape)
        (ours * Tensor(g)).sum().backward()
        (theirs * torch.tensor(g)).sum().backward()
        for o, t in zip(ours_in, theirs_in, strict=True):
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- modules


def test_modules_match_functions_and_repr():
    rng = np.random.default_rng(6)
    x1, x2, x3 = (Tensor(a) for a in rng.normal(size=(3, 4, 5)))
    y = Tensor(np.array([1.0, -1.0, 1.0, -1.0]))
    signs = Tensor(np.sign(rng.normal(size=(4, 5))))
    labels = Tensor((rng.uniform(size=(4, 5)) < 0.5) * 1.0)
    var = Tensor(rng.uniform(0.5, 2.0, size=(4, 5)))
    counts = Tensor(rng.choice([0.0, 2.0, 3.0], size=(4, 5)))
    w = rng.uniform(0.5, 2.0, size=5)
    pairs = [
        (nn.MarginRankingLoss(0.5, "sum")(x1[:, 0], x2[:, 0], y),
         F.margin_ranking_loss(x1[:, 0], x2[:, 0], y, 0.5, "sum")),
        (nn.TripletMarginLoss(margin=2.0, p=1.0, swap=True)(x1, x2, x3),
         F.triplet_margin_loss(x1, x2, x3, margin=2.0, p=1.0, swap=True)),
        (nn.CosineEmbeddingLoss(0.2, reduction="none")(x1, x2, y),
         F.cosine_embedding_loss(x1, x2, y, 0.2, reduction="none")),
        (nn.HingeEmbeddingLoss(0.3)(x1, signs), F.hinge_embedding_loss(x1, signs, 0.3)),
        (nn.SoftMarginLoss("sum")(x1, signs), F.soft_margin_loss(x1, signs, "sum")),
        (nn.MultiLabelSoftMarginLoss(w)(x1, labels),
         F.multilabel_soft_margin_loss(x1, labels, Tensor(w))),
        (nn.GaussianNLLLoss(full=True, eps=0.1)(x1, x2, var),
         F.gaussian_nll_loss(x1, x2, var, full=True, eps=0.1)),
        (nn.PoissonNLLLoss(full=True)(x1, counts), F.poisson_nll_loss(x1, counts, full=True)),
    ]
    for module_out, function_out in pairs:
        np.testing.assert_array_equal(module_out.numpy(), function_out.numpy())
    assert repr(nn.MarginRankingLoss()) == "MarginRankingLoss(margin=0.0)"
    assert repr(nn.TripletMarginLoss()) == (
        "TripletMarginLoss(margin=1.0, p=2.0, eps=1e-06, swap=False)")
    assert repr(nn.CosineEmbeddingLoss(0.5, "sum")) == (
        "CosineEmbeddingLoss(margin=0.5, reduction='sum')")
    assert repr(nn.HingeEmbeddingLoss()) == "HingeEmbeddingLoss(margin=1.0)"
    assert repr(nn.SoftMarginLoss(reduction="none")) == "SoftMarginLoss(reduction='none')"
    assert repr(nn.MultiLabelSoftMarginLoss()) == "MultiLabelSoftMarginLoss()"
    assert repr(nn.GaussianNLLLoss()) == "GaussianNLLLoss(full=False, eps=1e-06)"
    assert repr(nn.PoissonNLLLoss(log_input=False)) == (
        "PoissonNLLLoss(log_input=False, full=False, eps=1e-08)")
    assert list(nn.MultiLabelSoftMarginLoss(w).state_dict()) == ["weight"]
    assert list(nn.TripletMarginLoss().state_dict()) == []
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)                  # keyword-only, as PyTorch's


# ---------------------------------------------------------------------- devices


def test_on_device(device):
    rng = np.random.default_rng(8)
    x1, x2, x3 = rng.normal(size=(3, 4, 5))
    y = np.array([1.0, -1.0, 1.0, -1.0])
    signs = np.sign(rng.normal(size=(4, 5)))
    counts = rng.choice([0.0, 2.0, 3.0], size=(4, 5))
    results = {}
    for dev in ("cpu", device):
        a = Tensor(x1, device=dev, requires_grad=True)
        b, c = Tensor(x2, device=dev), Tensor(x3, device=dev)
        v = Tensor(x3 ** 2, device=dev, requires_grad=True)
        outs = [F.margin_ranking_loss(a[:, 0], b[:, 0], Tensor(y, device=dev), 0.1),
                F.triplet_margin_loss(a, b, c, swap=True),
                F.cosine_embedding_loss(a, b, Tensor(y, device=dev), 0.1),
                F.hinge_embedding_loss(a, Tensor(signs, device=dev)),
                F.soft_margin_loss(a, Tensor(signs, device=dev)),
                F.multilabel_soft_margin_loss(a, Tensor((x2 > 0) * 1.0, device=dev),
                                              Tensor(np.arange(1.0, 6.0), device=dev)),
                F.gaussian_nll_loss(a, b, v, full=True),
                F.poisson_nll_loss(a, Tensor(counts, device=dev), full=True)]
        total = outs[0]
        for o in outs[1:]:
            total = total + o
        total.backward()
        assert a.grad.device == tc.backend.normalize_device(dev)
        results[dev] = ([o.item() for o in outs], a.grad.numpy(), v.grad.numpy())
    for ours, cpu in zip(results[device], results["cpu"], strict=True):
        np.testing.assert_allclose(ours, cpu, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- bad input


def test_errors():
    x, z = Tensor(np.zeros((3, 4))), Tensor(np.zeros(3))
    for fn in (lambda r: F.margin_ranking_loss(z, z, z, reduction=r),
               lambda r: F.triplet_margin_loss(x, x, x, reduction=r),
               lambda r: F.cosine_embedding_loss(x, x, z, reduction=r),
               lambda r: F.hinge_embedding_loss(x, x, reduction=r),
               lambda r: F.soft_margin_loss(x, x, reduction=r),
               lambda r: F.multilabel_soft_margin_loss(x, x, reduction=r),
               lambda r: F.gaussian_nll_loss(x, x, x, reduction=r),
               lambda r: F.poisson_nll_loss(x, x, reduction=r)):
        with pytest.raises(ValueError, match=r"_loss: reduction must be 'mean', 'sum' or "
                                             r"'none', got 'avg'"):
            fn("avg")
    with pytest.raises(ValueError, match=r"margin_ranking_loss: input1 \(3, 4\), input2 \(3,\) "
                                         r"and target \(3,\) must have the same number of dims"):
        F.margin_ranking_loss(x, z, z)
    with pytest.raises(ValueError, match=r"margin_ranking_loss: shapes \(3,\) and \(4,\) and "
                                         r"\(3,\) cannot be broadcast together"):
        F.margin_ranking_loss(z, Tensor(np.zeros(4)), z)
    with pytest.raises(ValueError, match=r"triplet_margin_loss: margin must be greater than 0, "
                                         r"got 0.0"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match=r"TripletMarginLoss: margin must be greater than 0, "
                                         r"got -1"):
        nn.TripletMarginLoss(margin=-1)
    with pytest.raises(ValueError, match=r"triplet_margin_loss: anchor \(3, 4\), positive "
                                         r"\(4,\) and negative \(3, 4\) must have the same"):
        F.triplet_margin_loss(x, Tensor(np.zeros(4)), x)
    with pytest.raises(ValueError, match=r"pairwise_distance: shapes \(3, 4\) and \(3, 5\) "
                                         r"cannot be broadcast"):
        F.triplet_margin_loss(x, Tensor(np.zeros((3, 5))), x)
    with pytest.raises(ValueError, match=r"cosine_embedding_loss: expected input1 and input2 of "
                                         r"one shape .* got input1 \(3, 4\), input2 \(4,\) and "
                                         r"target \(3,\)"):
        F.cosine_embedding_loss(x, Tensor(np.zeros(4)), z)
    with pytest.raises(ValueError, match=r"got input1 \(3, 4\), input2 \(3, 4\) and target "
                                         r"\(4,\)"):
        F.cosine_embedding_loss(x, x, Tensor(np.zeros(4)))
    with pytest.raises(ValueError, match=r"hinge_embedding_loss: shapes \(3, 4\) and \(3,\) "
                                         r"cannot be broadcast together"):
        F.hinge_embedding_loss(x, z)
    with pytest.raises(ValueError, match=r"soft_margin_loss: target shape \(3,\) does not match "
                                         r"input shape \(3, 4\)"):
        F.soft_margin_loss(x, z)
    with pytest.raises(ValueError, match=r"multilabel_soft_margin_loss: target shape \(3,\) "
                                         r"does not match input shape \(3, 4\)"):
        F.multilabel_soft_margin_loss(x, z)
    with pytest.raises(ValueError, match=r"multilabel_soft_margin_loss: input must have a class "
                                         r"dim"):
        F.multilabel_soft_margin_loss(Tensor(np.array(1.0)), Tensor(np.array(1.0)))
    with pytest.raises(ValueError, match=r"multilabel_soft_margin_loss: shapes \(3, 4\) and "
                                         r"\(3,\) cannot be broadcast together"):
        F.multilabel_soft_margin_loss(x, x, z)
    with pytest.raises(ValueError, match=r"multilabel_soft_margin_loss: weight \(2, 3, 4\) does "
                                         r"not broadcast to the input's shape \(3, 4\)"):
        F.multilabel_soft_margin_loss(x, x, Tensor(np.ones((2, 3, 4))))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var has negative entries "
                                         r"\(smallest -0.5\)"):
        F.gaussian_nll_loss(z, z, Tensor(np.array([1.0, -0.5, 0.0])))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var must be non-negative, got -1"):
        F.gaussian_nll_loss(z, z, -1.0)
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var shape \(2, 4\) does not fit "
                                         r"input shape \(3, 4\)"):
        F.gaussian_nll_loss(x, x, Tensor(np.ones((2, 4))))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var shape \(1, 1\) does not fit"):
        F.gaussian_nll_loss(x, x, Tensor(np.ones((1, 1))))    # two mismatched dims
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: shapes \(3, 4\) and \(4,\) and "
                                         r"\(3, 4\) cannot be broadcast|gaussian_nll_loss: shapes"):
        F.gaussian_nll_loss(x, Tensor(np.zeros(5)), x)
    with pytest.raises(TypeError, match=r"gaussian_nll_loss: var must be a Tensor or a float, "
                                        r"got str"):
        F.gaussian_nll_loss(x, x, "1")
    with pytest.raises(ValueError, match=r"poisson_nll_loss: target shape \(3,\) does not match "
                                         r"input shape \(3, 4\)"):
        F.poisson_nll_loss(x, z)
    with pytest.raises(ValueError, match=r"MarginRankingLoss: reduction must be 'mean', 'sum' or "
                                         r"'none', got 'avg'"):
        nn.MarginRankingLoss(reduction="avg")
