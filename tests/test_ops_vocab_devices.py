"""The scan, sort, norm, indexing and shape ops on every device: values and gradients on the
device equal the CPU's (the GPU run skips, with the reason, where CUDA is unusable)."""

import math

import numpy as np
import pytest

import tinygrad_cnn as tc
import tinygrad_cnn.nn.functional as F

INDEX = np.array([[2, 0, 1, 1], [0, 2, 2, 0]])
ROWS = np.array([2, 0, 2])
MASK = np.array([[True, False, False, True]] * 3)

# name, fn(x, device) -> Tensor (float64 x of shape (3, 4), zeros included)
CASES = [
    ("cumsum", lambda t, d: t.cumsum(1)),
    ("cumprod", lambda t, d: t.cumprod(0)),
    ("prod", lambda t, d: t.prod(1)),
    ("sort", lambda t, d: t.sort(0, descending=True).values),
    ("topk", lambda t, d: t.topk(2).values),
    ("vector_norm", lambda t, d: tc.linalg.vector_norm(t, 3, 1)),
    ("norm_inf", lambda t, d: t.norm(math.inf, 0)),
    ("normalize", lambda t, d: F.normalize(t, dim=1)),
    ("softmin", lambda t, d: F.softmin(t, 1)),
    ("gather", lambda t, d: t.gather(0, tc.tensor(INDEX, device=d))),
    ("scatter_add", lambda t, d: t.scatter_add(0, tc.tensor(INDEX, device=d), t[:2] * 2)),
    ("scatter", lambda t, d: t.scatter(1, tc.tensor(INDEX[:, :1], device=d), 5.0)),
    ("index_add", lambda t, d: t.index_add(0, tc.tensor(ROWS, device=d), t * 3)),
    ("take_along_dim", lambda t, d: t.take_along_dim(tc.tensor(INDEX[:1] - 1, device=d), 0)),
    ("masked_fill", lambda t, d: t.masked_fill(tc.tensor(MASK, device=d), -1.0)),
    ("flip", lambda t, d: t.flip(0, 1)),
    ("roll", lambda t, d: t.roll((1, -1), (0, 1))),
    ("repeat", lambda t, d: t.repeat(2, 1, 2)),
    ("repeat_interleave", lambda t, d: t.repeat_interleave(tc.tensor([1, 0, 2], device=d), 0)),
    ("split", lambda t, d: t.split([1, 3], 1)[1]),
    ("unflatten", lambda t, d: t.unflatten(1, (2, 2))),
    ("tril", lambda t, d: t.tril(-1)),
    ("diagonal", lambda t, d: t.diagonal(1)),
    ("meshgrid", lambda t, d: tc.meshgrid(t[0], t[1], indexing="xy")[0]),
    ("cdist", lambda t, d: tc.cdist(t, t[:2] * 2 + 1, 3.0)),
    ("cdist_p2", lambda t, d: tc.cdist(t.unsqueeze(0), t[1:].flip(1))),
]


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_same_values_and_gradients_on_every_device(device, name, fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x[1, 2] = 0.0
    up = None
    results = []
    for where in ("cpu", device):
        t = tc.Tensor(x.copy(), device=where, requires_grad=True)
        out = fn(t, where)
        assert out.device == tc.backend.normalize_device(where)
        if up is None:
            up = rng.standard_normal(out.shape)
        out.backward(tc.Tensor(up, device=where))
        results.append((out.numpy(), t.grad.numpy()))
    (v0, g0), (v1, g1) = results
    np.testing.assert_allclose(v1, v0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-12)


def test_one_hot_linspace_argsort_on_every_device(device):
    labels = tc.tensor([[0, 3], [2, 1]], device=device)
    assert F.one_hot(labels, 4).device == tc.backend.normalize_device(device)
    assert F.one_hot(labels, 4).tolist() == F.one_hot(labels.cpu(), 4).tolist()
    np.testing.assert_allclose(tc.linspace(0, 1, 5, device=device).numpy(),
                               tc.linspace(0, 1, 5).numpy())
    x = tc.tensor([3.0, 1.0, 3.0, 2.0], device=device)
    assert x.argsort(descending=True).tolist() == [0, 2, 3, 1]


def test_negative_zero_keeps_its_sign_on_every_device(device):
    """-0.0 reaches the device as -0.0 whatever the path: a 0-d tensor, a scalar operand, full,
    init.constant_ (CuPy writes a zero fill by memset, +0.0: an H100 and an H200 gave
    (-0.0) ** -1.0 == +inf for a 0-d tensor), and IEEE's signed results follow from it."""
    def sign(t):
        return np.signbit(t.numpy())

    assert sign(tc.tensor(-0.0, device=device))
    assert sign(tc.tensor(np.array(-0.0), device=device))
    assert sign(tc.tensor(-0.0).to(device))
    assert sign(tc.full((2, 3), -0.0, device=device)).all()
    assert sign(tc.full_like(tc.ones(2, device=device), -0.0)).all()
    assert sign(tc.nn.init.constant_(tc.ones(4, device=device), -0.0)).all()
    assert sign(tc.ones(3, device=device) * -0.0).all()  # a scalar operand
    assert not sign(tc.full((2,), 0.0, device=device)).any()
    x, p = tc.tensor(-0.0, device=device, requires_grad=True), tc.tensor(-1.0, device=device)
    y = x**p
    assert y.item() == -np.inf                                     # IEEE, NumPy and PyTorch
    assert (tc.tensor(-0.0, device=device) ** 3.0).numpy() == 0 and sign(
        tc.tensor(-0.0, device=device) ** 3.0)
