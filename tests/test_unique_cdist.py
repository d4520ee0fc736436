"""unique and cdist: forward against naive NumPy references on every device, cdist's gradients
(float64 gradcheck and gradgradcheck, 0 at a zero distance as PyTorch's), every error message,
and PyTorch as the optional oracle."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.testing import strategies as tst

# the device fixture does not change between Hypothesis' examples, as intended
per_device = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
PS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf]


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is the optional oracle (bench extra)")


# ---------------------------------------------------------------------- unique


def ref_unique(x):
    """(values, inverse, counts) by a loop: each distinct number once, ascending, then every NaN
    as its own element in input order (PyTorch's rule)."""
    flat = list(np.asarray(x).reshape(-1))
    numbers = sorted({v for v in flat if v == v})
    values = numbers + [v for v in flat if v != v]
    inverse, nan_seen = [], 0
    for v in flat:
        if v == v:
            inverse.append(numbers.index(v))
        else:
            inverse.append(len(numbers) + nan_seen)
            nan_seen += 1
    counts = [sum(1 for v in flat if v == u) if u == u else 1 for u in values]
    return (np.array(values, dtype=np.asarray(x).dtype),
            np.array(inverse, dtype=np.int64).reshape(np.shape(x)),
            np.array(counts, dtype=np.int64))


def _check_unique(x, device, return_inverse, return_counts):
    values, inverse, counts = ref_unique(x)
    out = tc.unique(tc.tensor(x, device=device), return_inverse=return_inverse,
                    return_counts=return_counts)
    if not (return_inverse or return_counts):
        out = (out,)
    assert isinstance(out[0], tc.Tensor) and len(out) == 1 + return_inverse + return_counts
    np.testing.assert_array_equal(out[0].numpy(), values)
    assert out[0].dtype == values.dtype and out[0].device == tc.backend.normalize_device(device)
    rest = list(out[1:])
    if return_inverse:
        got = rest.pop(0)
        assert got.dtype == np.int64 and got.shape == np.shape(x)
        np.testing.assert_array_equal(got.numpy(), inverse)
    if return_counts:
        got = rest.pop(0)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), counts)


@per_device
@given(x=tst.float_arrays(tst.array_shapes(min_dims=1, max_dims=3, max_side=4)),
       flags=st.sampled_from(list(itertools.product([False, True], repeat=2))),
       nans=st.integers(0, 3), data=st.data())
def test_unique_matches_loop_reference(device, x, flags, nans, data):
    x = np.round(x)                                    # a coarse grid: repeats occur
    for _ in range(nans):
        x.reshape(-1)[data.draw(st.integers(0, x.size - 1))] = np.nan
    _check_unique(x, device, *flags)
    _check_unique(x.astype(np.int32) if not nans else x.astype(np.float32), device, *flags)


@pytest.mark.parametrize("x", [np.array(3.5), np.zeros((0, 3)), np.zeros(0, dtype=np.int64),
                               np.array([True, False, True]),
                               np.array([[2, 1], [1, 5]], dtype=np.int16),
                               np.array([1.0, -0.0, 0.0, np.inf, -np.inf, np.inf])])
def test_unique_edges(device, x):
    for flags in itertools.product([False, True], repeat=2):
        _check_unique(x, device, *flags)


def test_unique_has_no_gradient_and_is_a_method(device):
    x = tc.tensor([[2.0, 1.0], [2.0, 7.0]], device=device, requires_grad=True)
    values, inverse, counts = x.unique(return_inverse=True, return_counts=True)
    assert not any(t.requires_grad for t in (values, inverse, counts))
    np.testing.assert_array_equal(values.numpy(), [1.0, 2.0, 7.0])
    np.testing.assert_array_equal(inverse.numpy(), [[1, 0], [1, 2]])
    np.testing.assert_array_equal(counts.numpy(), [1, 2, 1])
    values, inverse = x.unique(sorted=False, return_inverse=True)   # sorted anyway
    np.testing.assert_array_equal(values.numpy()[inverse.numpy()], x.detach().numpy())
    np.testing.assert_array_equal(tc.unique(x).numpy(), x.unique().numpy())


def test_unique_errors():
    x = tc.tensor([[1, 1], [2, 3]])
    with pytest.raises(NotImplementedError, match=r"unique: the dim argument is not supported "
                                                  r"\(got dim=0\)"):
        tc.unique(x, dim=0)
    with pytest.raises(NotImplementedError, match="dim=1"):
        x.unique(return_counts=True, dim=1)
    with pytest.raises(TypeError, match="unique: expected a Tensor, got list"):
        tc.unique([1, 2])


def test_unique_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(0)
    cases = [rng.integers(-3, 4, size=(4, 5)), np.round(rng.normal(size=(3, 2, 4))),
             np.array([3.0, np.nan, 1.0, np.nan, 3.0]), np.zeros((0, 2)), np.array(7)]
    for x, flags in itertools.product(cases, itertools.product([False, True], repeat=2)):
        ours = tc.unique(tc.tensor(x), return_inverse=flags[0], return_counts=flags[1])
        theirs = torch.unique(torch.tensor(x), return_inverse=flags[0], return_counts=flags[1])
        if not any(flags):
            ours, theirs = (ours,), (theirs,)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == tuple(b.shape)
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------------- cdist


