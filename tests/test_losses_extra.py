"""huber_loss, kl_div, cosine_similarity, pairwise_distance, local_response_norm: forward against
naive NumPy references and PyTorch, float64 gradchecks and gradgradchecks, devices, bad input."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import nn
from tinygrad_cnn.tensor import Tensor

REDUCTIONS = ["mean", "sum", "none"]


def _reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](loss)


# ---------------------------------------------------------------------- naive references


def ref_huber(x, y, reduction="mean", delta=1.0):
    out = np.empty_like(x)
    for i, (a, b) in enumerate(zip(x.reshape(-1), y.reshape(-1), strict=True)):
        d = abs(a - b)
        out.reshape(-1)[i] = 0.5 * d * d if d < delta else delta * (d - 0.5 * delta)
    return _reduce(out, reduction)


def ref_kl_div(x, t, reduction="mean", log_target=False):
    x, t = np.broadcast_arrays(x, t)
    out = np.empty(x.shape)
    for i, (a, b) in enumerate(zip(x.reshape(-1), t.reshape(-1), strict=True)):
        if log_target:
            out.reshape(-1)[i] = math.exp(b) * (b - a)
        else:
            out.reshape(-1)[i] = 0.0 - b * a if b == 0 else b * (math.log(b) - a)
    if reduction == "batchmean":
        return out.sum() / x.shape[0]
    return _reduce(out, reduction)


def ref_cosine_similarity(x1, x2, dim=1, eps=1e-8):
    x1, x2 = np.broadcast_arrays(x1, x2)
    a, b = np.moveaxis(x1, dim, -1), np.moveaxis(x2, dim, -1)
    out = np.empty(a.shape[:-1])
    for idx in np.ndindex(out.shape):
        u, v = a[idx], b[idx]
        nu, nv = max(math.sqrt((u * u).sum()), eps), max(math.sqrt((v * v).sum()), eps)
        out[idx] = sum(ui / nu * vi / nv for ui, vi in zip(u, v, strict=True))
    return out


def ref_pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    x1, x2 = np.broadcast_arrays(x1, x2)
    d = np.atleast_1d(x1 - x2 + eps)
    out = np.empty(d.shape[:-1])
    for idx in np.ndindex(out.shape):
        row = np.abs(d[idx])
        if p == 0:
            out[idx] = (row != 0).sum()
        elif p == math.inf:
            out[idx] = row.max()
        else:
            out[idx] = (row ** p).sum() ** (1 / p)
    if keepdim and x1.ndim:
        out = out[..., None]
    return out.reshape(()) if x1.ndim == 0 else out


def ref_local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    out = np.empty_like(x)
    c = x.shape[1]
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / (k + alpha / size * s) ** beta
    return out


# ---------------------------------------------------------------------- huber_loss


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS),
       delta=st.sampled_from([0.3, 1.0, 2.5]),
       shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple))
def test_huber_loss(seed, reduction, delta, shape):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 2
    y = x + rng.choice([-1, 1], size=shape) * rng.uniform(0.05, 4.0, size=shape)
    close = np.abs(np.abs(x - y) - delta) < 0.02   # keep |x - y| off the kink at delta
    y = np.where(close, y + 0.05 * np.sign(y - x), y)
    out = F.huber_loss(Tensor(x), Tensor(y), reduction=reduction, delta=delta)
    np.testing.assert_allclose(out.numpy(), ref_huber(x, y, reduction, delta), rtol=1e-12)
    assert out.shape == (shape if reduction == "none" else ())
    assert tc.gradcheck(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
                        (x, y))


def test_huber_loss_is_delta_times_smooth_l1_and_twice_differentiable():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) * 2
    np.testing.assert_allclose(F.huber_loss(Tensor(x), Tensor(y), delta=0.7).item(),
                               0.7 * F.smooth_l1_loss(Tensor(x), Tensor(y), beta=0.7).item(),
                               rtol=1e-12)
    assert tc.gradgradcheck(lambda a, b: F.huber_loss(a, b, delta=10.0), (x, y))
    assert tc.gradgradcheck(lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.1), (x, y))


def test_huber_loss_errors():
    x = Tensor(np.zeros(4))
    with pytest.raises(ValueError, match=r"huber_loss: delta must be positive, got 0"):
        F.huber_loss(x, x, delta=0)
    with pytest.raises(ValueError, match=r"huber_loss: delta must be positive, got -1.0"):
        F.huber_loss(x, x, delta=-1.0)
    with pytest.raises(ValueError, match=r"huber_loss: target shape \(4, 1\) does not match "
                                         r"input shape \(4,\)"):
        F.huber_loss(x, Tensor(np.zeros((4, 1))))
    with pytest.raises(ValueError, match=r"huber_loss: reduction must be 'mean', 'sum' or "
                                         r"'none', got 'batchmean'"):
        F.huber_loss(x, x, reduction="batchmean")
    with pytest.raises(ValueError, match=r"HuberLoss: delta must be positive, got 0.0"):
        nn.HuberLoss(delta=0.0)


# ---------------------------------------------------------------------- kl_div


def _kl_case(rng, shape, log_target):
    x = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
    t = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    t.reshape(-1)[::3] = 0.0                    # 0 log 0 = 0
    return x, (np.log(t + 0.1) if log_target else t)


@given(seed=st.integers(0, 2**31), reduction=st.sampled_from(REDUCTIONS + ["batchmean"]),
       log_target=st.booleans(),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
def test_kl_div(seed, reduction, log_target, shape):
    rng = np.random.default_rng(seed)
    x, t = _kl_case(rng, shape, log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # 'mean' warns, as in PyTorch
        out = F.kl_div(Tensor(x), Tensor(t), reduction=reduction, log_target=log_target)
        np.testing.assert_allclose(out.numpy(), ref_kl_div(x, t, reduction, log_target),
                                   rtol=1e-12, atol=1e-15)
        # differentiable in the input and the target (t log t's gradient is 0 where t = 0)
        safe_t = np.where(t == 0, 0.5, t)
        assert tc.gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction,
                                                  log_target=log_target), (x, safe_t))
        assert tc.gradcheck(lambda a: F.kl_div(a, Tensor(t), reduction=reduction,
                                               log_target=log_target), (x,))


def test_kl_div_zero_target_and_broadcasting():
    x = Tensor(np.array([[-1.0, -2.0, -0.5]]), requires_grad=True)
    t = Tensor(np.array([0.0, 0.25, 0.75]), requires_grad=True)     # broadcast against (1, 3)
    out = F.kl_div(x, t, reduction="none")
    assert out.shape == (1, 3)
    assert out.numpy()[0, 0] == 0.0
    F.kl_div(x, t, reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-0.0, -0.25, -0.75]])
    # d/dt (t log t - t x) = log t + 1 - x, and -x at t = 0 (0 log 0 is constant; PyTorch: NaN)
    np.testing.assert_allclose(t.grad.numpy(), [1.0, np.log(0.25) + 3.0, np.log(0.75) + 1.5])
    np.testing.assert_allclose(F.kl_div(x, t, reduction="batchmean").item(),
                               out.numpy().sum() / 1, rtol=1e-12)


def test_kl_div_twice_differentiable_and_mean_warns():
    rng = np.random.default_rng(2)
    x, t = _kl_case(rng, (3, 4), False)
    t = np.where(t == 0, 0.2, t)
    assert tc.gradgradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), (x, t))
    assert tc.gradgradcheck(lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True),
                            (x, np.log(t)))
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(Tensor(x), Tensor(t))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(Tensor(x), Tensor(t), reduction="batchmean")


def test_kl_div_errors():
    x = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"kl_div: reduction must be 'mean', 'batchmean', 'sum' "
                                         r"or 'none', got 'avg'"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"kl_div: shapes \(3, 4\) and \(3, 5\) cannot be "
                                         r"broadcast together"):
        F.kl_div(x, Tensor(np.zeros((3, 5))), reduction="sum")
    with pytest.raises(ValueError, match=r"KLDivLoss: reduction must be 'mean', 'batchmean', "
                                         r"'sum' or 'none', got 'avg'"):
        nn.KLDivLoss(reduction="avg")


# ---------------------------------------------------------------------- cosine / pairwise


@st.composite
def _pair_shapes(draw, min_dims=1):
    """Two broadcastable shapes (one may drop leading dims or hold 1s)."""
    shape = draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=3))
    other = list(shape[draw(st.integers(0, len(shape) - 1)):]) if draw(st.booleans()) else shape
    other = [1 if draw(st.integers(0, 4)) == 0 else n for n in other]
    if draw(st.booleans()):
        return tuple(shape), tuple(other)
    return tuple(other), tuple(shape)


@given(seed=st.integers(0, 2**31), shapes=_pair_shapes(), data=st.data())
def test_cosine_similarity(seed, shapes, data):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    ndim = max(len(shapes[0]), len(shapes[1]))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    out = F.cosine_similarity(Tensor(x1), Tensor(x2), dim=dim)
    np.testing.assert_allclose(out.numpy(), ref_cosine_similarity(x1, x2, dim), rtol=1e-10,
                               atol=1e-12)
    assert tc.gradcheck(lambda a, b: F.cosine_similarity(a, b, dim=dim), (x1, x2))


def test_cosine_similarity_zero_vector_and_twice_differentiable():
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    assert tc.gradgradcheck(lambda a, b: F.cosine_similarity(a, b), (x1, x2))
    x1[1] = 0.0
    x2[2] = 0.0
    out = F.cosine_similarity(Tensor(x1), Tensor(x2))
    np.testing.assert_allclose(out.numpy(), ref_cosine_similarity(x1, x2), rtol=1e-12)
    assert out.numpy()[1] == 0.0 and out.numpy()[2] == 0.0
    # integer inputs give float32, as PyTorch's
    ints = F.cosine_similarity(Tensor(np.array([1, 2, 3])), Tensor(np.array([1, 2, 4])), dim=0)
    assert ints.dtype == np.float32
    np.testing.assert_allclose(ints.item(), 17 / math.sqrt(14 * 21), rtol=1e-6)


@given(seed=st.integers(0, 2**31), shapes=_pair_shapes(),
       p=st.sampled_from([1.0, 2.0, 3.0, 0.5, math.inf]), keepdim=st.booleans())
def test_pairwise_distance(seed, shapes, p, keepdim):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    out = F.pairwise_distance(Tensor(x1), Tensor(x2), p=p, keepdim=keepdim)
    np.testing.assert_allclose(out.numpy(), ref_pairwise_distance(x1, x2, p, 1e-6, keepdim),
                               rtol=1e-10)
    if p != math.inf:   # the max's ties aside
        assert tc.gradcheck(lambda a, b: F.pairwise_distance(a, b, p=p, keepdim=keepdim),
                            (x1, x2))


def test_pairwise_distance_edges():
    rng = np.random.default_rng(4)
    x1, x2 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    assert tc.gradgradcheck(lambda a, b: F.pairwise_distance(a, b), (x1, x2))
    assert tc.gradgradcheck(lambda a, b: F.pairwise_distance(a, b, p=3.0), (x1, x2))
    # p = 0 counts the non-zero differences; eps keeps equal vectors at eps * sqrt(D)
    np.testing.assert_allclose(F.pairwise_distance(Tensor(x1), Tensor(x2), p=0).numpy(), 4.0)
    same = F.pairwise_distance(Tensor(x1[0]), Tensor(x1[0]))
    assert same.shape == ()
    np.testing.assert_allclose(same.item(), 2e-6, rtol=1e-9)
    assert F.pairwise_distance(Tensor(np.array(1.0)), Tensor(np.array(2.5))).shape == ()
    np.testing.assert_allclose(
        F.pairwise_distance(Tensor(np.array(1.0)), Tensor(np.array(2.5))).item(), 1.5 - 1e-6)


def test_cosine_and_pairwise_errors():
    a, b = Tensor(np.zeros((3, 4))), Tensor(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"cosine_similarity: shapes \(3, 4\) and \(3, 5\) "
                                         r"cannot be broadcast together"):
        F.cosine_similarity(a, b)
    with pytest.raises(ValueError, match=r"pairwise_distance: shapes \(3, 4\) and \(3, 5\) "
                                         r"cannot be broadcast together"):
        F.pairwise_distance(a, b)
    with pytest.raises(IndexError, match=r"cosine_similarity: dim 1 is out of range for a tensor "
                                         r"with 1 dimensions \(expected -1..0\)"):
        F.cosine_similarity(Tensor(np.ones(3)), Tensor(np.ones(3)))
    with pytest.raises(TypeError, match=r"pairwise_distance: p must be a number, got 'fro'"):
        F.pairwise_distance(a, a, p="fro")


# ---------------------------------------------------------------------- local_response_norm


@given(seed=st.integers(0, 2**31), size=st.integers(1, 6), channels=st.integers(1, 6),
       spatial=st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple),
       alpha=st.sampled_from([1e-4, 0.5]), beta=st.sampled_from([0.75, 1.5]),
       k=st.sampled_from([1.0, 2.0]))
def test_local_response_norm(seed, size, channels, spatial, alpha, beta, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, channels) + spatial) * 2
    out = F.local_response_norm(Tensor(x), size, alpha, beta, k)
    np.testing.assert_allclose(out.numpy(), ref_local_response_norm(x, size, alpha, beta, k),
                               rtol=1e-12)
    m = nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)
    np.testing.assert_array_equal(m(Tensor(x)).numpy(), out.numpy())
    assert tc.gradcheck(lambda a: F.local_response_norm(a, size, alpha, beta, k), (x,))


def test_local_response_norm_twice_differentiable_and_errors():
    x = np.random.default_rng(5).normal(size=(2, 5, 3))
    assert tc.gradgradcheck(lambda a: F.local_response_norm(a, 3, alpha=0.5), (x,))
    with pytest.raises(ValueError, match=r"local_response_norm: expected an input of 3 or more "
                                         r"dims \(N, C, \*\), got shape \(2, 5\)"):
        F.local_response_norm(Tensor(np.ones((2, 5))), 2)
    with pytest.raises(ValueError, match=r"local_response_norm: size must be a positive "
                                         r"integer, got 0"):
        F.local_response_norm(Tensor(x), 0)
    assert repr(nn.LocalResponseNorm(5)) == (
        "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)")


# ---------------------------------------------------------------------- modules, PyTorch, devices


def test_modules_match_functions():
    rng = np.random.default_rng(6)
    x, y = Tensor(rng.normal(size=(4, 3))), Tensor(rng.normal(size=(4, 3)))
    assert (nn.HuberLoss(reduction="sum", delta=0.5)(x, y).item()
            == F.huber_loss(x, y, reduction="sum", delta=0.5).item())
    logp, t = F.log_softmax(x, 1), F.softmax(y, 1)
    assert (nn.KLDivLoss(reduction="batchmean")(logp, t).item()
            == F.kl_div(logp, t, reduction="batchmean").item())
    assert (nn.KLDivLoss(reduction="sum", log_target=True)(logp, F.log_softmax(y, 1)).item()
            == F.kl_div(logp, F.log_softmax(y, 1), reduction="sum", log_target=True).item())
    np.testing.assert_array_equal(nn.CosineSimilarity(dim=0)(x, y).numpy(),
                                  F.cosine_similarity(x, y, dim=0).numpy())
    m = nn.PairwiseDistance(p=1.0, keepdim=True)
    assert m.norm == 1.0 and m.eps == 1e-6
    np.testing.assert_array_equal(m(x, y).numpy(),
                                  F.pairwise_distance(x, y, p=1.0, keepdim=True).numpy())
    assert "reduction='batchmean'" in repr(nn.KLDivLoss(reduction="batchmean"))
    assert repr(nn.CosineSimilarity()) == "CosineSimilarity(dim=1, eps=1e-08)"
    assert repr(nn.PairwiseDistance()) == "PairwiseDistance(p=2.0, eps=1e-06, keepdim=False)"
    for m in (nn.HuberLoss(), nn.KLDivLoss(), nn.CosineSimilarity(), nn.PairwiseDistance()):
        assert list(m.state_dict()) == []


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_against_pytorch(reduction):
    torch = pytest.importorskip("torch", reason="PyTorch is the optional oracle")
    tf = torch.nn.functional
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) * 2

    def same(ours, theirs):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)

    if reduction != "batchmean":
        for delta in (0.5, 1.0, 2.0):
            same(F.huber_loss(Tensor(x), Tensor(y), reduction, delta),
                 tf.huber_loss(torch.tensor(x), torch.tensor(y), reduction=reduction,
                               delta=delta))
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    t = rng.dirichlet(np.ones(4), size=3)
    t[0, 1] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for target in (t, t[1]):    # (4,) broadcasts against (3, 4) in both
            same(F.kl_div(Tensor(logp), Tensor(target), reduction),
                 tf.kl_div(torch.tensor(logp), torch.tensor(target), reduction=reduction))
        same(F.kl_div(Tensor(logp), Tensor(np.log(t + 0.1)), reduction, log_target=True),
             tf.kl_div(torch.tensor(logp), torch.tensor(np.log(t + 0.1)), reduction=reduction,
                       log_target=True))
    # the gradients too, of a sum weighted by a random upstream gradient
    a = torch.tensor(x, requires_grad=True)
    b = torch.tensor(y[0], requires_grad=True)
    g = rng.normal(size=3)
    cases = [
        (lambda p, q: F.cosine_similarity(p, q), lambda p, q: tf.cosine_similarity(p, q)),
        (lambda p, q: F.cosine_similarity(p, q, dim=-1, eps=0.5),
         lambda p, q: tf.cosine_similarity(p, q, dim=-1, eps=0.5)),
        (lambda p, q: F.pairwise_distance(p, q), lambda p, q: tf.pairwise_distance(p, q)),
        (lambda p, q: F.pairwise_distance(p, q, p=1.0, eps=0.1),
         lambda p, q: tf.pairwise_distance(p, q, p=1.0, eps=0.1)),
        (lambda p, q: F.pairwise_distance(p, q, p=0.5),
         lambda p, q: tf.pairwise_distance(p, q, p=0.5)),
    ]
    for ours_fn, theirs_fn in cases:
        pa, pb = Tensor(x, requires_grad=True), Tensor(y[0], requires_grad=True)
        ours = ours_fn(pa, pb)
        (ours * Tensor(g)).sum().backward()
        a.grad = b.grad = None
        theirs = theirs_fn(a, b)
        (theirs * torch.tensor(g)).sum().backward()
        same(ours, theirs)
        same(pa.grad, a.grad)
        same(pb.grad, b.grad)
    z = rng.normal(size=(2, 7, 3, 2))
    for size in (1, 2, 5, 9):
        same(F.local_response_norm(Tensor(z), size, alpha=0.3, beta=0.6, k=1.5),
             tf.local_response_norm(torch.tensor(z), size, alpha=0.3, beta=0.6, k=1.5))
        same(nn.LocalResponseNorm(size)(Tensor(z[..., 0])),
             torch.nn.LocalResponseNorm(size)(torch.tensor(z[..., 0])))


def test_on_device(device):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    t = rng.dirichlet(np.ones(4), size=3)
    t[0, 0] = 0.0
    z = rng.normal(size=(2, 5, 3))
    results = {}
    for dev in ("cpu", device):
        a = Tensor(x, device=dev, requires_grad=True)
        b = Tensor(y, device=dev)
        outs = [F.huber_loss(a, b, delta=0.5),
                F.kl_div(a, Tensor(t, device=dev), reduction="batchmean"),
                F.cosine_similarity(a, b).sum(), F.pairwise_distance(a, b, p=3.0).sum(),
                F.local_response_norm(a.reshape(3, 2, 2), 2, alpha=0.5).sum(),
                F.local_response_norm(Tensor(z, device=dev), 3).sum()]
        total = outs[0]
        for o in outs[1:]:
            total = total + o
        total.backward()
        assert a.grad.device == tc.backend.normalize_device(dev)
        results[dev] = ([o.item() for o in outs], a.grad.numpy())
    np.testing.assert_allclose(results[device][0], results["cpu"][0], rtol=1e-12)
    np.testing.assert_allclose(results[device][1], results["cpu"][1], rtol=1e-12, atol=1e-15)