def ref_cdist(x1, x2, p):
    """A loop over the broadcast batch and every (i, j) pair: sum(|d|^p)^(1/p), max |d| for inf,
    the number of non-zero d for 0."""
    batch = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    a = np.broadcast_to(x1, batch + x1.shape[-2:])
    b = np.broadcast_to(x2, batch + x2.shape[-2:])
    out = np.zeros(batch + (x1.shape[-2], x2.shape[-2]))
    for k in np.ndindex(*batch):
        for i in range(a.shape[-2]):
            for j in range(b.shape[-2]):
                d = np.abs(a[k + (i,)] - b[k + (j,)])
                if p == 0:
                    out[k + (i, j)] = np.count_nonzero(d)
                elif p == math.inf:
                    out[k + (i, j)] = d.max(initial=0.0)
                else:
                    out[k + (i, j)] = (d ** p).sum() ** (1 / p)
    return out


@st.composite
def cdist_shapes(draw, max_m=4):
    """(*B, P, M) and (*B', R, M) with broadcastable batch dims B, B' (0 to 2 dims each)."""
    b1, b2 = draw(tst.broadcastable_shapes(min_dims=0, max_dims=2, max_side=3))
    m = draw(st.integers(1, max_m))
    return b1 + (draw(st.integers(1, 4)), m), b2 + (draw(st.integers(1, 4)), m)


@per_device
@given(shapes=cdist_shapes(), p=st.sampled_from(PS), seed=st.integers(0, 2**31))
def test_cdist_matches_loop_reference(device, shapes, p, seed):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    out = tc.cdist(tc.tensor(x1, device=device), tc.tensor(x2, device=device), p)
    assert out.device == tc.backend.normalize_device(device) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref_cdist(x1, x2, p), rtol=1e-10, atol=1e-12)
    single = tc.cdist(tc.tensor(x1, dtype=tc.float32, device=device),
                      tc.tensor(x2, dtype=tc.float32, device=device), p)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.numpy(), ref_cdist(x1, x2, p), rtol=1e-5, atol=1e-5)


@given(shapes=cdist_shapes(max_m=3), p=st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, math.inf]),
       seed=st.integers(0, 2**31))
def test_cdist_gradcheck(shapes, p, seed):
    rng = np.random.default_rng(seed)
    # normal values: no two coordinates tie and none of the differences is 0 (kinks of |d|)
    x1, x2 = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    assert tc.gradcheck(lambda a, b: tc.cdist(a, b, p), (x1, x2))


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0, 0.5])
def test_cdist_gradgradcheck(device, p):
    rng = np.random.default_rng(1)
    x1 = tc.tensor(rng.normal(size=(2, 3, 4)), device=device, requires_grad=True)
    x2 = tc.tensor(rng.normal(size=(1, 2, 4)), device=device, requires_grad=True)
    assert tc.gradcheck(lambda a, b: tc.cdist(a, b, p), (x1, x2))
    assert tc.gradgradcheck(lambda a, b: tc.cdist(a, b, p), (x1, x2))


def _grads(x1, x2, p, upstream, device="cpu"):
    a = tc.tensor(x1, device=device, requires_grad=True)
    b = tc.tensor(x2, device=device, requires_grad=True)
    (tc.cdist(a, b, p) * tc.tensor(upstream, device=device)).sum().backward()
    return a.grad.numpy(), b.grad.numpy()


# rows 0 of x1 and x2 are equal (a zero distance), and x1[1] shares a coordinate with x2[1]
ZERO_X1 = np.array([[1.0, 2.0, 3.0], [0.0, 2.0, 5.0]])
ZERO_X2 = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 3.0]])
ZERO_UP = np.array([[0.3, -1.2], [0.7, 2.0]])


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0, math.inf])
def test_cdist_gradient_is_zero_at_a_zero_distance(device, p):
    g1, g2 = _grads(ZERO_X1, ZERO_X2, p, ZERO_UP, device)
    assert np.isfinite(g1).all() and np.isfinite(g2).all()
    # x1[0] = x2[0]: that pair contributes nothing; x1[0] against x2[1] differs in one coordinate
    # only (dim 1), so only that coordinate of x1[0] has a gradient, -1.2 * sign(2 - (-1))
    np.testing.assert_allclose(g1[0], [0.0, -1.2, 0.0], atol=1e-12)


def test_cdist_gradients_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(5)
    cases = [((2, 1, 3, 4), (5, 6, 4)), ((3, 2), (4, 2)), ((4, 3), (2, 1, 3))]
    for (s1, s2), p in itertools.product(cases, PS):
        x1, x2 = rng.normal(size=s1), rng.normal(size=s2)
        batch = np.broadcast_shapes(s1[:-2], s2[:-2])
        up = rng.normal(size=batch + (s1[-2], s2[-2]))
        t1 = torch.tensor(x1, requires_grad=True)
        t2 = torch.tensor(x2, requires_grad=True)
        out = torch.cdist(t1, t2, p, compute_mode="donot_use_mm_for_euclid_dist")
        (out * torch.tensor(up)).sum().backward()
        np.testing.assert_allclose(tc.cdist(tc.tensor(x1), tc.tensor(x2), p).numpy(),
                                   out.detach().numpy(), rtol=1e-12, atol=1e-12)
        if p == 0:      # PyTorch's gradient is 0; ours: no graph at all (the count is constant)
            assert not tc.cdist(tc.tensor(x1, requires_grad=True), tc.tensor(x2), p).requires_grad
            continue
        g1, g2 = _grads(x1, x2, p, up)
        np.testing.assert_allclose(g1, t1.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g2, t2.grad.numpy(), rtol=1e-10, atol=1e-12)
    # zero distances and shared coordinates: the same subgradients as PyTorch
    for p in [0.5, 1.0, 2.0, 3.0, math.inf]:
        t1 = torch.tensor(ZERO_X1, requires_grad=True)
        t2 = torch.tensor(ZERO_X2, requires_grad=True)
        (torch.cdist(t1, t2, p) * torch.tensor(ZERO_UP)).sum().backward()
        g1, g2 = _grads(ZERO_X1, ZERO_X2, p, ZERO_UP)
        np.testing.assert_allclose(g1, t1.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(g2, t2.grad.numpy(), atol=1e-12)


def test_cdist_inf_norm_shares_the_gradient_among_ties():
    # |d| = (2, 2): PyTorch gives each tied coordinate the whole gradient (sign(d) each), we
    # split it equally, as vector_norm's inf-norm does (documented in docs/ops.md)
    g1, _ = _grads(np.array([[2.0, -2.0]]), np.zeros((1, 2)), math.inf, np.ones((1, 1)))
    np.testing.assert_allclose(g1, [[0.5, -0.5]])


def test_cdist_empty_rows_and_columns(device):
    for p in PS:
        out = tc.cdist(tc.zeros(2, 3, 0, device=device), tc.zeros(4, 0, device=device), p)
        assert out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3, 4)))
    assert tc.cdist(tc.zeros(0, 3, device=device), tc.zeros(4, 3, device=device)).shape == (0, 4)
    x1 = tc.tensor(np.ones((3, 0)), requires_grad=True)
    tc.cdist(x1, tc.zeros(2, 0, dtype=tc.float64)).sum().backward()
    assert x1.grad.shape == (3, 0)


def test_cdist_errors():
    a, b = tc.zeros(3, 4), tc.zeros(2, 4)
    with pytest.raises(ValueError, match=r"cdist: p must be non-negative, got -1"):
        tc.cdist(a, b, p=-1)
    with pytest.raises(ValueError, match=r"cdist: p must be non-negative, got nan"):
        tc.cdist(a, b, p=math.nan)
    with pytest.raises(TypeError, match=r"cdist: p must be a number, got 'fro'"):
        tc.cdist(a, b, p="fro")
    with pytest.raises(ValueError, match=r"cdist: x1 \(3, 4\) and x2 \(2, 5\) differ in their "
                                         r"last dim \(M: 4 and 5\)"):
        tc.cdist(a, tc.zeros(2, 5))
    with pytest.raises(ValueError, match=r"cdist: needs tensors of at least 2 dims \(\*B, P, M\) "
                                         r"and \(\*B, R, M\), got x1 \(4,\) and x2 \(2, 4\)"):
        tc.cdist(tc.zeros(4), b)
    with pytest.raises(ValueError, match=r"got x1 \(3, 4\) and x2 \(4,\)"):
        tc.cdist(a, tc.zeros(4))
    with pytest.raises(ValueError, match=r"cdist: the batch dims of x1 \(2, 3, 4\) and x2 "
                                         r"\(3, 2, 4\) cannot be broadcast together"):
        tc.cdist(tc.zeros(2, 3, 4), tc.zeros(3, 2, 4))
    with pytest.raises(TypeError, match=r"cdist: needs two floating tensors of one dtype, got "
                                        r"int64 and int64"):
        tc.cdist(tc.tensor([[1, 2]]), tc.tensor([[1, 3]]))
    with pytest.raises(TypeError, match=r"got float32 and float64"):
        tc.cdist(a, tc.zeros(2, 4, dtype=tc.float64))
    with pytest.raises(ValueError, match=r"cdist: 'fast' is not a valid compute_mode"):
        tc.cdist(a, b, compute_mode="fast")
    with pytest.raises(TypeError, match=r"cdist: x2 must be a Tensor, got ndarray"):
        tc.cdist(a, np.zeros((2, 4)))
    # PyTorch's three compute modes are accepted (and all compute the differences directly)
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        assert tc.cdist(a, b, compute_mode=mode).shape == (3, 2)
